import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouter

/// The router's refusal at arrival predicts each stage's queue with the batcher the request will go through.
@Suite(.timeLimit(.minutes(2)))
struct RouterAdmissionTests {
    @Test func theRefusalPredictsInferenceWithTheBatcherOfTheVersionTheReleaseRoutesTo() async throws {
        let gate = Gate()
        var batching = BatcherConfiguration()
        batching.maxBatchSize = 1
        batching.maxBatchesInFlight = 1
        batching.idleBatchesInFlight = 1
        batching.initialExecutionEstimate = .milliseconds(100)
        batching.maxQueueTime = .milliseconds(50)
        let held = FakeStage.inference { request in
            if request.version == "2" { await gate.pass() }
        }
        try await InProcessMesh.with(batching: batching, inference: held, releases: try ReleaseGateTests.controller()) {
            mesh in
            _ = try await mesh.call(
                Request(method: Method.releasePin, model: "m", version: "2"),
                peer: InProcessMesh.admin
            )
            // unpinned requests go to version 2, whose batcher holds one batch in flight and queues the rest
            let calls = (0..<4).map { index in Task { await mesh.status(of: inferRequest(Float(index))) } }
            defer { gate.open() }
            let backedUp = await eventually {
                guard let batcher = mesh.router.batchers.existingInference(model: "m", version: "2") else {
                    return false
                }
                return batcher.predictedLatency(rows: 1, priority: 0).backlog > batching.maxQueueTime!
            }
            #expect(backedUp)
            // the model's unpinned inference batcher is idle: only version 2's queue explains a refusal
            let unpinned = try #require(mesh.router.batchers["m"]).inference
            #expect(unpinned.predictedLatency(rows: 1, priority: 0).backlog == .zero)
            let refusal = mesh.router.refusal(for: inferRequest(9), deadline: nil)
            #expect(refusal?.code == .resourceExhausted, "\(String(describing: refusal))")
            // a request pinned to version 1 goes through version 1's (idle) queue and is not refused
            #expect(mesh.router.refusal(for: inferRequest(9, version: "1"), deadline: nil) == nil)
            gate.open()
            for call in calls {
                let status = await call.value
                #expect(status == .ok || status == .resourceExhausted)  // every request gets an answer
            }
        }
    }

    /// A stage whose every batch slot stays busy while its queue grows lowers the limit at arrival to its saturated
    /// queue time: with no `maxQueueTime`, a request that would wait behind a full batch is refused only when that
    /// limit is on.
    @Test(arguments: [true, false])
    func aSaturatedStageRefusesAtArrivalWhatWouldWaitBehindFullBatches(saturatedLimit: Bool) async throws {
        let gate = Gate()
        var batching = BatcherConfiguration()
        batching.maxBatchSize = 1
        batching.maxBatchesInFlight = 1
        batching.initialExecutionEstimate = .milliseconds(100)
        batching.maxQueueTime = nil
        batching.saturatedQueueTime = saturatedLimit ? .milliseconds(1) : nil
        batching.saturationInterval = .zero  // saturated as soon as every slot is busy
        batching.saturationTurnovers = 0
        batching.overloadQueueGrowth = 0  // overloaded as soon as the queue grows twice
        let held = FakeStage.inference { _ in await gate.pass() }
        try await InProcessMesh.with(batching: batching, inference: held) { mesh in
            // one request held in flight at inference, then two queued behind it, one at a time (the queue grew, and
            // measured afresh grew again): with the limit on, the second is refused at arrival
            let inference = try #require(mesh.router.batchers["m"]).inference
            var calls = [Task { await mesh.status(of: inferRequest(0)) }]
            defer { gate.open() }
            #expect(await eventually { inference.statistics.batchesInFlight == 1 })
            calls.append(Task { await mesh.status(of: inferRequest(1)) })
            #expect(await eventually { inference.statistics.queuedRequests == 1 })
            let third = Task { await mesh.status(of: inferRequest(2)) }
            if saturatedLimit {
                #expect(await third.value == .resourceExhausted)
            } else {
                #expect(await eventually { inference.statistics.queuedRequests == 2 })
                calls.append(third)
            }
            #expect(inference.statistics.batchesInFlight == 1)
            #expect(inference.predictedLatency(rows: 1, priority: 0).backlog > .milliseconds(1))
            let refusal = mesh.router.refusal(for: inferRequest(9), deadline: nil)
            if saturatedLimit {
                #expect(inference.predictedLatency(rows: 1, priority: 0).limit == .milliseconds(1))
                #expect(refusal?.code == .resourceExhausted, "\(String(describing: refusal))")
            } else {
                #expect(inference.predictedLatency(rows: 1, priority: 0).limit == nil)
                #expect(refusal == nil)
            }
            gate.open()
            for call in calls {
                #expect(await call.value == .ok)  // the admitted requests are answered
            }
        }
    }

    /// The bench's router without batching (one-row batches) under a closed loop of 64 requests in flight, more than
    /// the stages' batch slots: every slot stays busy and refilled from a standing queue, the router's defaults
    /// (saturated queue time on), and not one request is refused, since the queue never grows past the client's
    /// requests in flight. With the saturated limit keyed to saturation alone it refused nearly all of them.
    @Test func aClosedLoopWithMoreInFlightThanBatchSlotsIsNeverRefused() async throws {
        var batching = BatcherConfiguration()
        batching.maxBatchSize = 1
        batching.maxBatchesInFlight = 4
        batching.saturationInterval = .milliseconds(10)  // saturated early in the run
        #expect(batching.saturatedQueueTime != nil)  // on by default
        let slow = FakeStage.inference { _ in try await Task.sleep(for: .milliseconds(1)) }
        try await InProcessMesh.with(batching: batching, inference: slow) { mesh in
            let statuses = await withTaskGroup(of: [Status.Code].self) { group in
                for client in 0..<64 {
                    group.addTask {
                        var statuses: [Status.Code] = []
                        for index in 0..<20 {
                            statuses.append(await mesh.status(of: inferRequest(Float(client + index))))
                        }
                        return statuses
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count == 64 * 20)
            #expect(
                statuses.filter { $0 != .ok }.isEmpty,
                "\(Dictionary(grouping: statuses) { $0 }.mapValues(\.count))"
            )
        }
    }

    /// Arrivals outgrowing what a held stage completes: once the queue has grown by the allowance, and again by as
    /// much a saturation interval later, the stage is overloaded, and every further arrival that would wait behind a
    /// full batch is refused at once with `resource exhausted`; every request is answered.
    @Test func arrivalsOutgrowingCompletionsAreRefusedAtArrivalBeyondTheAllowance() async throws {
        let gate = Gate()
        var batching = BatcherConfiguration()
        batching.maxBatchSize = 1
        batching.maxBatchesInFlight = 1
        batching.initialExecutionEstimate = .milliseconds(10)
        batching.saturationInterval = .seconds(1)
        batching.saturationTurnovers = 0
        batching.overloadQueueGrowth = 8
        let held = FakeStage.inference { _ in await gate.pass() }
        try await InProcessMesh.with(batching: batching, inference: held) { mesh in
            let inference = try #require(mesh.router.batchers["m"]).inference
            let refused = RefusalCount()
            var calls: [Task<Status.Code, Never>] = []
            defer { gate.open() }
            /// Sends one request and waits until it is queued at inference (or in flight, the first) or refused.
            func send(_ index: Int) async {
                let queued = inference.statistics.queuedRequests
                let before = refused.value
                calls.append(
                    Task {
                        let status = await mesh.status(of: inferRequest(Float(index)))
                        if status == .resourceExhausted { refused.add() }
                        return status
                    }
                )
                let settled = await eventually {
                    inference.statistics.batchesInFlight == 1
                        && (inference.statistics.queuedRequests == queued + (index == 0 ? 0 : 1)
                            || refused.value > before)
                }
                #expect(settled)
            }
            await send(0)
            try await Task.sleep(for: .milliseconds(1_100))  // the slot busy for an interval: saturated
            // the queue grows past the allowance: suspect, not refused
            for index in 1...9 { await send(index) }
            #expect(inference.statistics.queuedRequests == 9 && refused.value == 0)
            try await Task.sleep(for: .milliseconds(1_100))  // an interval later, measured afresh
            // past the allowance again: overloaded, and from then on refused at arrival
            for index in 10...24 { await send(index) }
            #expect(inference.statistics.queuedRequests == 17)
            #expect(refused.value == 7)
            #expect(inference.predictedLatency(rows: 1, priority: 0).limit == batching.saturatedQueueTime)
            #expect(mesh.router.refusal(for: inferRequest(99), deadline: nil)?.code == .resourceExhausted)
            gate.open()
            var statuses: [Status.Code] = []
            for call in calls { statuses.append(await call.value) }
            #expect(statuses.filter { $0 == .ok }.count == 18)  // every request gets an answer
            #expect(statuses.filter { $0 == .resourceExhausted }.count == 7)
        }
    }
}

/// Requests refused so far, counted from the tasks that sent them.
private final class RefusalCount: Sendable {
    private let count = Mutex(0)
    var value: Int { self.count.withLock { $0 } }
    func add() { self.count.withLock { $0 += 1 } }
}
