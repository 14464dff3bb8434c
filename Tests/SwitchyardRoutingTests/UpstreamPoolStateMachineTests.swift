import SwitchyardWire
import Testing

@testable import SwitchyardRouting

typealias PoolMachine = UpstreamPool<ManualClock>.StateMachine

private let poolT0 = ManualClock.Instant(offset: .zero)

private func poolAt(_ milliseconds: Double) -> ManualClock.Instant { poolT0.advanced(by: .microseconds(Int64(milliseconds * 1000))) }

/// A small seeded generator, so that the random choices of a test are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct UpstreamPoolStateMachineTests {
    static func pool(_ count: Int, _ configure: (inout UpstreamPoolConfiguration) -> Void = { _ in }) -> PoolMachine {
        PoolMachine(instanceIDs: (0..<count).map { "i\($0)" }, configuration: .defaults(configure: configure))
    }

    static func fail(_ machine: inout PoolMachine, _ index: Int, times: Int, now: ManualClock.Instant) -> [PoolMachine
        .Event]
    {
        var events: [PoolMachine.Event] = []
        for _ in 0..<times {
            events += machine.failAttempt(on: index, now: now)
        }
        return events
    }

    @Test func powerOfTwoChoicesSpreadsLoad() throws {
        var machine = Self.pool(2)
        var random = SplitMix64(state: 7)
        for _ in 0..<10 { _ = machine.pick(excluding: [], now: poolT0, using: &random) }
        #expect(machine.instances.map(\.inFlight) == [5, 5])
        var bigger = Self.pool(5)
        for _ in 0..<200 { _ = bigger.pick(excluding: [], now: poolT0, using: &random) }
        let loads = bigger.instances.map(\.inFlight)
        #expect(loads.reduce(0, +) == 200)
        #expect(loads.max()! - loads.min()! <= 3)
    }

    @Test func pickAvoidsExcludedInstancesWhileOthersRemain() throws {
        var machine = Self.pool(3)
        var random = SplitMix64(state: 3)
        for _ in 0..<20 {
            let index = try #require(machine.pick(excluding: [0, 1], now: poolT0, using: &random).index)
            #expect(index == 2)
        }
        // everything excluded: still an answer rather than none
        let check1 = machine.pick(excluding: [0, 1, 2], now: poolT0, using: &random).index != nil
        #expect(check1)
        var empty = Self.pool(0)
        let check2 = empty.pick(excluding: [], now: poolT0, using: &random).index == nil
        #expect(check2)
    }

    @Test func fiveConsecutiveFailuresEjectForThirtySecondsTimesTheEjections() throws {
        var machine = Self.pool(10)
        let check3 = Self.fail(&machine, 3, times: 4, now: poolT0).isEmpty
        #expect(check3)
        _ = machine.answerAttempt(on: 3, now: poolT0)  // a good answer resets the count
        let check4 = Self.fail(&machine, 3, times: 4, now: poolT0).isEmpty
        #expect(check4)
        let check5 = Self.fail(&machine, 3, times: 1, now: poolT0) == [.ejected(instance: "i3", until: poolAt(30_000))]
        #expect(check5)
        var random = SplitMix64(state: 11)
        for _ in 0..<50 {
            let index = machine.pick(excluding: [], now: poolAt(29_999), using: &random).index
            #expect(index != 3)
        }
        // re-admitted when the time is up
        let (_, events) = machine.pick(excluding: [], now: poolAt(30_000), using: &random)
        #expect(events == [.readmitted(instance: "i3")])
        let check6 = Self.fail(&machine, 3, times: 5, now: poolAt(31_000)) == [.ejected(instance: "i3", until: poolAt(91_000))]
        #expect(check6)
    }

    @Test func ejectionTimeIsCapped() {
        var machine = Self.pool(2) { $0.maxEjectionTime = .seconds(45) }
        _ = Self.fail(&machine, 0, times: 5, now: poolT0)
        _ = machine.readmitExpired(now: poolAt(30_000))
        let check7 = Self.fail(&machine, 0, times: 5, now: poolAt(30_000)) == [.ejected(instance: "i0", until: poolAt(75_000))]
        #expect(check7)
    }

    @Test func atMostTenPercentButAtLeastOneAndNeverAll() {
        var ten = Self.pool(10)
        let check8 = Self.fail(&ten, 0, times: 5, now: poolT0).count == 1
        #expect(check8)
        let check9 = Self.fail(&ten, 1, times: 5, now: poolT0).isEmpty  // 10% of 10 is already ejected
        #expect(check9)
        var two = Self.pool(2)
        let check10 = Self.fail(&two, 0, times: 5, now: poolT0).count == 1  // at least one, even above 10%
        #expect(check10)
        let check11 = Self.fail(&two, 1, times: 5, now: poolT0).isEmpty  // never the last one
        #expect(check11)
        var one = Self.pool(1)
        let check12 = Self.fail(&one, 0, times: 50, now: poolT0).isEmpty
        #expect(check12)
    }

    @Test func onlyUnavailableAndInternalCountAsFailures() {
        #expect(PoolMachine.Outcome(.unavailable) == .failed)
        #expect(PoolMachine.Outcome(.internalError) == .failed)
        #expect(PoolMachine.Outcome(.invalidArgument) == .answered)
        #expect(PoolMachine.Outcome(.resourceExhausted) == .answered)
        #expect(PoolMachine.Outcome(nil) == .answered)
        #expect(PoolMachine.Outcome(.deadlineExceeded) == .neutral)
        #expect(PoolMachine.Outcome(.cancelled) == .neutral)
        var machine = Self.pool(3)
        _ = Self.fail(&machine, 0, times: 4, now: poolT0)
        var random = SplitMix64(state: 5)
        _ = machine.pick(excluding: [1, 2], now: poolT0, using: &random)
        _ = machine.finish(instance: 0, outcome: .neutral, now: poolT0)
        #expect(machine.instances[0].consecutiveFailures == 4)
    }

    @Test func healthChecksSteerTrafficAndReadmit() throws {
        var machine = Self.pool(3)
        var random = SplitMix64(state: 9)
        _ = machine.reportHealth(instance: "i1", healthy: false, now: poolT0)
        for _ in 0..<30 {
            let index = try #require(machine.pick(excluding: [], now: poolT0, using: &random).index)
            #expect(index != 1)
        }
        // nobody healthy: traffic still flows
        _ = machine.reportHealth(instance: "i0", healthy: false, now: poolT0)
        _ = machine.reportHealth(instance: "i2", healthy: false, now: poolT0)
        let check13 = machine.pick(excluding: [], now: poolT0, using: &random).index != nil
        #expect(check13)
        // a passing check re-admits an ejected instance at once
        _ = Self.fail(&machine, 2, times: 5, now: poolT0)
        #expect(machine.instances[2].ejectedUntil != nil)
        let check14 = machine.reportHealth(instance: "i2", healthy: true, now: poolAt(1)) == [.readmitted(instance: "i2")]
        #expect(check14)
        #expect(machine.instances[2].ejectedUntil == nil)
        let check15 = machine.reportHealth(instance: "nope", healthy: true, now: poolAt(1)).isEmpty
        #expect(check15)
    }

    @Test func retriesStayWithinTheBudgetAndTheDeadline() {
        var machine = Self.pool(3)
        for _ in 0..<5 { machine.beginRequest() }
        // 20% of 5 is 1, but three retries may always be in flight
        let check16 =
            (0..<4).map { _ in machine.beginRetry(retriesSoFar: 0, deadline: nil, now: poolT0) } == [
                true, true, true, false,
            ]
        #expect(check16)
        for _ in 0..<95 { machine.beginRequest() }
        // 20% of 100 is 20
        let more = (0..<20).map { _ in machine.beginRetry(retriesSoFar: 0, deadline: nil, now: poolT0) }
        #expect(more.filter { $0 }.count == 17)
        machine.endRetry()
        let check17 = machine.beginRetry(retriesSoFar: 0, deadline: nil, now: poolT0)
        #expect(check17)
        let check18 = !machine.beginRetry(retriesSoFar: 0, deadline: nil, now: poolT0)
        #expect(check18)
        for _ in 0..<20 { machine.endRetry() }
        let check19 = !machine.beginRetry(retriesSoFar: 2, deadline: nil, now: poolT0)  // maxRetries = 2
        #expect(check19)
        let check20 = !machine.beginRetry(retriesSoFar: 0, deadline: poolAt(5), now: poolAt(5))
        #expect(check20)
        let check21 = machine.beginRetry(retriesSoFar: 1, deadline: poolAt(6), now: poolAt(5))
        #expect(check21)
    }

    @Test func drainingInstancesAreOutOfRotationWhileAnotherServes() throws {
        var machine = Self.pool(3)
        var random = SplitMix64(state: 21)
        for _ in 0..<30 {
            let index = try #require(machine.pick(excluding: [], goingAway: [0, 2], now: poolT0, using: &random).index)
            #expect(index == 1)
        }
        // all draining: still an answer (the least bad choice)
        let check = machine.pick(excluding: [], goingAway: [0, 1, 2], now: poolT0, using: &random).index != nil
        #expect(check)
    }

    @Test func belowThePanicThresholdEveryInstanceGetsTraffic() throws {
        var machine = Self.pool(4)
        var random = SplitMix64(state: 13)
        // one of four unhealthy: 75% healthy, the healthy ones serve
        _ = machine.reportHealth(instance: "i0", healthy: false, now: poolT0)
        var picked = Set<Int>()
        for _ in 0..<100 {
            let index = try #require(machine.pick(excluding: [], now: poolT0, using: &random).index)
            picked.insert(index)
            _ = machine.finish(instance: index, outcome: .neutral, now: poolT0)
        }
        #expect(picked == [1, 2, 3])
        // three of four out (one ejected, two failing checks): 25% < 50%, so all four share the traffic
        _ = machine.reportHealth(instance: "i1", healthy: false, now: poolT0)
        _ = Self.fail(&machine, 2, times: 5, now: poolT0)
        #expect(machine.instances[2].ejectedUntil != nil)
        picked = []
        for _ in 0..<100 {
            let index = try #require(machine.pick(excluding: [], now: poolT0, using: &random).index)
            picked.insert(index)
            _ = machine.finish(instance: index, outcome: .neutral, now: poolT0)
        }
        #expect(picked == [0, 1, 2, 3])
        // a draining instance is left out of the count as well as the rotation
        var two = Self.pool(3)
        _ = two.reportHealth(instance: "i0", healthy: false, now: poolT0)
        picked = []
        for _ in 0..<60 {
            let index = try #require(two.pick(excluding: [], goingAway: [2], now: poolT0, using: &random).index)
            picked.insert(index)
            _ = two.finish(instance: index, outcome: .neutral, now: poolT0)
        }
        #expect(picked == [1])  // 1 of 2 healthy is not below 50%
    }

    @Test func aPassedCheckReadmitsAnEjectedInstanceAndAPerTryTimeoutCountsAsAFailure() {
        var machine = Self.pool(2)
        _ = Self.fail(&machine, 0, times: 4, now: poolT0)
        machine.instances[0].inFlight += 1
        let ejected = machine.timedOut(instance: 0, now: poolT0)
        #expect(ejected == [.ejected(instance: "i0", until: poolAt(30_000))])
        #expect(machine.instances[0].inFlight == 1)  // still in flight until it ends
        _ = machine.finish(instance: 0, outcome: .neutral, now: poolT0)
        #expect(machine.checkPassed(instance: "i1", now: poolAt(1)).isEmpty)  // not ejected: nothing to do
        #expect(machine.checkPassed(instance: "i0", now: poolAt(1)) == [.readmitted(instance: "i0")])
        #expect(machine.instances[0].ejectedUntil == nil && machine.instances[0].consecutiveFailures == 0)
    }
}

extension PoolMachine {
    /// Picks `index` (by excluding every other instance) and records a failure on it.
    mutating func failAttempt(on index: Int, now: ManualClock.Instant) -> [Event] {
        self.instances[index].inFlight += 1
        return self.finish(instance: index, outcome: .failed, now: now)
    }

    mutating func answerAttempt(on index: Int, now: ManualClock.Instant) -> [Event] {
        self.instances[index].inFlight += 1
        return self.finish(instance: index, outcome: .answered, now: now)
    }
}
