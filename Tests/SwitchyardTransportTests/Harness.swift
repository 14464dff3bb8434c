import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire

/// A real server on a loopback port with fresh certificates, torn down when `body` returns.
struct Harness {
    static let certificates: CertificateFixture = {
        try! CertificateFixture(names: ["server", "client", "ops:admin"])
    }()
    static let foreign: CertificateFixture = { try! CertificateFixture(names: ["intruder"]) }()

    let server: WireServer
    let port: Int

    static var serverTLS: TLSSettings {
        TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("server"),
            keyPath: certificates.keyPath("server")
        )
    }

    static func clientTLS(_ name: String = "client", fixture: CertificateFixture = certificates) -> TLSSettings {
        TLSSettings(
            caPath: certificates.caPath,
            certificatePath: fixture.certificatePath(name),
            keyPath: fixture.keyPath(name)
        )
    }

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` against a server; the server runs in a ServiceGroup so tests can trigger graceful shutdown.
    static func with<T: Sendable>(
        service: any WireService = EchoService(),
        configure: (inout WireServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (Harness, ServiceGroup) async throws -> T
    ) async throws -> T {
        var configuration = WireServerConfiguration(tls: serverTLS, identity: "test-server")
        configuration.handshakeTimeout = .seconds(30)  // a machine busy with other tests can take seconds for TLS
        configure(&configuration)
        let server = WireServer(configuration: configuration, service: service, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress().port!
            do {
                let result = try await body(Harness(server: server, port: port), group)
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
                return result
            } catch {
                tasks.cancelAll()
                throw error
            }
        }
    }

    func client(
        connections: Int = 1,
        name: String = "client",
        configure: (inout WireClientConfiguration) -> Void = { _ in }
    ) throws -> WireClient {
        var configuration = WireClientConfiguration(host: "127.0.0.1", port: self.port, tls: Self.clientTLS(name))
        configuration.connections = connections
        configure(&configuration)
        return try WireClient(configuration: configuration, logger: Self.logger)
    }

    /// A raw TLS peer with a valid client certificate (for sending malformed frames).
    func rawPeer() async throws -> RawPeer {
        try await RawPeer.connect(port: self.port, tls: try Self.clientTLS().makeClientContext())
    }
}

/// Records what handlers saw, across tasks.
actor Recorder {
    var events: [String] = []
    func record(_ event: String) { self.events.append(event) }
    func waitFor(_ event: String, timeout: Duration = .seconds(20)) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if self.events.contains(event) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return self.events.contains(event)
    }
}
