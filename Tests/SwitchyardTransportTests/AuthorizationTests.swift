import Logging
import MetricsTestKit
import Synchronization
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The authorization policy: roles from certificate names, the mesh's default rules, config entries, and refusals
/// over real TLS connections that stay usable.
struct AuthorizationTests {
    static let certificates: CertificateFixture = {
        try! CertificateFixture(names: ["server", "client", "ops:admin", "router", "readonly", "stranger"])
    }()

    static func peer(ou: [String] = [], uris: [String] = [], cn: String? = "x") -> PeerIdentity {
        PeerIdentity(commonName: cn, organizationalUnits: ou, uris: uris)
    }

    @Test func rolesComeFromTheOUAndTheSpiffeURIOfTheMeshsTrustDomain() {
        let policy = AuthorizationPolicy.defaults(service: "router")
        #expect(policy.roles(of: Self.peer(ou: ["router"])) == [.router])
        #expect(policy.roles(of: Self.peer(uris: ["spiffe://switchyard/app"])) == [.app])
        #expect(policy.roles(of: Self.peer(ou: ["readonly"], uris: ["spiffe://switchyard/app"])) == [.readonly, .app])
        #expect(policy.roles(of: Self.peer(cn: "admin")).isEmpty, "a common name alone gives no role")
        #expect(policy.roles(of: Self.peer(uris: ["spiffe://elsewhere/admin"])).isEmpty)
        #expect(policy.roles(of: Self.peer(ou: ["Admin", "admins"])).isEmpty)
        #expect(policy.roles(of: PeerIdentity()).isEmpty)
    }

    /// Whether `role` may call `method` on `service` under the mesh's defaults.
    struct Rule: Sendable, CustomTestStringConvertible {
        var service: String
        var role: Role
        var method: String
        var allowed: Bool
        init(_ service: String, _ role: Role, _ method: String, _ allowed: Bool) {
            (self.service, self.role, self.method, self.allowed) = (service, role, method, allowed)
        }
        var testDescription: String { "\(role) \(allowed ? "may" : "may not") call \(method) on \(service)" }
    }

    static let rules: [Rule] = [
        Rule("router", .app, Method.infer, true), Rule("router", .app, Method.feedback, true),
        Rule("router", .app, Method.health, true), Rule("router", .app, Method.rolloutStart, false),
        Rule("router", .app, Method.rolloutStatus, false), Rule("router", .app, Method.adminReload, false),
        Rule("router", .readonly, Method.rolloutStatus, true), Rule("router", .readonly, Method.poolList, true),
        Rule("router", .readonly, Method.batchingStatus, true), Rule("router", .readonly, Method.abReport, true),
        Rule("router", .readonly, Method.batchingSet, false), Rule("router", .readonly, Method.poolDrain, false),
        Rule("router", .readonly, Method.infer, false), Rule("router", .router, Method.releaseState, true),
        Rule("router", .router, Method.rolloutPromote, false), Rule("router", .admin, Method.rolloutPromote, true),
        Rule("router", .admin, "no.such.method", true), Rule("router", .app, "no.such.method", true),
        Rule("router", .app, Method.modelLoad, false), Rule("router", .admin, Method.modelLoad, true),
        Rule("inference", .app, Method.infer, false), Rule("inference", .router, Method.infer, true),
        Rule("inference", .router, Method.modelList, true), Rule("inference", .router, Method.modelUnload, false),
        Rule("inference", .readonly, Method.modelList, true), Rule("inference", .readonly, Method.modelLoad, false),
        Rule("inference", .admin, Method.modelLoad, true), Rule("preprocess", .app, Method.preprocess, false),
        Rule("preprocess", .router, Method.preprocess, true), Rule("postprocess", .router, Method.postprocess, true),
        Rule("postprocess", .inference, Method.postprocess, false), Rule("monitor", .app, Method.report, false),
        Rule("monitor", .inference, Method.report, true), Rule("monitor", .router, Method.report, true),
        Rule("monitor", .readonly, Method.report, false), Rule("monitor", .reporter, Method.report, true),
        Rule("router", .reporter, Method.infer, false), Rule("monitor", .readonly, AuthorizationPolicy.dashboard, true),
        Rule("monitor", .app, AuthorizationPolicy.dashboard, false), Rule("echo", .app, Method.echo, true),
    ]

    @Test(arguments: Self.rules)
    func theMeshsDefaultRules(_ rule: Rule) {
        let policy = AuthorizationPolicy.defaults(service: rule.service)
        #expect(policy.allows(rule.method, for: PeerIdentity(commonName: "x", roles: [rule.role])) == rule.allowed)
    }

    @Test func healthIsOpenToEveryPeerEvenWithoutACertificate() {
        for service in ["router", "inference", "preprocess", "postprocess", "monitor", "echo"] {
            #expect(AuthorizationPolicy.defaults(service: service).allows(Method.health, for: PeerIdentity()))
        }
    }

    @Test func configEntriesGrantRolesToIdentitiesAndSetWhoMayCallAMethod() throws {
        var policy = AuthorizationPolicy.defaults(service: "router")
        try policy.grant(entries: ["admin=cn:ops-oncall", "app=cn:shop-*,uri:spiffe://shop/web", "auditor=ou:audit"])
        try policy.allow(entries: ["rollout.status=auditor, app", "infer=*", "feedback=admin"])
        #expect(policy.roles(of: Self.peer(cn: "ops-oncall")) == [.admin])
        #expect(policy.roles(of: Self.peer(cn: "shop-7")) == [.app])
        #expect(policy.roles(of: Self.peer(cn: "shop")).isEmpty)
        #expect(policy.roles(of: Self.peer(uris: ["spiffe://shop/web"])) == [.app])
        let auditor = policy.resolve(Self.peer(ou: ["audit"]))
        #expect(policy.allows(Method.rolloutStatus, for: auditor))
        #expect(!policy.allows(Method.poolList, for: auditor))
        #expect(policy.allows(Method.infer, for: PeerIdentity()))
        #expect(!policy.allows(Method.feedback, for: PeerIdentity(roles: [.app])))
        #expect(policy.allows(Method.feedback, for: PeerIdentity(roles: [.admin])))
    }

    @Test(arguments: [
        ("roles", "router"), ("roles", "router="), ("roles", "=cn:x"), ("roles", "router=host:x"),
        ("roles", "Router=cn:x"), ("roles", "*=cn:x"), ("roles", "router=cn:"), ("allow", "infer"),
        ("allow", "infer=Not A Role"), ("allow", "infer=app,,router"),
    ])
    func malformedEntriesAreRefusedWithTheEntry(kind: String, entry: String) {
        var policy = AuthorizationPolicy.defaults(service: "router")
        let error = #expect(throws: TransportError.self) {
            if kind == "roles" { try policy.grant(entries: [entry]) } else { try policy.allow(entries: [entry]) }
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains(entry) == true, "\(error?.message ?? "")")
    }

    /// Counts the calls that reach a handler.
    final class Calls: Sendable {
        private let count = Mutex(0)
        func add() { self.count.withLock { $0 += 1 } }
        var value: Int { self.count.withLock { $0 } }
    }

    /// A server with `service`'s default policy, the handler counting the calls that reach it.
    static func serve(
        _ service: String,
        metrics: TestMetrics,
        _ body: @Sendable (Harness, Calls) async throws -> Void
    ) async throws {
        let reached = Calls()
        let handler = ClosureService { request, _ in
            reached.add()
            return Response(parameters: [Parameter("method", request.method)])
        }
        try await Harness.with(
            service: handler,
            configure: {
                $0.tls = TLSSettings(
                    caPath: Self.certificates.caPath,
                    certificatePath: Self.certificates.certificatePath("server"),
                    keyPath: Self.certificates.keyPath("server")
                )
                $0.authorization = AuthorizationPolicy.defaults(service: service, factory: metrics)
            }
        ) { harness, _ in
            try await body(harness, reached)
        }
    }

    static func client(_ harness: Harness, _ name: String) throws -> WireClient {
        let tls = TLSSettings(
            caPath: Self.certificates.caPath,
            certificatePath: Self.certificates.certificatePath(name),
            keyPath: Self.certificates.keyPath(name)
        )
        return try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: harness.port, tls: tls),
            logger: Harness.logger
        )
    }

    @Test func anAppCertificateCallingInferenceIsRefusedAndItsConnectionStaysUsable() async throws {
        let metrics = TestMetrics()
        try await Self.serve("inference", metrics: metrics) { harness, reached in
            let app = try Self.client(harness, "client")
            let refused = await #expect(throws: Status.self) {
                try await app.call(Request(method: Method.infer, model: "digits"))
            }
            #expect(refused?.code == .permissionDenied)
            let message = refused?.message ?? ""
            #expect(message.contains("CN=client") && message.contains("roles: app"), "\(message)")
            #expect(message.contains("'infer' on inference") && message.contains("admin, router"), "\(message)")
            #expect(reached.value == 0, "a refused call reached the handler")
            // the same connection answers what the app may call, and a second refusal
            #expect(try await app.call(Request(method: Method.health))[parameter: "method"] == "health")
            await #expect(throws: Status.self) { try await app.call(Request(method: Method.poolAdd)) }
            // a name that is no method of the protocol reaches the service, which answers not found
            #expect(try await app.call(Request(method: "train"))[parameter: "method"] == "train")
            #expect(harness.server.connectionCount == 1)
            let counter = try metrics.expectCounter(
                "switchyard_requests_denied_total",
                [("service", "inference"), ("method", "infer"), ("role", "app")]
            )
            #expect(counter.values == [1])
            let unknown = try metrics.expectCounter(
                "switchyard_requests_denied_total",
                [("service", "inference"), ("method", "unlisted"), ("role", "app")]
            )
            #expect(unknown.values == [1], "a protocol method the policy does not list is counted as unlisted")
            await app.close()

            let router = try Self.client(harness, "router")
            #expect(try await router.call(Request(method: Method.infer))[parameter: "method"] == "infer")
            await router.close()
            let admin = try Self.client(harness, "ops")
            #expect(try await admin.call(Request(method: Method.modelLoad))[parameter: "method"] == "model.load")
            await admin.close()
            #expect(reached.value == 4)
        }
    }

    @Test func aCertificateWithoutARoleMayCallOnlyHealth() async throws {
        let metrics = TestMetrics()
        try await Self.serve("router", metrics: metrics) { harness, _ in
            let stranger = try Self.client(harness, "stranger")
            let refused = await #expect(throws: Status.self) { try await stranger.call(Request(method: Method.infer)) }
            #expect(refused?.message.contains("CN=stranger (no roles)") == true, "\(refused?.message ?? "")")
            _ = try await stranger.call(Request(method: Method.health))
            await stranger.close()
            let counter = try metrics.expectCounter(
                "switchyard_requests_denied_total",
                [("service", "router"), ("method", "infer"), ("role", "none")]
            )
            #expect(counter.values == [1])
        }
    }

    @Test func readonlyReadsAndDoesNotChange() async throws {
        try await Self.serve("router", metrics: TestMetrics()) { harness, reached in
            let readonly = try Self.client(harness, "readonly")
            for method in [Method.rolloutStatus, Method.poolList, Method.batchingStatus, Method.abReport] {
                #expect(try await readonly.call(Request(method: method))[parameter: "method"] == method)
            }
            for method in [Method.rolloutStart, Method.poolDrain, Method.batchingSet, Method.adminReload, Method.infer]
            {
                let refused = await #expect(throws: Status.self) { try await readonly.call(Request(method: method)) }
                #expect(refused?.code == .permissionDenied)
            }
            #expect(reached.value == 4)
            await readonly.close()
        }
    }
}

/// The policy in front of a service called in-process (the router's HTTP gateway).
struct AuthorizedServiceTests {
    static let service = AuthorizedService(
        ClosureService { request, context in
            Response(parameters: [Parameter("roles", context.peer.roles.map(\.name).sorted().joined(separator: ","))])
        },
        policy: AuthorizationPolicy.defaults(service: "router", factory: TestMetrics()),
        withoutCertificate: [.app]
    )

    static func call(_ method: String, as peer: PeerIdentity) async throws -> Response {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let context = RequestContext(requestID: 1, deadline: nil, peer: peer, logger: logger)
        return try await Self.service.handle(Request(method: method), context: context)
    }

    @Test func aCallerWithoutACertificateHasTheGivenRoles() async throws {
        #expect(try await Self.call(Method.infer, as: PeerIdentity(announced: "http"))[parameter: "roles"] == "app")
        let refused = await #expect(throws: Status.self) {
            try await Self.call(Method.rolloutStart, as: PeerIdentity(announced: "http"))
        }
        #expect(refused?.code == .permissionDenied)
    }

    @Test func aCallerWithACertificateHasItsCertificatesRolesOnly() async throws {
        let readonly = PeerIdentity(commonName: "viewer", uris: ["spiffe://switchyard/readonly"])
        let refused = await #expect(throws: Status.self) { try await Self.call(Method.infer, as: readonly) }
        #expect(refused?.message.contains("CN=viewer") == true)
        #expect(try await Self.call(Method.poolList, as: readonly)[parameter: "roles"] == "readonly")
        let app = PeerIdentity(commonName: "shop", organizationalUnits: ["app"], roles: [.admin])
        #expect(try await Self.call(Method.infer, as: app)[parameter: "roles"] == "app", "roles come from the policy")
    }
}
