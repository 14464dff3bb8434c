import SwitchyardTensor
import SwitchyardWire
import Synchronization
import MetricsTestKit
import Testing

@testable import SwitchyardRouting

/// The batcher's driver on a manual clock, with a fake upstream.
struct BatcherTests {
    static func withBatcher(
        _ configuration: BatcherConfiguration,
        upstream: FakeUpstream,
        clock: ManualClock = ManualClock(),
        _ body: (Batcher<ManualClock>) async throws -> Void
    ) async throws {
        let batcher = Batcher(upstream: upstream, configuration: configuration, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            try await body(batcher)
            group.cancelAll()
        }
    }

    static func gated(_ gate: Gate, failing status: Status? = nil) -> FakeUpstream {
        FakeUpstream { request in
            await gate.pass()
            if let status { throw status }
            return try await FakeUpstream.echo(request)
        }
    }

    @Test func aLoneRequestIsAnsweredWithoutWaitingForCompany() async throws {
        let upstream = FakeUpstream()
        try await Self.withBatcher(.defaults { $0.maxQueueDelay = .seconds(60) }, upstream: upstream) { batcher in
            let response = try await batcher.submit(makeRequest(rows: 2, base: 7), deadline: nil)
            #expect(try firstColumn(response.tensors) == [7, 8])
            #expect(response[parameter: "served.by"] == "fake")
            #expect(upstream.received.count == 1)
        }
    }

    @Test func aLoneRequestToAnIdleUpstreamIsSentFromTheCallersTask() async throws {
        let callers = Mutex<[Int]>([])
        let upstream = FakeUpstream { request in
            callers.withLock { $0.append(withUnsafeCurrentTask { $0?.hashValue } ?? 0) }
            return try await FakeUpstream.echo(request)
        }
        try await Self.withBatcher(.defaults { $0.maxQueueDelay = .seconds(60) }, upstream: upstream) { batcher in
            let caller = withUnsafeCurrentTask { $0?.hashValue } ?? -1
            _ = try await batcher.submit(makeRequest(rows: 1), deadline: nil)
            _ = try await batcher.submit(makeRequest(rows: 1), deadline: nil)
            #expect(callers.withLock { $0 } == [caller, caller])
        }
    }

    @Test func aBurstScheduledTogetherOnTheBatchersExecutorLeavesAsOneBatch() async throws {
        // as in the router: the members of a batch the stage before answered resume one after another on one loop
        let executor = SerialExecutorThread()
        defer { executor.stop() }
        let upstream = FakeUpstream()
        let batcher = Batcher(
            upstream: upstream,
            configuration: .defaults { $0.maxQueueDelay = .seconds(60) },
            clock: ManualClock(),
            executor: executor
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            // spawned from a job on the executor, so all five are queued there before the first one runs
            let burst = await Task(executorPreference: executor) {
                (0..<5).map { index in
                    Task(executorPreference: executor) {
                        try await batcher.submit(makeRequest(rows: 1, base: Float(index)), deadline: nil)
                    }
                }
            }.value
            for (index, task) in burst.enumerated() {
                #expect(try firstColumn(try await task.value.tensors) == [Float(index)])
            }
            #expect(upstream.received.count == 1)
            #expect(try firstColumn(upstream.received[0].tensors) == [0, 1, 2, 3, 4])
            // a lone request still goes at once, alone
            let lone = Task(executorPreference: executor) {
                try await batcher.submit(makeRequest(rows: 1), deadline: nil)
            }
            _ = try await lone.value
            #expect(upstream.received.count == 2)
            group.cancelAll()
        }
    }

    @Test func requestsQueuedWhileTheUpstreamIsBusyLeaveAsOneBatch() async throws {
        let gate = Gate()
        let upstream = Self.gated(gate)
        try await Self.withBatcher(.defaults { $0.maxBatchesInFlight = 1 }, upstream: upstream) { batcher in
            try await withThrowingTaskGroup(of: (Float, [Float]).self) { group in
                group.addTask {
                    (0, try firstColumn(try await batcher.submit(makeRequest(rows: 1, base: 0), deadline: nil).tensors))
                }
                #expect(await eventually { gate.waiting == 1 })
                for (base, rows) in [(10, 1), (20, 2), (30, 1)] as [(Float, Int)] {
                    group.addTask {
                        (
                            base,
                            try firstColumn(
                                try await batcher.submit(makeRequest(rows: rows, base: base), deadline: nil).tensors
                            )
                        )
                    }
                    #expect(await eventually { batcher.statistics.queuedRequests == Int(base / 10) })
                }
                gate.open()
                var answers: [Float: [Float]] = [:]
                for try await (base, rows) in group { answers[base] = rows }
                #expect(answers == [0: [0], 10: [10], 20: [20, 21], 30: [30]])
            }
            #expect(upstream.received.count == 2)
            #expect(upstream.received.last?.tensors[0].tensor.shape == [4, 2])
            #expect(batcher.statistics.executionTimes.averages.keys.sorted() == [1, 4])
        }
    }

    @Test func anUpstreamErrorFailsEveryMemberWithItsStatus() async throws {
        let gate = Gate()
        let upstream = Self.gated(gate, failing: Status(.unavailable, "instance gone"))
        try await Self.withBatcher(.defaults { $0.maxBatchesInFlight = 1 }, upstream: upstream) { batcher in
            try await withThrowingTaskGroup(of: Status.Code.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        do {
                            _ = try await batcher.submit(makeRequest(rows: 1), deadline: nil)
                            return .ok
                        } catch {
                            return RoutingError.status(for: error).code
                        }
                    }
                    if index == 0 { #expect(await eventually { gate.waiting == 1 }) }
                }
                #expect(await eventually { batcher.statistics.queuedRequests == 2 })
                gate.open()
                var codes: [Status.Code] = []
                for try await code in group { codes.append(code) }
                #expect(codes == [.unavailable, .unavailable, .unavailable])
            }
            #expect(upstream.received.count == 2)
        }
    }

    @Test func aCancelledRequestLeavesTheQueueAndIsAnsweredCancelled() async throws {
        let gate = Gate()
        let upstream = Self.gated(gate)
        try await Self.withBatcher(.defaults { $0.maxBatchesInFlight = 1 }, upstream: upstream) { batcher in
            let first = Task { try await batcher.submit(makeRequest(rows: 1, base: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let second = Task { try await batcher.submit(makeRequest(rows: 1, base: 2), deadline: nil) }
            #expect(await eventually { batcher.statistics.queuedRequests == 1 })
            second.cancel()
            let error = try #require(await #expect(throws: RoutingError.self) { try await second.value })
            #expect(error.code == .cancelled)
            #expect(batcher.statistics.queuedRequests == 0)
            // the lone request went out from its caller's task: cancelling the caller cancels that call, and
            // the caller is answered `cancelled` once the upstream lets go (this fake one only at the gate)
            first.cancel()
            gate.open()
            let firstError = try #require(await #expect(throws: RoutingError.self) { try await first.value })
            #expect(firstError.code == .cancelled)
            #expect(await eventually { batcher.statistics.batchesInFlight == 0 })
            #expect(upstream.received.count == 1)
        }
    }

    @Test func theUpstreamCallIsCancelledOnlyWhenEveryMemberIs() async throws {
        let gate = Gate()
        let seen = Tally()
        let upstream = FakeUpstream { request in
            await gate.pass()
            seen.outcomes.withLock { $0[Task.isCancelled ? "cancelled" : "live", default: 0] += 1 }
            return try await FakeUpstream.echo(request)
        }
        try await Self.withBatcher(.defaults { $0.maxBatchesInFlight = 1 }, upstream: upstream) { batcher in
            let lone = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let kept = Task { try await batcher.submit(makeRequest(rows: 1, base: 5), deadline: nil) }
            let dropped = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { batcher.statistics.queuedRequests == 2 })
            lone.cancel()  // sent alone from its caller's task: the call is cancelled with it
            gate.releaseOne()
            await #expect(throws: RoutingError.self) { try await lone.value }
            #expect(await eventually { gate.waiting == 1 })  // the next batch: kept + dropped
            dropped.cancel()  // kept still waits: the call goes on
            await #expect(throws: RoutingError.self) { try await dropped.value }
            gate.releaseOne()
            let keptResponse = try await kept.value
            #expect(try firstColumn(keptResponse.tensors) == [5])
            #expect(seen.outcomes.withLock { $0 } == ["cancelled": 1, "live": 1])
        }
    }

    @Test func aDeadlinePassedInTheQueueIsAnsweredWithoutSending() async throws {
        let gate = Gate()
        let clock = ManualClock()
        let upstream = Self.gated(gate)
        // predicted fast enough to be admitted with 5 ms to go (a slower prediction refuses it at arrival)
        let configuration = BatcherConfiguration.defaults {
            $0.maxBatchesInFlight = 1
            $0.initialExecutionEstimate = .microseconds(100)
        }
        try await Self.withBatcher(configuration, upstream: upstream, clock: clock) { batcher in
            let first = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let late = Task {
                try await batcher.submit(makeRequest(rows: 1), deadline: clock.now.advanced(by: .milliseconds(5)))
            }
            #expect(await eventually { clock.sleeperCount == 1 })  // the batcher's timer for that deadline
            clock.advance(by: .milliseconds(4))
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .milliseconds(1))
            let error = try #require(await #expect(throws: RoutingError.self) { try await late.value })
            #expect(error.status.code == .deadlineExceeded)
            gate.open()
            _ = try await first.value
            #expect(upstream.received.count == 1)
        }
    }

    @Test func theQueueDelayTimerSendsABatchIntoAFreeSlot() async throws {
        let gate = Gate()
        let clock = ManualClock()
        let upstream = Self.gated(gate)
        let configuration = BatcherConfiguration.defaults {
            $0.maxBatchesInFlight = 2
            $0.idleBatchesInFlight = 1
            $0.maxQueueDelay = .milliseconds(2)
        }
        try await Self.withBatcher(configuration, upstream: upstream, clock: clock) { batcher in
            let first = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let second = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            let third = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { batcher.statistics.queuedRequests == 2 && clock.sleeperCount == 1 })
            clock.advance(by: .milliseconds(1))
            #expect(gate.waiting == 1)
            clock.advance(by: .milliseconds(1))
            #expect(await eventually { gate.waiting == 2 })
            #expect(upstream.received.last?.tensors[0].tensor.shape == [2, 2])
            gate.open()
            for task in [first, second, third] { _ = try await task.value }
        }
    }

    @Test func limitsChangeWhileRunning() async throws {
        let gate = Gate()
        let upstream = Self.gated(gate)
        try await Self.withBatcher(.defaults { $0.maxBatchesInFlight = 1 }, upstream: upstream) { batcher in
            let first = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let queued = (0..<2).map { _ in Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) } }
            let tasks = [first] + queued
            #expect(await eventually { batcher.statistics.queuedRequests == 2 })
            batcher.updateConfiguration(
                .defaults {
                    $0.maxBatchesInFlight = 3
                    $0.idleBatchesInFlight = 3
                    $0.maxBatchSize = 1
                }
            )
            #expect(await eventually { gate.waiting == 3 })
            #expect(batcher.configuration.maxBatchSize == 1)
            gate.open()
            for task in tasks { _ = try await task.value }
        }
    }

    @Test func stoppingFailsQueuedRequestsAndRefusesNewOnes() async throws {
        let gate = Gate()
        let batcher = Batcher(
            upstream: Self.gated(gate),
            configuration: .defaults { $0.maxBatchesInFlight = 1 },
            clock: ManualClock()
        )
        let runner = Task { await batcher.run() }
        let first = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
        #expect(await eventually { gate.waiting == 1 })
        let queued = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
        #expect(await eventually { batcher.statistics.queuedRequests == 1 })
        runner.cancel()
        gate.open()
        await runner.value
        let error = try #require(await #expect(throws: RoutingError.self) { try await queued.value })
        #expect(error.status.code == .unavailable)
        _ = await first.result  // answered one way or the other, not lost
        let refused = await #expect(throws: RoutingError.self) {
            try await batcher.submit(makeRequest(rows: 1), deadline: nil)
        }
        #expect(refused?.code == .shutDown)
    }
}

struct BatcherMetricsTests {
    @Test func batchSizesAndQueueDepthAreRecorded() async throws {
        let metrics = TestMetrics()
        let gate = Gate()
        let upstream = BatcherTests.gated(gate)
        let batcher = Batcher(
            upstream: upstream,
            configuration: .defaults { $0.maxBatchesInFlight = 1 },
            clock: ManualClock(),
            metricDimensions: [("model", "m"), ("stage", "inference")],
            metricsFactory: metrics
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await batcher.run() }
            let lone = Task { try await batcher.submit(makeRequest(rows: 1), deadline: nil) }
            #expect(await eventually { gate.waiting == 1 })
            let queued = (0..<3).map { _ in Task { try await batcher.submit(makeRequest(rows: 2), deadline: nil) } }
            #expect(await eventually { batcher.statistics.queuedRequests == 3 })
            let depth = try metrics.expectGauge(
                "switchyard_batch_queue_depth",
                [("model", "m"), ("stage", "inference")]
            )
            #expect(depth.lastValue == 3)
            gate.open()
            _ = try await lone.value
            for task in queued { _ = try await task.value }
            let sizes = try metrics.expectRecorder("switchyard_batch_size", [("model", "m"), ("stage", "inference")])
            #expect(sizes.values == [1, 6])  // the lone request, then the three queued ones as one batch
            #expect(depth.lastValue == 0)
            group.cancelAll()
        }
    }
}
