import ArgumentParser
import Logging
import SwitchyardGateway
import SwitchyardRuntime
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The wrappers a service runs in (metered, reloading, statistics, authorized) pass the service's refusal at arrival
/// on: without it the wire server never asks the router whether to shed a request before it starts.
struct RefusalPassThroughTests {
    /// Refuses every request at arrival; answers none.
    struct Refusing: WireService {
        func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
            Status(.resourceExhausted, "shed at arrival")
        }

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            Issue.record("a refused request reached the handler")
            return Response()
        }
    }

    /// A command the reloader can read settings for.
    struct Command: ServiceCommand {
        static let serviceName = "refusal-test"
        static let defaultPort = 0
        @OptionGroup var server: ServerOptions
    }

    @Test func everyWrapperPassesTheRefusalAtArrivalOn() throws {
        let certificates = InferenceServiceTests.certificates
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("inference"),
            keyPath: certificates.keyPath("inference")
        )
        let reloader = try Reloader<Command>(
            commandLine: [
                "--ca", certificates.caPath, "--cert", certificates.certificatePath("inference"),
                "--key", certificates.keyPath("inference"),
            ],
            environment: [:],
            credentials: try TLSCredentials(tls),
            signals: nil,
            logger: .init(label: "test")
        )
        let wrapped: [(String, any WireService)] = [
            ("metered", MeteredService(Refusing(), name: "test")),
            ("reloading", ReloadingService(Refusing(), reloader: reloader)),
            ("statistics", StatisticsRecordingService(Refusing(), statistics: InferenceStatistics())),
            (
                "authorized",
                AuthorizedService(Refusing(), policy: AuthorizationPolicy(service: "router"), withoutCertificate: [])
            ),
            (
                "all four",
                AuthorizedService(
                    StatisticsRecordingService(
                        ReloadingService(MeteredService(Refusing(), name: "test"), reloader: reloader),
                        statistics: InferenceStatistics()
                    ),
                    policy: AuthorizationPolicy(service: "router"),
                    withoutCertificate: []
                )
            ),
        ]
        let request = Request(method: Method.infer, model: "digits", tensors: [])
        for (name, service) in wrapped {
            let refusal = service.refusal(for: request, deadline: .now.advanced(by: .seconds(1)))
            #expect(refusal?.code == .resourceExhausted, "\(name) dropped the refusal")
        }
    }
}
