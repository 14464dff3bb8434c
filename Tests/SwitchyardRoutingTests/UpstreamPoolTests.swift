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

    @Test func aDrainingInstanceLeavesRotationItsRefusalsAreRetriedAndItIsNeverEjected() async throws {
        let draining = DrainingUpstream()
        let live = FakeUpstream()
        let pool = UpstreamPool(
            members: [.init(id: "draining", upstream: draining), .init(id: "live", upstream: live)], clock: ManualClock()
        )
        // refusals of a draining server are retried elsewhere, even for requests that are not idempotent
        draining.draining.withLock { $0 = true }
        var request = makeRequest(rows: 1)
        request.idempotent = false
        for index in 0..<40 {
            request.tensors = makeRequest(rows: 1, base: Float(index)).tensors
            let response = try await pool.call(request, deadline: nil)
            #expect(try firstColumn(response.tensors) == [Float(index)])
        }
        #expect(draining.received.isEmpty)  // out of rotation while another instance serves
        #expect(live.received.count == 40)
        #expect(pool.statistics.map(\.ejections) == [0, 0])
        // when it is the only one left it still gets traffic, and its refusals count as nothing
        draining.refuseUnprocessed.withLock { $0 = true }
        let alone = UpstreamPool(members: [.init(id: "draining", upstream: draining)], clock: ManualClock())
        for _ in 0..<10 { _ = try? await alone.call(request, deadline: nil) }
        #expect(alone.statistics.map(\.consecutiveFailures) == [0])
        // back (a new connection succeeded): in rotation again
        draining.draining.withLock { $0 = false }
        draining.refuseUnprocessed.withLock { $0 = false }
        for _ in 0..<20 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
        #expect(!draining.received.isEmpty)
    }

    @Test func requestsTheInstanceNeverProcessedAreRetriedEvenWhenNotIdempotent() async throws {
        let refusing = FakeUpstream { _ in throw NotProcessed() }
        let live = FakeUpstream()
        let pool = UpstreamPool(
            members: [.init(id: "refusing", upstream: refusing), .init(id: "live", upstream: live)], clock: ManualClock()
        )
        var request = makeRequest(rows: 1)
        request.idempotent = false
        for _ in 0..<20 { _ = try await pool.call(request, deadline: nil) }
        #expect(live.received.count == 20)
        // a processed failure of a request that is not idempotent is not sent again
        let failing = Self.failing(.unavailable)
        let strict = UpstreamPool(
            members: [.init(id: "failing", upstream: failing), .init(id: "live", upstream: FakeUpstream())],
            configuration: .defaults { $0.consecutiveFailures = 1000 }, clock: ManualClock()
        )
        var failures = 0
        for _ in 0..<20 {
            do { _ = try await strict.call(request, deadline: nil) } catch { failures += 1 }
        }
        #expect(failures == failing.received.count)
        #expect(failures > 0)
    }

    @Test func anAttemptPastItsPerTryTimeoutIsHedgedOnAnotherInstanceAndCountsAgainstItsOwn() async throws {
        let clock = ManualClock()
        let first = FirstCall()
        // whichever instance gets the first attempt hangs (until cancelled); the other answers at once
        let handler: @Sendable (Request) async throws -> Response = { request in
            if first.take() { try await Task.sleep(for: .seconds(3600)) }
            return try await FakeUpstream.echo(request)
        }
        let a = FakeUpstream(handler: handler)
        let b = FakeUpstream(handler: handler)
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: a), .init(id: "b", upstream: b)],
            configuration: .defaults { $0.perTryTimeout = .milliseconds(100) }, clock: clock
        )
        async let answer = pool.call(makeRequest(rows: 1, base: 7), deadline: nil)
        try await waitUntil { clock.sleeperCount == 1 && a.received.count + b.received.count == 1 }
        clock.advance(by: .milliseconds(100))
        #expect(try firstColumn(try await answer.tensors) == [7])
        #expect(a.received.count == 1 && b.received.count == 1)  // the hedge went to the other instance
        #expect(pool.statistics.map(\.consecutiveFailures).sorted() == [0, 1])  // the timed-out one counts
        #expect(pool.statistics.allSatisfy { $0.inFlight == 0 })
    }

    @Test func aRequestThatIsNotIdempotentIsNotHedged() async throws {
        let clock = ManualClock()
        let gate = Gate()
        let a = FakeUpstream { request in
            await gate.pass()
            return try await FakeUpstream.echo(request)
        }
        let b = FakeUpstream { request in
            await gate.pass()
            return try await FakeUpstream.echo(request)
        }
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: a), .init(id: "b", upstream: b)],
            configuration: .defaults { $0.perTryTimeout = .milliseconds(100) }, clock: clock
        )
        var request = makeRequest(rows: 1, base: 3)
        request.idempotent = false
        async let answer = pool.call(request, deadline: nil)
        try await waitUntil { clock.sleeperCount == 1 && gate.waiting == 1 }
        clock.advance(by: .milliseconds(100))
        try await waitUntil { pool.statistics.map(\.consecutiveFailures).reduce(0, +) == 1 }
        try await Task.sleep(for: .milliseconds(50))  // time for a hedge to show, were one started
        #expect(a.received.count + b.received.count == 1)
        gate.open()
        #expect(try firstColumn(try await answer.tensors) == [3])
        #expect(pool.statistics.map(\.consecutiveFailures) == [0, 0])  // the late answer shows the instance alive
    }

    @Test func thePerTryTimeoutFollowsThePredictedExecutionTime() async throws {
        let clock = ManualClock()
        let slow = FakeUpstream { request in
            clock.advance(by: .milliseconds(40))  // every attempt takes 40 ms on the pool's clock
            return try await FakeUpstream.echo(request)
        }
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: slow)],
            configuration: .defaults { $0.minimumPerTryTimeout = .milliseconds(1) }, clock: clock
        )
        _ = try await pool.call(makeRequest(rows: 2), deadline: nil)
        #expect(pool.perTryTimeout(for: makeRequest(rows: 2)) == .milliseconds(160))  // 4 × 40 ms
        #expect(pool.perTryTimeout(for: makeRequest(rows: 1)) == .milliseconds(160))  // a smaller batch borrows
        var other = makeRequest(rows: 2)
        other.model = "other"
        #expect(pool.perTryTimeout(for: other) == .seconds(1))  // nothing known yet: a cautious second
    }
}

/// An instance whose server is draining (or not), as a transport reports it.
final class DrainingUpstream: Upstream, Sendable {
    let draining = Mutex(false)
    /// Refuse every call as not processed, as a draining server does.
    let refuseUnprocessed = Mutex(false)
    private let calls = Mutex<[Request]>([])

    var received: [Request] { self.calls.withLock { $0 } }
    var isDraining: Bool { self.draining.withLock { $0 } }

    func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        self.calls.withLock { $0.append(request) }
        if self.refuseUnprocessed.withLock({ $0 }) { throw NotProcessed() }
        return try await FakeUpstream.echo(request)
    }
}

/// A failure before the instance read the request (no connection, above a GOAWAY's last id).
struct NotProcessed: StatusConvertible {
    var status: Status { Status(.unavailable, "not processed") }
    var requestWasNotProcessed: Bool { true }
}

/// Polls `condition` every millisecond for up to 30 s (a starved machine may take long to schedule a task).
func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: .seconds(30))
    while !condition() {
        try #require(ContinuousClock.now < deadline, "condition not met within 30 s")
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// True for the first caller only.
final class FirstCall: Sendable {
    private let taken = Mutex(false)

    func take() -> Bool {
        self.taken.withLock { taken in
            defer { taken = true }
            return !taken
        }
    }
}
