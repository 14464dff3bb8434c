import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

@testable import SwitchyardRouter

/// Pinned versions get batchers of their own only when an inference instance serves them: callers naming versions
/// that do not exist cannot use up the few pinned batchers.
struct PinnedVersionTests {
    /// Answers `health` naming the versions it has loaded.
    struct Loaded: WireService {
        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            Response(parameters: [Parameter(ParameterKey.status, "serving"), Parameter(ParameterKey.model, "m/1")])
        }
    }

    @Test func onlyVersionsAnInstanceServesGetAPinnedBatcher() async throws {
        let pool = UpstreamPool(
            members: [.init(id: "inference-1", upstream: InProcessUpstream(Loaded()))], logger: InProcessMesh.quiet
        )
        let checker = HealthChecker(
            targets: [HealthChecker.Target(stage: "inference", pool: pool)], logger: InProcessMesh.quiet
        )
        let router = RouterService(
            models: ["m": BatcherConfiguration()], preprocess: InProcessUpstream(FakeStage.preprocess()),
            inference: InProcessUpstream(FakeStage.inference()), postprocess: InProcessUpstream(FakeStage.postprocess()),
            health: checker, logger: InProcessMesh.quiet
        )
        let running = Task { try await router.run() }
        defer { running.cancel() }
        // before any check: nothing is known to be served, so nothing is pinned (the request still goes, unbatched)
        _ = try await InProcessUpstream(router).call(inferRequest(1, version: "1"), deadline: nil)
        #expect(router.batchers.pinnedVersions(of: "m").isEmpty)
        await checker.checkAll()
        for version in ["1", "9", "10", "11"] {
            let response = try await InProcessUpstream(router).call(inferRequest(1, version: version), deadline: nil)
            #expect(response[parameter: ParameterKey.modelVersion] == version)  // the fake answers any version
        }
        #expect(router.batchers.pinnedVersions(of: "m") == ["1"])
    }
}
