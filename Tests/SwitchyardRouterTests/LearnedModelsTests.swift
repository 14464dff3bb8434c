import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

/// The router serves the models its inference instances report (`health` and `model.list` on each check), not only
/// those it read at start; a model no instance serves is `not found` with the reason.
@Suite(.timeLimit(.minutes(2)))
struct LearnedModelsTests {
    /// An inference instance whose repository the test changes: `health`, `model.list` and `infer` as the real one
    /// answers them.
    final class Instance: WireService, Sendable {
        let versions = Mutex<[String: String]>([:])  // "model/version" -> state
        let inference = FakeStage.inference()

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            let versions = self.versions.withLock { $0 }
            switch request.method {
            case Method.health:
                return Response(
                    parameters: [Parameter(ParameterKey.status, "serving")]
                        + versions.filter { $0.value == "ready" }.keys.sorted().map { Parameter(ParameterKey.model, $0) }
                )
            case Method.modelList:
                let served = Set(versions.filter { $0.value == "ready" }.keys.map { String($0.split(separator: "/")[0]) })
                return Response(
                    parameters: versions.sorted { $0.key < $1.key }.map { Parameter($0.key, $0.value) }
                        + served.sorted().map { Parameter(ParameterKey.modelLimits, #"{"max_batch_size":4,"name":"\#($0)"}"#) }
                )
            default:
                guard versions["\(request.model)/1"] == "ready" else { throw Status(.notFound, "no model") }
                return try await self.inference.handle(request, context: context)
            }
        }
    }

    @Test func aModelLoadedOnAnInstanceBecomesRoutableAndAMissingOneSaysWhy() async throws {
        let instance = Instance()
        instance.versions.withLock { $0 = ["fraud/1": "ready", "churn/2": "failed: Gemm: shapes [1,3] and [4,2]"] }
        let pool = UpstreamPool(members: [.init(id: "b:7402", upstream: InProcessUpstream(instance))], logger: InProcessMesh.quiet)
        var configuration = HealthChecker.Configuration()
        configuration.interval = .milliseconds(20)
        let checker = HealthChecker(
            targets: [HealthChecker.Target(stage: "inference", pool: pool)], configuration: configuration,
            logger: InProcessMesh.quiet
        )
        let router = RouterService(
            models: [:], preprocess: InProcessUpstream(FakeStage.preprocess()), inference: pool,
            postprocess: InProcessUpstream(FakeStage.postprocess()), health: checker, logger: InProcessMesh.quiet,
            learning: BatcherConfiguration()
        )
        let running = Task {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await checker.run() }
                group.addTask { try await router.run() }
            }
        }
        defer { running.cancel() }
        #expect(await eventually { checker.servedModels == ["fraud"] })
        #expect(checker.limits(of: "fraud")?.maxBatchSize == 4)
        var request = inferRequest(2)
        request.model = "fraud"
        let answer = try await router.handle(request, context: RouterServiceTests.context())
        #expect(try column(answer.tensors, "out") == [30.1])
        #expect(router.models == ["fraud"])

        // failed to load: the instance's reason
        request.model = "churn"
        let failed = try #require(await #expect(throws: RouterError.self) { try await router.handle(request, context: RouterServiceTests.context()) })
        #expect(failed.status.code == .notFound)
        #expect(failed.message.contains("Gemm: shapes"), "\(failed.message)")
        // nowhere at all
        request.model = "ranking"
        let missing = try #require(await #expect(throws: RouterError.self) { try await router.handle(request, context: RouterServiceTests.context()) })
        #expect(missing.message.contains("models served: fraud"), "\(missing.message)")

        // loaded later on the instance: routable without a restart
        instance.versions.withLock { $0["ranking/1"] = "ready" }
        #expect(await eventually { checker.servedModels.contains("ranking") })
        _ = try await router.handle(request, context: RouterServiceTests.context())
        #expect(router.models == ["fraud", "ranking"])
    }
}
