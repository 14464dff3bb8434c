import Foundation
import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouter

/// The router's active health checks against stage instances in this process: readiness follows the instances'
/// `health` answers, and the router's own `health` says why it is not ready.
@Suite(.timeLimit(.minutes(2)))
struct HealthCheckerTests {
    /// A stage instance whose `health` answer the test switches.
    final class Instance: WireService, Sendable {
        let healthy = Atomic<Bool>(true)
        let checks = Atomic<Int>(0)

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            self.checks.add(1, ordering: .relaxed)
            guard self.healthy.load(ordering: .relaxed) else { throw Status(.unavailable, "draining") }
            return Response(parameters: [Parameter(ParameterKey.status, "serving")])
        }
    }

    @Test func readinessFollowsTheInstancesHealthAndTheRouterSaysWhy() async throws {
        let first = Instance()
        let second = Instance()
        let pool = UpstreamPool(
            members: [
                .init(id: "inference-1", upstream: InProcessUpstream(first)),
                .init(id: "inference-2", upstream: InProcessUpstream(second)),
            ],
            clock: ContinuousClock(), logger: InProcessMesh.quiet
        )
        var configuration = HealthChecker.Configuration()
        configuration.interval = .milliseconds(5)
        configuration.unhealthyThreshold = 1
        let checker = HealthChecker(
            targets: [HealthChecker.Target(stage: "inference", pool: pool)], configuration: configuration,
            logger: InProcessMesh.quiet
        )
        #expect(checker.notReadyReason == "the inference instances have not been checked yet")
        let stage = FakeStage.inference()
        let router = RouterService(
            models: ["m": BatcherConfiguration()], preprocess: InProcessUpstream(stage), inference: pool,
            postprocess: InProcessUpstream(stage), health: checker, logger: InProcessMesh.quiet
        )
        let running = Task { try await checker.run() }
        defer { running.cancel() }
        #expect(await eventually { checker.notReadyReason == nil })
        first.healthy.store(false, ordering: .relaxed)
        // after two more rounds (the first instance now failing) one healthy instance is left: still ready
        let seen = first.checks.load(ordering: .relaxed)
        #expect(await eventually { first.checks.load(ordering: .relaxed) >= seen + 2 })
        #expect(checker.notReadyReason == nil)
        second.healthy.store(false, ordering: .relaxed)
        #expect(await eventually { checker.notReadyReason != nil })
        let error = await #expect(throws: RouterError.self) {
            try await router.handle(Request(method: Method.health), context: RouterServiceTests.context())
        }
        #expect(error?.status.code == .unavailable)
        #expect(error?.message.contains("no inference instance passes its health check") == true)
        second.healthy.store(true, ordering: .relaxed)
        #expect(await eventually { checker.notReadyReason == nil })
        _ = try await router.handle(Request(method: Method.health), context: RouterServiceTests.context())
    }

    @Test func aPassedCheckReadmitsAnInstanceThatOutlierDetectionEjected() async throws {
        let flaky = Instance()
        let other = Instance()
        // `infer` fails on the flaky instance, `health` passes: ejected by its answers, re-admitted by its checks
        let failing = FailingInfer(inner: InProcessUpstream(flaky))
        let pool = UpstreamPool(
            members: [.init(id: "flaky", upstream: failing), .init(id: "other", upstream: InProcessUpstream(other))],
            clock: ContinuousClock(), logger: InProcessMesh.quiet
        )
        var request = Request(method: Method.infer, model: "m")
        request.idempotent = false
        for _ in 0..<40 where !(pool.statistics.first?.ejected ?? true) { _ = try? await pool.call(request, deadline: nil) }
        #expect(pool.statistics.map(\.ejected) == [true, false])
        var configuration = HealthChecker.Configuration()
        configuration.interval = .milliseconds(5)
        let checker = HealthChecker(
            targets: [HealthChecker.Target(stage: "inference", pool: pool)], configuration: configuration,
            logger: InProcessMesh.quiet
        )
        let running = Task { try await checker.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while pool.statistics.first?.ejected == true, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(pool.statistics.map(\.ejected) == [false, false])
    }

    /// Fails every method but `health` with `internal`.
    struct FailingInfer: Upstream {
        let inner: InProcessUpstream

        func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
            guard request.method == Method.health else { throw Status(.internalError, "broken model") }
            return try await self.inner.call(request, deadline: deadline)
        }
    }

    /// An inference instance's health answer: the versions it serves ("model/version"), or a failure.
    final class LoadedVersions: WireService, Sendable {
        let models = Mutex<[String]?>([])

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            guard let models = self.models.withLock({ $0 }) else { throw Status(.unavailable, "no model is loaded yet") }
            return Response(parameters: [Parameter(ParameterKey.status, "serving")] + models.map { Parameter(ParameterKey.model, $0) })
        }
    }

    /// The versions the router reports ready (the HTTP port's `.../versions/{v}/ready`) are those its healthy
    /// inference instances say they have loaded.
    @Test func readyVersionsAreWhatHealthyInferenceInstancesServe() async throws {
        let (first, second) = (LoadedVersions(), LoadedVersions())
        first.models.withLock { $0 = ["digits/1", "digits/2", "other/7"] }
        second.models.withLock { $0 = ["digits/3"] }
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: InProcessUpstream(first)), .init(id: "b", upstream: InProcessUpstream(second))],
            clock: ContinuousClock(), logger: InProcessMesh.quiet
        )
        let checker = HealthChecker(targets: [.init(stage: "inference", pool: pool)], logger: InProcessMesh.quiet)
        #expect(checker.readyVersions(of: "digits") == nil)  // nothing checked yet: unknown
        await checker.checkAll()
        #expect(checker.readyVersions(of: "digits") == ["1", "2", "3"])
        #expect(checker.readyVersions(of: "other") == ["7"])
        #expect(checker.readyVersions(of: "nope") == [])
        second.models.withLock { $0 = nil }  // fails its checks: its versions no longer count once it is unhealthy
        await checker.checkAll()
        await checker.checkAll()
        #expect(checker.readyVersions(of: "digits") == ["1", "2"])
    }
}
