import Foundation
import SwitchyardRuntime
import SwitchyardTesting
import Testing

struct ConfigFileTests {
    static func file(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-\(UUID().uuidString).yaml")
            .path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func fileThenEnvironmentThenCommandLine() throws {
        let path = try Self.file("port: 7400\nmax_batch_size: 32\nno-client-auth: true\nquiet: false\nhost: 0.0.0.0\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let arguments = try SettingsSources.arguments(
            commandLine: ["--config", path, "--port", "9000"],
            service: "router",
            environment: ["SWITCHYARD_ROUTER_MAX_QUEUE_SIZE": "16", "SWITCHYARD_OTHER_PORT": "1", "HOME": "/root"]
        )
        #expect(
            arguments == [
                "--host", "0.0.0.0", "--max-batch-size", "32", "--no-client-auth", "--port", "7400",
                "--max-queue-size", "16", "--port", "9000",
            ]
        )
    }

    /// A list repeats an option; a mapping gives `KEY=V1,V2` values (the authorization policy's roles and allow).
    @Test func listsAndMappingsBecomeRepeatedOptions() throws {
        let path = try Self.file(
            """
            roles:
              admin: [cn:ops, "ou:sre"]
              app: cn:shop-*
            allow:
              rollout.status: [readonly, app]
            inference: [10.0.0.1:7402, 10.0.0.2:7402]
            """
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let arguments = try SettingsSources.arguments(
            commandLine: ["--config", path],
            service: "router",
            environment: [:]
        )
        #expect(
            arguments == [
                "--allow", "rollout.status=readonly,app", "--inference", "10.0.0.1:7402", "--inference",
                "10.0.0.2:7402",
                "--roles", "admin=cn:ops,ou:sre", "--roles", "app=cn:shop-*",
            ]
        )
    }

    @Test func unusableFilesAreRefusedWithTheirName() throws {
        #expect(throws: (any Error).self) {
            try SettingsSources.arguments(
                commandLine: ["--config", "/nonexistent.yaml"],
                service: "x",
                environment: [:]
            )
        }
        let nested = try Self.file("tls:\n  ca:\n    path: a.pem\n")
        defer { try? FileManager.default.removeItem(atPath: nested) }
        #expect {
            try SettingsSources.arguments(commandLine: ["--config", nested], service: "x", environment: [:])
        } throws: { "\($0)".contains("'tls'") }
        let list = try Self.file("- a\n- b\n")
        defer { try? FileManager.default.removeItem(atPath: list) }
        #expect {
            try SettingsSources.arguments(commandLine: ["--config", list], service: "x", environment: [:])
        } throws: { "\($0)".contains("mapping") }
        #expect(throws: (any Error).self) {
            try SettingsSources.arguments(commandLine: ["--config"], service: "x", environment: [:])
        }
    }

    @Test func aServiceStartsFromItsConfigFileAndRefusesUnknownKeys() async throws {
        let certificates = InferenceServiceTests.certificates
        let good = try Self.file(
            """
            port: 0
            ca: \(certificates.caPath)
            cert: \(certificates.certificatePath("inference"))
            key: \(certificates.keyPath("inference"))
            drain-seconds: 2
            """
        )
        defer { try? FileManager.default.removeItem(atPath: good) }
        let service = try await ServiceProcess("switchyard-echo", arguments: ["--config", good])
        service.terminate()
        #expect(await service.waitForExit() == 0)
        let bad = try Self.file("port: 0\nca: x\ncert: y\nkey: z\nmax-inflight: 3\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        do {
            _ = try await ServiceProcess("switchyard-echo", arguments: ["--config", bad], timeout: .seconds(10))
            Issue.record("started with an unknown key")
        } catch {
            #expect("\(error)".contains("max-inflight"))
        }
    }
}
