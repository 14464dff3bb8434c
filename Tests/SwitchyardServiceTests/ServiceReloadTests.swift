import Foundation
import Logging
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Services reloading their config file on SIGHUP, as `systemctl reload` does: the router's stage pools and release
/// leader change without a restart, and a reload whose settings do not apply is refused as a whole (its new
/// certificates included).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServiceReloadTests {
    static func client(_ port: Int, _ fixture: CertificateFixture, _ name: String) throws -> WireClient {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let tls = TLSSettings(
            caPath: fixture.caPath, certificatePath: fixture.certificatePath(name), keyPath: fixture.keyPath(name)
        )
        return try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: port, tls: tls), logger: logger
        )
    }

    static func write(_ settings: [String: String], to path: String) throws {
        let text = settings.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\n" }.joined()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Sends SIGHUP and waits (bounded) until the log holds `text` `count` times.
    static func hangUp(_ service: ServiceProcess, expecting text: String, count: Int) async -> Bool {
        service.hangUp()
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            if service.log.components(separatedBy: text).count - 1 >= count { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func aReloadWhoseSettingsAreRefusedKeepsTheOldCertificates() async throws {
        let old = try CertificateFixture(names: ["preprocess", "client"])
        let new = try CertificateFixture(names: ["preprocess", "client"])
        defer {
            old.remove()
            new.remove()
        }
        let models = packageRoot().appendingPathComponent("models").path
        let config = old.directory + "/preprocess.yaml"
        let bundle = old.directory + "/bundle.pem"
        try (String(contentsOfFile: old.caPath, encoding: .utf8) + String(contentsOfFile: new.caPath, encoding: .utf8))
            .write(toFile: bundle, atomically: true, encoding: .utf8)
        let first = [
            "ca": old.caPath, "cert": old.certificatePath("preprocess"), "key": old.keyPath("preprocess"),
            "models": models,
        ]
        try Self.write(first, to: config)
        let service = try await ServiceProcess("switchyard-preprocess", arguments: ["--config", config, "--port", "0"])
        defer { service.kill() }
        let health = Request(method: Method.health)
        _ = try await Self.client(service.port, old, "client").call(health)

        // new certificates, but a repository that cannot be read: nothing changes, the certificates neither
        var rotated = ["ca": bundle, "cert": new.certificatePath("preprocess"), "key": new.keyPath("preprocess")]
        try Self.write(rotated.merging(["models": old.directory + "/no-such-repository"]) { $1 }, to: config)
        #expect(await Self.hangUp(service, expecting: "reload refused", count: 1))
        #expect(service.log.contains("no-such-repository"))
        // a new connection: still the old certificate
        _ = try await Self.client(service.port, old, "client").call(health)
        await #expect(throws: (any Error).self) { try await Self.client(service.port, new, "client").call(health) }

        // the same certificates with a readable repository: both take effect
        rotated["models"] = models
        try Self.write(rotated, to: config)
        #expect(await Self.hangUp(service, expecting: "reloaded", count: 1))
        _ = try await Self.client(service.port, new, "client").call(health)
        await #expect(throws: (any Error).self) { try await Self.client(service.port, old, "client").call(health) }
        service.terminate()
        #expect(await service.waitForExit() == 0)
    }

    /// The instances of each stage of `pool.list`, by stage.
    static func pools(_ client: WireClient) async throws -> [String: [String]] {
        let answer = try await client.call(Request(method: Method.poolList), deadline: .now.advanced(by: .seconds(10)))
        let json = try #require(answer[parameter: ParameterKey.pools])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let stages = try #require(object["stages"] as? [[String: Any]])
        var result: [String: [String]] = [:]
        for stage in stages {
            let instances = (stage["instances"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            result[stage["stage"] as? String ?? ""] = instances.sorted()
        }
        return result
    }

    /// The first certificate (base64, one line) a TLS server on `port` presents, by `openssl s_client`.
    static func presentedCertificate(port: Int, _ fixture: CertificateFixture) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", fixture.caPath,
            "-cert", fixture.certificatePath("ops"), "-key", fixture.keyPath("ops"),
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Self.firstCertificate(text)
    }

    /// The base64 body of the first PEM certificate in `text`, on one line.
    static func firstCertificate(_ text: String) -> String {
        guard let begin = text.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = text.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<text.endIndex)
        else { return "" }
        return text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
    }

    @Test func theRouterChangesItsPoolsAndLeaderOnSighupAndRefusesBadLists() async throws {
        let certificates = try CertificateFixture(names: ["router", "spare", "ops:admin"])
        defer { certificates.remove() }
        let config = certificates.directory + "/router.yaml"
        let files = FileManager.default
        // addresses nobody listens on: membership does not wait for health
        var settings = [
            "ca": certificates.caPath, "cert": certificates.certificatePath("router"),
            "key": certificates.keyPath("router"), "models": certificates.directory + "/no-repository",
            "preprocess": "127.0.0.1:9", "inference": "127.0.0.1:11",
            "postprocess": "127.0.0.1:13", "release-leader": "127.0.0.1:17", "health-check-interval-ms": "200",
            "http-port": "0",
        ]
        try Self.write(settings, to: config)
        let router = try await ServiceProcess("switchyard-router", arguments: ["--config", config, "--port", "0"])
        defer { router.kill() }
        let ops = try Self.client(router.port, certificates, "ops")
        defer { Task { await ops.close() } }
        var pools = try await Self.pools(ops)
        #expect(pools["inference"] == ["127.0.0.1:11"] && pools["release-leader"] == ["127.0.0.1:17"])

        // the HTTP port presents the router's certificate
        let log = router.log
        let url = try #require(log.range(of: #"https://127\.0\.0\.1:[0-9]+/"#, options: .regularExpression))
        let httpPort = try #require(Int(log[url].dropFirst("https://127.0.0.1:".count).dropLast()))
        func certificate(_ name: String) throws -> String {
            Self.firstCertificate(try String(contentsOfFile: certificates.certificatePath(name), encoding: .utf8))
        }
        let original = try certificate("router")
        let spare = try certificate("spare")
        #expect(!original.isEmpty)
        #expect(try Self.presentedCertificate(port: httpPort, certificates) == original)

        // a second inference instance, another leader, and the certificate files rewritten in place
        settings["inference"] = "127.0.0.1:11,127.0.0.1:15"
        settings["release-leader"] = "127.0.0.1:19"
        try Self.write(settings, to: config)
        for suffix in [".pem", ".key"] {
            let path = certificates.directory + "/router" + suffix
            try files.removeItem(atPath: path)
            try files.copyItem(atPath: certificates.directory + "/spare" + suffix, toPath: path)
        }
        #expect(await Self.hangUp(router, expecting: "reloaded", count: 1))
        pools = try await Self.pools(ops)
        #expect(pools["inference"] == ["127.0.0.1:11", "127.0.0.1:15"])
        #expect(pools["release-leader"] == ["127.0.0.1:19"])
        #expect(try Self.presentedCertificate(port: httpPort, certificates) == spare)
        #expect(try Self.presentedCertificate(port: router.port, certificates) == spare)

        // a list that does not parse, then a follower told to stop following: refused, the pools stay
        settings["inference"] = "127.0.0.1"
        try Self.write(settings, to: config)
        #expect(await Self.hangUp(router, expecting: "reload refused", count: 1))
        settings["inference"] = "127.0.0.1:21"
        settings["release-leader"] = nil
        try Self.write(settings, to: config)
        #expect(await Self.hangUp(router, expecting: "reload refused", count: 2))
        #expect(router.log.contains("follows a leader until it restarts"))
        pools = try await Self.pools(ops)
        #expect(pools["inference"] == ["127.0.0.1:11", "127.0.0.1:15"])
        #expect(pools["release-leader"] == ["127.0.0.1:19"])
        router.terminate()
        #expect(await router.waitForExit() == 0)
    }
}
