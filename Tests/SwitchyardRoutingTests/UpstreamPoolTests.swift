import SwitchyardTensor
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouting

/// The pool's driver with fake instances on a manual clock.
struct UpstreamPoolTests {
    static func failing(_ code: Status.Code) -> FakeUpstream {
        FakeUpstream { _ in throw Status(code, "fake failure") }
    }

    @Test func anUnavailableInstanceIsRetriedOnAnotherAndThenEjected() async throws {
        let dead = Self.failing(.unavailable)
        let live = FakeUpstream()
        let clock = ManualClock()
        let pool = UpstreamPool(
            members: [.init(id: "dead", upstream: dead), .init(id: "live", upstream: live)], clock: clock
        )
        for index in 0..<40 {
            let response = try await pool.call(makeRequest(rows: 1, base: Float(index)), deadline: nil)
            #expect(try firstColumn(response.tensors) == [Float(index)])
        }
        #expect(live.received.count == 40)
        #expect(dead.received.count == 5)  // ejected after five consecutive failures
        let statistics = pool.statistics
        #expect(statistics.map(\.ejected) == [true, false])
        #expect(statistics.map(\.ejections) == [1, 0])
        #expect(statistics.allSatisfy { $0.inFlight == 0 })
        // back after 30 s, and out again for 60 s after five more failures
        clock.advance(by: .seconds(30))
        for _ in 0..<40 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
        #expect(dead.received.count == 10)
        #expect(pool.statistics.map(\.ejections) == [2, 0])
    }

    @Test func onlyIdempotentRequestsAreRetried() async throws {
        let first = Self.failing(.unavailable)
        let second = Self.failing(.unavailable)
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: first), .init(id: "b", upstream: second)], clock: ManualClock()
        )
        var request = makeRequest(rows: 1)
        let error = try #require(await #expect(throws: Status.self) { try await pool.call(request, deadline: nil) })
        #expect(error.code == .unavailable)
        #expect(first.received.count + second.received.count == 3)  // the call and two retries
        #expect(first.received.count >= 1 && second.received.count >= 1)
        request.idempotent = false
        await #expect(throws: Status.self) { try await pool.call(request, deadline: nil) }
        #expect(first.received.count + second.received.count == 4)
    }

    @Test func answersThatAreNotTheInstancesFaultAreNotRetried() async throws {
        let bad = Self.failing(.invalidArgument)
        let other = Self.failing(.invalidArgument)
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: bad), .init(id: "b", upstream: other)], clock: ManualClock())
        for _ in 0..<10 {
            let error = try #require(
                await #expect(throws: Status.self) { try await pool.call(makeRequest(rows: 1), deadline: nil) })
            #expect(error.code == .invalidArgument)
        }
        #expect(bad.received.count + other.received.count == 10)
        #expect(pool.statistics.allSatisfy { !$0.ejected && $0.consecutiveFailures == 0 })
    }

    @Test func noRetryStartsAfterTheDeadline() async throws {
        let clock = ManualClock()
        // the instance fails slowly: the clock passes the deadline during the call
        let slow = FakeUpstream { _ in
            clock.advance(by: .milliseconds(10))
            throw Status(.unavailable, "gone")
        }
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: slow), .init(id: "b", upstream: slow)], clock: clock)
        await #expect(throws: Status.self) {
            try await pool.call(makeRequest(rows: 1), deadline: ContinuousClock.now.advanced(by: .milliseconds(5)))
        }
        #expect(slow.received.count == 1)
    }

    @Test func healthReportsSteerTraffic() async throws {
        let a = FakeUpstream()
        let b = FakeUpstream()
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: a), .init(id: "b", upstream: b)], clock: ManualClock())
        pool.reportHealth(instance: "a", healthy: false)
        for _ in 0..<20 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
        #expect(a.received.isEmpty)
        #expect(b.received.count == 20)
        #expect(pool.statistics.map(\.healthy) == [false, true])
        pool.reportHealth(instance: "a", healthy: true)
        for _ in 0..<20 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
        #expect(!a.received.isEmpty)
    }

    @Test func anEmptyPoolAnswersUnavailable() async throws {
        let pool = UpstreamPool(members: [], clock: ManualClock())
        let error = try #require(
            await #expect(throws: RoutingError.self) { try await pool.call(makeRequest(rows: 1), deadline: nil) })
        #expect(error.status.code == .unavailable)
    }

    @Test func aBatcherInFrontOfAPoolSurvivesADeadInstance() async throws {
        let dead = Self.failing(.unavailable)
        let live = FakeUpstream()
        let pool = UpstreamPool(
            members: [.init(id: "dead", upstream: dead), .init(id: "live", upstream: live)], clock: ContinuousClock()
        )
        let batcher = Batcher(upstream: pool, configuration: .defaults { $0.maxBatchesInFlight = 1 })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            try await withThrowingTaskGroup(of: Bool.self) { clients in
                for index in 0..<50 {
                    clients.addTask {
                        let response = try await batcher.submit(makeRequest(rows: 1, base: Float(index)), deadline: nil)
                        return try firstColumn(response.tensors) == [Float(index)]
                    }
                }
                for try await correct in clients { #expect(correct) }
            }
            group.cancelAll()
        }
        #expect(dead.received.count <= 5)
    }

    @Test func errorsMapToOneStatus() {
        struct Opaque: Error {}
        #expect(RoutingError.status(for: CancellationError()).code == .cancelled)
        #expect(RoutingError.status(for: Opaque()).code == .internalError)
        #expect(RoutingError.status(for: Status(.notFound, "no model")) == Status(.notFound, "no model"))
        #expect(RoutingError.status(for: RoutingError(.noInstance, "empty")).code == .unavailable)
        #expect(RoutingError(.malformedBatch, "x").status.code == .internalError)
    }
}
