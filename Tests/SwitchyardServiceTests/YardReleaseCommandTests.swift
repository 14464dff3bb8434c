import Foundation
import SwitchyardTesting
import Testing

/// The release engineer's commands against real services: `yard rollout`, `yard ab`, `yard models`.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct YardReleaseCommandTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `yard` with the certificate `name`, or with none given (`nil`: yard's defaults under `ops/certs/out`,
    /// relative to `directory`).
    static func yard(_ arguments: [String], as name: String? = "ops", in directory: String? = nil) throws -> Result {
        let certificates = InferenceServiceTests.certificates
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "yard"
        ).path
        let executable =
            FileManager.default.isExecutableFile(atPath: binary)
            ? binary
            : URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("yard").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            arguments
            + (name.map {
                [
                    "--ca", certificates.caPath, "--cert", certificates.certificatePath($0), "--key",
                    certificates.keyPath($0),
                ]
            } ?? [])
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("yard-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: output.path + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: output.path + ".out")
            try? FileManager.default.removeItem(atPath: output.path + ".err")
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path + ".out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path + ".err"))
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: try String(contentsOfFile: output.path + ".out", encoding: .utf8),
            stderr: try String(contentsOfFile: output.path + ".err", encoding: .utf8)
        )
    }

    @Test func rolloutAndComparisonCommandsPrintTablesAndRefuseNonAdmins() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let router = ["--router", "127.0.0.1:\(mesh.router.port)"]
        let refused = try Self.yard(
            ["rollout", "start", "--model", "digits", "--candidate", "2", "--stable", "1"] + router,
            as: "app"
        )
        #expect(refused.status == 1 && refused.stderr.contains("permission denied"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1)
        let started = try Self.yard(
            ["rollout", "start", "--model", "digits", "--candidate", "2", "--stable", "1", "--steps", "10,100"] + router
        )
        #expect(started.status == 0, "\(started.stderr)")
        #expect(
            started.stdout.contains("digits") && started.stdout.contains("progressing")
                && started.stdout.contains("10.0%"),
            "\(started.stdout)"
        )
        let json = try Self.yard(["rollout", "status", "--json"] + router, as: "readonly")
        #expect(json.status == 0 && json.stdout.contains("\"candidate_percent\":10"), "\(json.stdout)")
        let aborted = try Self.yard(["rollout", "abort", "--model", "digits"] + router)
        #expect(aborted.stdout.contains("aborted by an operator"), "\(aborted.stdout)")
        let ab = try Self.yard(
            ["ab", "start", "--model", "digits", "--champion", "1", "--challenger", "4", "--mode", "shadow"] + router
        )
        #expect(ab.status == 0 && ab.stdout.contains("verdict: too few labelled requests"), "\(ab.stdout) \(ab.stderr)")
        let report = try Self.yard(["ab", "report", "--model", "digits", "--json"] + router, as: "readonly")
        #expect(report.status == 0 && report.stdout.contains("\"mode\":\"shadow\""), "\(report.stdout)")
        let bad = try Self.yard(["ab", "start", "--model", "digits", "--champion", "1", "--challenger", "2"] + router)
        #expect(bad.status == 1 && bad.stderr.contains("failed precondition"), "\(bad.stderr)")
        let unreachable = try Self.yard(["rollout", "status", "--router", "127.0.0.1:1"])
        #expect(
            unreachable.status == 1 && unreachable.stderr.contains("cannot reach the router"),
            "\(unreachable.stderr)"
        )
        // batching limits changed on the running router
        let batching = try Self.yard(
            ["batching", "set", "--model", "digits", "--max-batch-size", "16", "--preferred-batch-sizes", "8,16"]
                + router
        )
        #expect(batching.status == 0 && batching.stdout.contains("max batch size         16"), "\(batching.stdout)")
        let shown = try Self.yard(["batching", "status", "--model", "digits", "--json"] + router, as: "readonly")
        #expect(
            shown.stdout.contains("\"max_batch_size\":16") && shown.stdout.contains("\"preferred_batch_sizes\":[8,16]")
        )
        let notAdmin = try Self.yard(
            ["batching", "set", "--model", "digits", "--max-batch-size", "4"] + router,
            as: "app"
        )
        #expect(notAdmin.status == 1 && notAdmin.stderr.contains("permission denied"), "\(notAdmin.stderr)")
        for change in [
            ["rollout", "abort", "--model", "digits"],
            ["batching", "set", "--model", "digits", "--max-batch-size", "4"],
        ] {
            let readonly = try Self.yard(change + router, as: "readonly")
            #expect(readonly.status == 1 && readonly.stderr.contains("permission denied"), "\(readonly.stderr)")
        }
        let app = try Self.yard(["rollout", "status"] + router, as: "app")
        #expect(app.status == 1 && app.stderr.contains("permission denied"), "\(app.stderr)")
    }

    /// Without --cert, reads use ops/certs/out/readonly.pem and changes ops/certs/out/ops.pem: with only the
    /// read-only certificate there, reads work and changes cannot even load a certificate.
    @Test func readsUseTheReadOnlyCertificateByDefault() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let certificates = InferenceServiceTests.certificates
        let directory = try ReleaseTests.temporaryDirectory()
        let out = directory + "/ops/certs/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for file in ["ca.pem", "readonly.pem", "readonly.key"] {
            try FileManager.default.copyItem(atPath: certificates.directory + "/" + file, toPath: out + "/" + file)
        }
        let router = ["--router", "127.0.0.1:\(mesh.router.port)"]
        for read in [["rollout", "status"], ["batching", "status", "--model", "digits"]] {
            let result = try Self.yard(read + router, as: nil, in: directory)
            #expect(result.status == 0, "\(read): \(result.stderr)")
        }
        let pools = try Self.yard(["pool", "list"] + router, as: nil, in: directory)
        #expect(pools.status == 0 || pools.stderr.contains("no stage pools"), "\(pools.stderr)")
        let change = try Self.yard(["rollout", "abort", "--model", "digits"] + router, as: nil, in: directory)
        #expect(change.status == 1 && change.stderr.contains("ops.pem"), "\(change.stderr)")
    }

    @Test func modelsCommandsListLoadAndUnloadOnARunningInferenceService() async throws {
        let certificates = InferenceServiceTests.certificates
        let inference = try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--port", "0", "--models", ReleaseTests.models, "--ca", certificates.caPath,
                "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
            ]
        )
        defer { inference.kill() }
        let target = ["--inference", "127.0.0.1:\(inference.port)"]
        let listed = try Self.yard(["models", "list", "--remote"] + target, as: "readonly")
        #expect(listed.status == 0 && listed.stdout.contains("digits\t3\tready"), "\(listed.stdout) \(listed.stderr)")
        let refused = try Self.yard(
            ["models", "unload", "--model", "digits", "--version", "3"] + target,
            as: "readonly"
        )
        #expect(refused.status == 1 && refused.stderr.contains("permission denied"), "\(refused.stderr)")
        let unloaded = try Self.yard(["models", "unload", "--model", "digits", "--version", "3"] + target)
        #expect(
            unloaded.status == 0 && !unloaded.stdout.contains("digits\t3\tready"),
            "\(unloaded.stdout) \(unloaded.stderr)"
        )
        let loaded = try Self.yard(["models", "load", "--model", "digits", "--version", "3"] + target)
        #expect(loaded.status == 0 && loaded.stdout.contains("digits\t3\tready"), "\(loaded.stdout) \(loaded.stderr)")
        let missing = try Self.yard(["models", "load", "--model", "digits", "--version", "42"] + target)
        #expect(missing.status == 1 && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
    }
}
