import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
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

    /// A stage whose every batch slot stays busy lowers the limit at arrival to its saturated queue time: with no
    /// `maxQueueTime`, a request that would wait behind a full batch is refused only when that limit is on.
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
        let held = FakeStage.inference { _ in await gate.pass() }
        try await InProcessMesh.with(batching: batching, inference: held) { mesh in
            // one request held in flight at inference, one queued behind it
            let calls = (0..<2).map { index in Task { await mesh.status(of: inferRequest(Float(index))) } }
            defer { gate.open() }
            let inference = try #require(mesh.router.batchers["m"]).inference
            let backedUp = await eventually {
                inference.statistics.queuedRequests == 1 && inference.statistics.batchesInFlight == 1
            }
            #expect(backedUp)
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
}
