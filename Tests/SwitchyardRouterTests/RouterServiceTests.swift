import Foundation
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The router constructed in this process, its stages fakes behind in-process upstreams: the request path,
/// batching toward a stage, deadlines in queues, and failures answered with the right status.
@Suite(.timeLimit(.minutes(2)))
struct RouterServiceTests {
    @Test func aRequestGoesThroughPreprocessInferenceAndPostprocessInOrder() async throws {
        try await InProcessMesh.with { mesh in
            var request = inferRequest(4)
            request.parameters = [Parameter("k", "3")]
            request.priority = 7
            let response = try await mesh.call(request)
            // (4 + 1) × 10 + version 1 / 10
            #expect(try column(response.tensors, "out") == [50.1])
            #expect(response[parameter: ParameterKey.modelVersion] == "1")
            let preprocess = try #require(mesh.preprocess.requests.first)
            #expect(preprocess.method == Method.preprocess && preprocess.model == "m")
            #expect(preprocess.parameters == [Parameter("k", "3")])  // the caller's parameters go to the pipeline
            let inference = try #require(mesh.inference.requests.first)
            #expect(inference.method == Method.infer && inference.version.isEmpty)
            #expect(try column(inference, "x") == [5])
            let postprocess = try #require(mesh.postprocess.requests.first)
            #expect(postprocess.method == Method.postprocess && postprocess.version == "1")
            #expect(postprocess.parameters == [Parameter("k", "3")])
            // the caller's priority orders every stage's batch queue
            #expect([preprocess, inference, postprocess].map(\.priority) == [7, 7, 7])
        }
    }

    @Test func aPinnedVersionIsAskedForAndNamedInTheAnswer() async throws {
        try await InProcessMesh.with { mesh in
            let response = try await mesh.call(inferRequest(1, version: "7"))
            #expect(response[parameter: ParameterKey.modelVersion] == "7")
            #expect(try column(response.tensors, "out") == [20.7])
            #expect(mesh.inference.requests.map(\.version) == ["7"])
        }
    }

    @Test func requestsQueuedWhileInferenceIsBusyLeaveAsOneBatch() async throws {
        let gate = Gate()
        // the first call holds inference busy; the rest queue behind it and leave together when the batch is full
        let inference = FakeStage.inference { request in if try column(request, "x") == [1] { await gate.pass() } }
        let batching = BatcherConfiguration.defaults {
            $0.maxBatchSize = 5
            $0.maxBatchesInFlight = 2
            $0.idleBatchesInFlight = 1
            $0.maxQueueDelay = .seconds(30)  // only a full batch leaves
        }
        try await InProcessMesh.with(batching: batching, inference: inference) { mesh in
            let first = Task { try await mesh.call(inferRequest(0)) }
            #expect(await eventually { gate.waiting == 1 })
            let answers = try await withThrowingTaskGroup(of: (Float, [Float]).self) { group in
                for x in 1...5 {
                    group.addTask { (Float(x), try column(try await mesh.call(inferRequest(Float(x))).tensors, "out")) }
                }
                #expect(await eventually { mesh.inference.requests.count == 2 })
                gate.open()
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(try column(try await first.value.tensors, "out") == [10.1])
            // each caller gets its own row back
            for x in 1...5 { #expect(answers[Float(x)] == [(Float(x) + 1) * 10 + 0.1]) }
            #expect(mesh.inference.requests.map(rows) == [1, 5])
        }
    }

    @Test func aRequestWhoseDeadlinePassesInTheQueueIsAnsweredDeadlineExceededWithoutBeingSent() async throws {
        let gate = Gate()
        let inference = FakeStage.inference { _ in await gate.pass() }
        let batching = BatcherConfiguration.defaults {
            $0.maxBatchesInFlight = 1
            $0.idleBatchesInFlight = 1
        }
        try await InProcessMesh.with(batching: batching, inference: inference) { mesh in
            let first = Task { try await mesh.call(inferRequest(0)) }
            #expect(await eventually { gate.waiting == 1 })
            // straight to the router (no transport racing the deadline): the batcher's queue answers it
            let context = RequestContext(
                requestID: 2,
                deadline: .now.advanced(by: .seconds(2)),
                peer: InProcessMesh.anyone,
                logger: InProcessMesh.quiet
            )
            let error = await #expect(throws: RoutingError.self) {
                try await mesh.router.handle(inferRequest(1), context: context)
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(mesh.inference.requests.count == 1)  // the expired request never reached inference
            gate.open()
            let answer = try await first.value
            #expect(try column(answer.tensors, "out") == [10.1])
            #expect(mesh.inference.requests.count == 1)
        }
    }

    @Test func aBadRequestInABatchGetsInvalidArgumentAndItsBatchMatesTheirAnswers() async throws {
        let gate = Gate()
        let inference = FakeStage.inference { request in if try column(request, "x") == [1] { await gate.pass() } }
        let batching = BatcherConfiguration.defaults {
            $0.maxBatchSize = 3
            $0.maxBatchesInFlight = 2
            $0.idleBatchesInFlight = 1
            $0.maxQueueDelay = .seconds(30)
        }
        try await InProcessMesh.with(batching: batching, inference: inference) { mesh in
            let first = Task { try await mesh.call(inferRequest(0)) }
            #expect(await eventually { gate.waiting == 1 })
            // -2 becomes -1 after preprocessing: inference refuses it, and with it the batch it is in
            async let bad = mesh.status(of: inferRequest(-2))
            async let good1 = mesh.call(inferRequest(2))
            async let good2 = mesh.call(inferRequest(3))
            #expect(await eventually { mesh.inference.requests.count >= 2 })
            gate.open()
            #expect(await bad == .invalidArgument)
            #expect(try column(try await good1.tensors, "out") == [30.1])
            #expect(try column(try await good2.tensors, "out") == [40.1])
            _ = try await first.value
            // the batch of three, then each of its members alone
            #expect(mesh.inference.requests.map(rows) == [1, 3, 1, 1, 1])
        }
    }

    @Test func anUpstreamFailureReachesTheCallerWithItsStatus() async throws {
        let inference = FakeStage.inference { _ in throw Status(.unavailable, "the model is still loading") }
        try await InProcessMesh.with(inference: inference) { mesh in
            #expect(await mesh.status(of: inferRequest(1)) == .unavailable)
            #expect(mesh.postprocess.requests.isEmpty)
            // and the router keeps serving: the next request is answered too
            #expect(await mesh.status(of: inferRequest(2)) == .unavailable)
        }
    }

    @Test func unknownModelsAndMethodsAreNotFoundAndReleaseMethodsNeedReleases() async throws {
        try await InProcessMesh.with { mesh in
            var request = inferRequest(1)
            request.model = "nope"
            await #expect(throws: RouterError.self) { try await mesh.router.handle(request, context: Self.context()) }
            #expect(await mesh.status(of: request) == .notFound)
            #expect(await mesh.status(of: Request(method: "train", model: "m")) == .notFound)
            #expect(await mesh.status(of: Request(method: Method.rolloutStatus, model: "m")) == .unimplemented)
            let health = try await mesh.call(Request(method: Method.health))
            #expect(health[parameter: ParameterKey.status] == "serving")
            #expect(health[parameter: ParameterKey.model] == "m")
            #expect(mesh.preprocess.requests.isEmpty)
        }
    }

    static func context(peer: PeerIdentity = InProcessMesh.anyone) -> RequestContext {
        RequestContext(requestID: 1, deadline: nil, peer: peer, logger: InProcessMesh.quiet)
    }
}

/// Batching limits changed while the router serves (`batching.set`), read back with `batching.status`.
@Suite(.timeLimit(.minutes(2)))
struct RouterBatchingTests {
    static func status(_ response: Response) throws -> BatchingStatus {
        try JSONDecoder().decode(
            BatchingStatus.self,
            from: Data((response[parameter: ParameterKey.batching] ?? "").utf8)
        )
    }

    @Test func newLimitsApplyToTheNextBatches() async throws {
        let gate = Gate()
        let inference = FakeStage.inference { request in if try column(request, "x") == [1] { await gate.pass() } }
        let batching = BatcherConfiguration.defaults {
            $0.maxBatchSize = 5
            $0.maxBatchesInFlight = 2
            $0.idleBatchesInFlight = 1
            $0.maxQueueDelay = .seconds(30)
        }
        try await InProcessMesh.with(batching: batching, inference: inference) { mesh in
            let before = try Self.status(try await mesh.call(Request(method: Method.batchingStatus, model: "m")))
            #expect(before == BatchingStatus(model: "m", batching))
            let set = Request(
                method: Method.batchingSet,
                model: "m",
                parameters: [Parameter(ParameterKey.maxBatchSize, "2")]
            )
            let after = try Self.status(try await mesh.call(set, peer: InProcessMesh.admin))
            #expect(after.maxBatchSize == 2 && after.maxQueueSize == batching.maxQueueSize)

            let first = Task { try await mesh.call(inferRequest(0)) }
            #expect(await eventually { gate.waiting == 1 })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for x in 1...4 { group.addTask { _ = try await mesh.call(inferRequest(Float(x))) } }
                // full batches of two leave beside the held call (at the old limit of five, four would wait for
                // the 30 s queue delay)
                #expect(await eventually { mesh.inference.requests.count == 3 }, "\(mesh.inference.requests.map(rows))")
                gate.open()
                try await group.waitForAll()
            }
            _ = try await first.value
            #expect(mesh.inference.requests.map(rows) == [1, 2, 2])
        }
    }

    @Test func badLimitsAreRefusedWithTheirNames() async throws {
        try await InProcessMesh.with { mesh in
            for parameters in [
                [Parameter(ParameterKey.maxBatchSize, "0")], [Parameter(ParameterKey.maxQueueDelayMicroseconds, "x")],
                [Parameter(ParameterKey.preferredBatchSizes, "8,-1")],
                [Parameter(ParameterKey.maxBatchesInFlight, "65")],
                [],
            ] {
                let request = Request(method: Method.batchingSet, model: "m", parameters: parameters)
                let error = await #expect(throws: RouterError.self) {
                    try await mesh.router.handle(
                        request,
                        context: RouterServiceTests.context(peer: InProcessMesh.admin)
                    )
                }
                #expect(error?.code == .invalidArgument)
                #expect(
                    error?.message.contains(parameters.first?.key ?? "at least one") == true,
                    "\(error?.message ?? "")"
                )
            }
            let unknown = Request(method: Method.batchingStatus, model: "nope")
            #expect(await mesh.status(of: unknown) == .notFound)
            let unchanged = try Self.status(try await mesh.call(Request(method: Method.batchingStatus, model: "m")))
            #expect(unchanged == BatchingStatus(model: "m", BatcherConfiguration()))
        }
    }
}
