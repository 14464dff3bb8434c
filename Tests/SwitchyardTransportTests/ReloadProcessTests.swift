import Foundation
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-echo` reloading its config file and certificates on SIGHUP and `admin.reload`, without a restart.
@Suite(.timeLimit(.minutes(2)))
struct ReloadProcessTests {
    static func client(_ port: Int, _ tls: TLSSettings) throws -> WireClient {
        try WireClient(configuration: WireClientConfiguration(host: "127.0.0.1", port: port, tls: tls), logger: Harness.logger)
    }

    static func tls(_ fixture: CertificateFixture, _ name: String, ca: String? = nil) -> TLSSettings {
        TLSSettings(caPath: ca ?? fixture.caPath, certificatePath: fixture.certificatePath(name), keyPath: fixture.keyPath(name))
    }

    static func waitFor(_ text: String, count: Int, in service: ServiceProcess) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            if service.log.components(separatedBy: text).count - 1 >= count { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func sighupSwapsCertificatesForNewConnectionsAndRefusesABrokenConfig() async throws {
        let old = try CertificateFixture(names: ["server", "client", "ops:admin"])
        let new = try CertificateFixture(names: ["server", "client"])
        defer {
            old.remove()
            new.remove()
        }
        let config = old.directory + "/echo.yaml"
        func write(_ settings: [String: String]) throws {
            let text = settings.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\n" }.joined()
            try text.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(["ca": old.caPath, "cert": old.certificatePath("server"), "key": old.keyPath("server"), "drain-seconds": "5"])
        let service = try await ServiceProcess("switchyard-echo", arguments: ["--config", config, "--port", "0"])
        defer { service.kill() }
        let health = Request(method: Method.health)
        let before = try Self.client(service.port, Self.tls(old, "client"))
        _ = try await before.call(health)
        await #expect(throws: (any Error).self) { try await Self.client(service.port, Self.tls(new, "client")).call(health) }

        // rotate: the new CA's certificate, and a bundle that trusts clients of both CAs
        let bundle = old.directory + "/bundle.pem"
        try (String(contentsOfFile: old.caPath, encoding: .utf8) + String(contentsOfFile: new.caPath, encoding: .utf8))
            .write(toFile: bundle, atomically: true, encoding: .utf8)
        try write(["ca": bundle, "cert": new.certificatePath("server"), "key": new.keyPath("server"), "drain-seconds": "5"])
        service.hangUp()
        #expect(await Self.waitFor("reloaded", count: 1, in: service))
        _ = try await before.call(health)  // the open connection keeps its context
        _ = try await Self.client(service.port, Self.tls(new, "client")).call(health)  // new ones get the new one
        await #expect(throws: (any Error).self) { try await Self.client(service.port, Self.tls(old, "client")).call(health) }

        // a certificate that does not load: refused, logged, the running one stays
        try write(["ca": bundle, "cert": new.directory + "/missing.pem", "key": new.keyPath("server"), "drain-seconds": "5"])
        service.hangUp()
        #expect(await Self.waitFor("reload refused", count: 1, in: service))
        #expect(service.log.contains("missing.pem"))
        _ = try await Self.client(service.port, Self.tls(new, "client")).call(health)
        // a setting out of range: refused the same way
        try write(["ca": bundle, "cert": new.certificatePath("server"), "key": new.keyPath("server"), "drain-seconds": "-1"])
        service.hangUp()
        #expect(await Self.waitFor("reload refused", count: 2, in: service))

        // admin.reload answers what needs a restart; only an admin may call it
        try write([
            "ca": bundle, "cert": new.certificatePath("server"), "key": new.keyPath("server"), "drain-seconds": "5",
            "max-in-flight": "8",
        ])
        let admin = try Self.client(service.port, Self.tls(old, "ops", ca: new.caPath))
        let answer = try await admin.call(Request(method: Method.adminReload))
        #expect(answer[parameter: ParameterKey.status] == "reloaded")
        #expect(answer.parameters.filter { $0.key == ParameterKey.restart }.map(\.value) == ["max-in-flight"])
        let refused = try #require(
            await #expect(throws: Status.self) {
                try await Self.client(service.port, Self.tls(new, "client")).call(Request(method: Method.adminReload))
            }
        )
        #expect(refused.code == .permissionDenied)
        service.terminate()
        #expect(await service.waitForExit() == 0)
    }
}
