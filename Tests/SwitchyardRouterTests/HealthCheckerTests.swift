import Logging
import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouter

/// The versions the router reports ready (the HTTP port's `.../versions/{v}/ready`) are those its healthy inference
/// instances say they have loaded.
struct HealthCheckerTests {
    /// An inference instance's health answer: the versions it serves, or a failure.
    final class Instance: WireService, Sendable {
        let models = Mutex<[String]?>([])

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            guard let models = self.models.withLock({ $0 }) else {
                throw Status(.unavailable, "no model is loaded yet")
            }
            return Response(parameters: [Parameter("status", "serving")] + models.map { Parameter("model", $0) })
        }
    }

    @Test func readyVersionsAreWhatHealthyInferenceInstancesServe() async throws {
        let (first, second) = (Instance(), Instance())
        first.models.withLock { $0 = ["digits/1", "digits/2", "other/7"] }
        second.models.withLock { $0 = ["digits/3"] }
        let logger = Logger(label: "test")
        let pool = UpstreamPool<ContinuousClock>(
            members: [
                .init(id: "a", upstream: InProcessUpstream(first)), .init(id: "b", upstream: InProcessUpstream(second)),
            ],
            logger: logger, metricDimensions: [("stage", "inference")])
        let checker = HealthChecker(targets: [.init(stage: "inference", pool: pool)], logger: logger)
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
