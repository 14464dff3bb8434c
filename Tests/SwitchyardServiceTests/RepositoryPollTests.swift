import Foundation
import Logging
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-inference --repository-poll-seconds`: an instance following its repository's files, as Triton's poll
/// mode does, so that every instance of a fleet picks up a model copied to it without `yard models load`.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RepositoryPollTests {
    /// The versions `model.list` names, with their states ("digits/1": "ready").
    static func versions(_ client: WireClient) async throws -> [String: String] {
        let answer = try await client.call(Request(method: Method.modelList), deadline: .now.advanced(by: .seconds(10)))
        let entries = answer.parameters.filter { $0.key.contains("/") }.map { ($0.key, $0.value) }
        return Dictionary(entries, uniquingKeysWith: { _, last in last })
    }

    /// Polls `model.list` (bounded) until `condition` holds; the last answer.
    static func wait(
        _ client: WireClient,
        until condition: ([String: String]) -> Bool
    ) async throws -> [String: String] {
        var versions = try await Self.versions(client)
        for _ in 0..<200 where !condition(versions) {
            try await Task.sleep(for: .milliseconds(100))
            versions = try await Self.versions(client)
        }
        return versions
    }

    @Test func anInstanceLoadsReloadsAndUnloadsVersionsAsItsFilesChange() async throws {
        let files = FileManager.default
        let repository = files.temporaryDirectory.appendingPathComponent("switchyard-poll-\(UUID().uuidString)").path
        defer { try? files.removeItem(atPath: repository) }
        try files.createDirectory(atPath: repository, withIntermediateDirectories: true)
        let certificates = InferenceServiceTests.certificates
        let service = try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--port", "0", "--models", repository, "--repository-poll-seconds", "0.2", "--ca", certificates.caPath,
                "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
            ]
        )
        defer { service.kill() }
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("router"),
            keyPath: certificates.keyPath("router")
        )
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let client = try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: service.port, tls: tls),
            logger: logger
        )
        defer { Task { await client.close() } }
        #expect(try await Self.versions(client).isEmpty)

        // a model copied in (complete, then moved into place, as a deployment tool does): loaded, warmed, served
        let source = packageRoot().appendingPathComponent("models/digits").path
        let staging = repository + ".staging"
        defer { try? files.removeItem(atPath: staging) }
        try files.copyItem(atPath: source, toPath: staging)
        try files.moveItem(atPath: staging, toPath: repository + "/digits")
        var versions = try await Self.wait(client) { $0["digits/1"] == "ready" }
        #expect(versions["digits/1"] == "ready", "\(versions)\n\(service.log)")

        // its file rewritten: reloaded in place, the old one serving until the new one is ready
        let model = repository + "/digits/1/model.onnx"
        let rewritten = repository + ".model.onnx"
        try Data(contentsOf: URL(fileURLWithPath: model)).write(to: URL(fileURLWithPath: rewritten))
        try files.setAttributes([.modificationDate: Date().addingTimeInterval(60)], ofItemAtPath: rewritten)
        #expect(rename(rewritten, model) == 0)
        var reloaded = false
        for _ in 0..<200 where !reloaded {
            reloaded = service.log.contains("model reloaded")
            if !reloaded { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(reloaded, "\(service.log)")
        #expect(try await Self.versions(client)["digits/1"] == "ready")

        // the model's directory removed: unloaded, and health no longer names it
        try files.removeItem(atPath: repository + "/digits")
        versions = try await Self.wait(client) { $0["digits/1"] == nil }
        #expect(versions["digits/1"] == nil, "\(versions)")
        #expect(service.log.contains("model unloaded"))
        service.terminate()
        #expect(await service.waitForExit() == 0)
    }
}
