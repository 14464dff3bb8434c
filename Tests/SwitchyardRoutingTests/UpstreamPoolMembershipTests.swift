import Synchronization
import SwitchyardWire
import Testing

@testable import SwitchyardRouting

private let membershipT0 = ManualClock.Instant(offset: .zero)

private func membershipAt(seconds: Double) -> ManualClock.Instant {
    membershipT0.advanced(by: .milliseconds(Int64(seconds * 1000)))
}

/// Members joining, draining and leaving a pool while it serves.
struct UpstreamPoolMembershipTests {
    @Test func anAddedInstanceWaitsForItsFirstPassingCheckThenRisesOverTheSlowStartWindow() throws {
        var machine = PoolMachine(instanceIDs: ["a", "b"], configuration: .defaults { $0.slowStartWindow = .seconds(10) })
        let added = machine.add("c", awaitingHealthCheck: true)
        #expect(added)
        var random = SplitMix64(state: 5)
        for _ in 0..<100 {
            let index = try #require(machine.pick(excluding: [], now: membershipT0, using: &random).index)
            #expect(machine.instances[index].id != "c")  // unchecked: no traffic while others are healthy
            _ = machine.finish(instance: index, outcome: .answered, now: membershipT0)
        }
        _ = machine.reportHealth(instance: "c", healthy: true, now: membershipT0)
        let c = try #require(machine.index(of: "c"))
        let weights = [0, 5, 10].map { machine.weight(of: c, now: membershipAt(seconds: $0)) }
        #expect(weights[0] == 0.1)
        #expect(abs(weights[1] - 0.5) < 1e-9)
        #expect(weights[2] == 1)
        // its share of 3,000 sequential picks rises with its weight: about 0.1/2.1, then a full third
        func share(at now: ManualClock.Instant) -> Double {
            var picked = 0
            for _ in 0..<3000 {
                let index = machine.pick(excluding: [], now: now, using: &random).index!
                if machine.instances[index].id == "c" { picked += 1 }
                _ = machine.finish(instance: index, outcome: .answered, now: now)
            }
            return Double(picked) / 3000
        }
        let early = share(at: membershipAt(seconds: 0.5))
        let late = share(at: membershipAt(seconds: 20))
        #expect(early > 0.02 && early < 0.12, "share at the start of slow start: \(early)")
        #expect(late > 0.28 && late < 0.39, "share after slow start: \(late)")
    }

    @Test func aDrainingInstanceGetsNothingNewAndARemovedOneLeavesWhenIdle() throws {
        var machine = PoolMachine(instanceIDs: ["a", "b"], configuration: UpstreamPoolConfiguration())
        var random = SplitMix64(state: 9)
        // one request in flight on each
        var held: [Int] = []
        while Set(held.map { machine.instances[$0].id }).count < 2 {
            held.append(machine.pick(excluding: [], now: membershipT0, using: &random).index!)
        }
        let draining = machine.drain("b")
        #expect(draining)
        for _ in 0..<50 {
            let index = machine.pick(excluding: [], now: membershipT0, using: &random).index!
            #expect(machine.instances[index].id == "a")
            _ = machine.finish(instance: index, outcome: .answered, now: membershipT0)
        }
        let removedAtOnce = machine.remove("b")
        #expect(removedAtOnce == [])  // still has requests in flight
        #expect(machine.instances.map(\.id) == ["a", "b"])
        for index in held.sorted(by: >) where machine.instances[index].id == "b" {
            let events = machine.finish(instance: index, outcome: .answered, now: membershipT0)
            if machine.instances.allSatisfy({ $0.id != "b" }) {
                #expect(events.contains(PoolMachine.Event.removed(instance: "b")))
            }
        }
        #expect(machine.instances.map(\.id) == ["a"])
        // every instance draining: nothing to pick
        let drainedLast = machine.drain("a")
        #expect(drainedLast)
        let none = machine.pick(excluding: [], now: membershipT0, using: &random).index
        #expect(none == nil)
        // adding a member again stops its draining
        let addedAgain = machine.add("a", awaitingHealthCheck: true)
        #expect(!addedAgain)
        let some = machine.pick(excluding: [], now: membershipT0, using: &random).index
        #expect(some != nil)
        let unknown = machine.remove("zzz")
        #expect(unknown == nil)
    }

    @Test func thePoolClosesARemovedInstanceOnlyAfterItsLastRequest() async throws {
        let gate = Gate()
        let slow = FakeUpstream { request in
            await gate.pass()
            return Response(tensors: request.tensors)
        }
        let removed = Mutex<[String]>([])
        let pool = UpstreamPool(
            members: [.init(id: "slow", upstream: slow)], clock: ManualClock(),
            onRemoved: { member in removed.withLock { $0.append(member.id) } }
        )
        async let answer = pool.call(makeRequest(rows: 1), deadline: nil)
        while gate.waiting == 0 { await Task.yield() }
        pool.add(.init(id: "fast", upstream: FakeUpstream()), awaitingHealthCheck: false)
        #expect(pool.remove("slow"))
        #expect(removed.withLock { $0 }.isEmpty)  // its request is still in flight
        #expect(pool.statistics.first { $0.id == "slow" }?.removing == true)
        for _ in 0..<10 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
        #expect(slow.received.count == 1)  // nothing new went to it
        gate.open()
        _ = try await answer
        #expect(removed.withLock { $0 } == ["slow"])
        #expect(pool.members.map(\.id) == ["fast"])
        #expect(!pool.remove("slow"))
    }

    @Test func aPoolWhoseInstancesAllDrainSaysSo() async throws {
        let pool = UpstreamPool(members: [.init(id: "a", upstream: FakeUpstream())], clock: ManualClock())
        pool.drain("a")
        let error = try #require(await #expect(throws: RoutingError.self) { try await pool.call(makeRequest(rows: 1), deadline: nil) })
        #expect(error.message.contains("draining"))
    }
}
