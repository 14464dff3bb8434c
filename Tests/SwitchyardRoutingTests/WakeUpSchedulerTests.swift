import SwitchyardTensor
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouting

/// Wake-ups the test fires by hand, and counts of those cancelled; as an executor, it runs jobs on the global one.
final class ManualWakeUps: WakeUpScheduler, TaskExecutor {
    private struct State {
        var next = 0
        var pending: [Int: (delay: Duration, body: @Sendable () -> Void)] = [:]
        var cancelled = 0
    }

    private let state = Mutex(State())

    var pending: [Duration] { self.state.withLock { $0.pending.sorted { $0.key < $1.key }.map(\.value.delay) } }
    var cancelled: Int { self.state.withLock { $0.cancelled } }

    func scheduleWakeUp(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = self.state.withLock { state in
            state.next += 1
            state.pending[state.next] = (delay, body)
            return state.next
        }
        return {
            self.state.withLock { state in
                if state.pending.removeValue(forKey: id) != nil { state.cancelled += 1 }
            }
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        globalConcurrentExecutor.enqueue(job)
    }

    /// Runs every pending wake-up.
    func fireAll() {
        let bodies = self.state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending.values.map(\.body)
        }
        for body in bodies { body() }
    }
}

struct WakeUpSchedulerTests {
    @Test func aBatchersQueueDelayTimerRunsOnItsExecutorsWakeUps() async throws {
        let wakeUps = ManualWakeUps()
        let gate = Gate()
        let upstream = FakeUpstream { request in
            await gate.pass()
            return try await FakeUpstream.echo(request)
        }
        let configuration = BatcherConfiguration.defaults {
            $0.maxBatchesInFlight = 2
            $0.idleBatchesInFlight = 1
            $0.maxQueueDelay = .milliseconds(200)
        }
        let batcher = Batcher(upstream: upstream, configuration: configuration, executor: wakeUps)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            let first = Task { try await batcher.call(makeRequest(rows: 1), deadline: nil) }
            try await waitUntil { gate.waiting == 1 }
            let second = Task { try await batcher.call(makeRequest(rows: 1, base: 4), deadline: nil) }
            let third = Task { try await batcher.call(makeRequest(rows: 1, base: 5), deadline: nil) }
            try await waitUntil { batcher.statistics.queuedRequests == 2 && wakeUps.pending.count == 1 }
            #expect(wakeUps.pending[0] <= .milliseconds(200))  // what is left of the queue delay
            // the queue delay passes; only the wake-up, fired by hand, can send the two queued
            let passed = ContinuousClock.now.advanced(by: .milliseconds(200))
            try await waitUntil { ContinuousClock.now > passed }
            #expect(gate.waiting == 1)
            wakeUps.fireAll()
            try await waitUntil { gate.waiting == 2 }
            #expect(upstream.received.last?.tensors[0].tensor.shape == [2, 2])
            gate.open()
            #expect(try firstColumn(try await second.value.tensors) == [4])
            #expect(try firstColumn(try await third.value.tensors) == [5])
            _ = try await first.value
            group.cancelAll()
        }
    }

    @Test func aPoolsPerTryTimerRunsOnItsWakeUpsAndHedges() async throws {
        let wakeUps = ManualWakeUps()
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
            configuration: .defaults { $0.perTryTimeout = .milliseconds(100) },
            wakeUps: wakeUps
        )
        async let answer = pool.call(makeRequest(rows: 1, base: 7), deadline: nil)
        try await waitUntil { wakeUps.pending.count == 1 && a.received.count + b.received.count == 1 }
        #expect(wakeUps.pending.first.map { $0 <= .milliseconds(100) } == true)  // what is left of the per-try time
        wakeUps.fireAll()  // the first attempt's per-try timeout: a hedge on the other instance answers
        #expect(try firstColumn(try await answer.tensors) == [7])
        #expect(a.received.count == 1 && b.received.count == 1)
        // the hedge's own timer and the hung attempt end with the call
        try await waitUntil { wakeUps.pending.isEmpty }
        #expect(wakeUps.cancelled >= 1)
    }

    @Test func aPoolWithoutWakeUpsOrOnAnotherClockUsesTheClock() async throws {
        let wakeUps = ManualWakeUps()
        let clock = ManualClock()
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: FakeUpstream())],
            configuration: .defaults { $0.perTryTimeout = .milliseconds(100) },
            clock: clock,
            wakeUps: wakeUps
        )
        #expect(try firstColumn(try await pool.call(makeRequest(rows: 1, base: 2), deadline: nil).tensors) == [2])
        #expect(wakeUps.pending.isEmpty && wakeUps.cancelled == 0)  // a manual clock's time is not the scheduler's
    }
}
