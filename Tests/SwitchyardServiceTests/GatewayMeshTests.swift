import Foundation
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTesting
import Testing

/// The router's HTTP port in front of the whole mesh as real processes: `tritonclient.http` calls it unchanged and
/// gets the native path's answers, and the README's curl and tritonclient examples run as written.
@Suite(.timeLimit(.minutes(4)))
struct GatewayMeshTests {
    static let rows = 24

    private static func mesh() async throws -> (MeshTests.Mesh, Int) {
        let mesh = try await MeshTests.Mesh(routerArguments: [
            "--http-port", "0", "--http-plaintext", "--health-check-interval-ms", "200",
        ])
        do {
            return (mesh, try await mesh.router.port(inLineContaining: "http gateway up"))
        } catch {
            mesh.stop()
            throw error
        }
    }

    /// Waits (bounded) until the router's health checks have seen every stage.
    private static func waitUntilReady(port: Int) async throws {
        let curl = try installedTool("curl")
        for _ in 0..<100 {
            let (_, output) = try await runCommand(
                curl,
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v2/health/ready"]
            )
            if output == "200" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CommandRunError("the router's HTTP port did not become ready")
    }

    @Test func tritonclientGetsTheNativeAnswersInJSONAndBinaryModes() async throws {
        let python = try testPython()
        let (mesh, port) = try await Self.mesh()
        defer { mesh.stop() }
        try await Self.waitUntilReady(port: port)
        let curl = try installedTool("curl")
        for (path, code) in [("versions/1/ready", "200"), ("versions/9/ready", "404"), ("ready", "200")] {
            let (_, answer) = try await runCommand(
                curl,
                ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v2/models/digits/\(path)"]
            )
            #expect(answer == code, "\(path)")
        }
        let script = packageRoot().appendingPathComponent("Tests/Fixtures/gateway/tritonclient_check.py").path
        let x = packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/x_test.npy").path
        let (status, output) = try await runCommand(
            python,
            [script, "127.0.0.1:\(port)", x, "\(Self.rows)"],
            timeout: .seconds(120)
        )
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").last)
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            "\(output)"
        )

        #expect(report["live"] as? Bool == true)
        #expect(report["ready"] as? Bool == true)
        #expect(report["model_ready"] as? Bool == true)
        let metadata = try #require(report["metadata"] as? [String: Any])
        #expect(metadata["name"] as? String == "digits")
        #expect((metadata["inputs"] as? [[String: Any]])?.first?["shape"] as? [Int] == [-1, 64])
        #expect(
            ((report["server"] as? [String: Any])?["extensions"] as? [String])?.contains("binary_tensor_data") == true
        )
        #expect((report["config"] as? [String: Any])?["max_batch_size"] as? Int == 64)

        // the native path, one row at a time as tritonclient sent them: the same answers, to the bit
        let client = try mesh.client()
        let inputs = InferenceServiceTests.x
        var labels: [Int] = []
        var probabilities: [[Float]] = []
        for row in 0..<Self.rows {
            let result = try await client.infer(
                model: "digits",
                inputs: ["X": try inputs.rows(row..<(row + 1))],
                routingKey: "user-\(row % 7)"
            )
            labels.append(Int(try result["label"]!.scalars(as: Int64.self)[0]))
            probabilities.append(try result["probabilities"]!.scalars(as: Float.self))
        }
        for mode in ["json", "binary"] {
            let answers = try #require(report[mode] as? [String: Any], "\(mode)")
            #expect(answers["labels"] as? [Int] == labels, "\(mode)")
            let floats = (answers["probabilities"] as? [[Double]])?.map { $0.map(Float.init) }
            #expect(floats == probabilities, "\(mode)")
        }
        let batch = try #require(report["batch"] as? [String: Any])
        #expect(batch["labels"] as? [Int] == labels)
        #expect(batch["version"] as? String == "1")

        for (name, code, words) in [
            ("unknown_model", "404", "nope"), ("unknown_model_infer", "404", "nope"), ("wrong_shape", "400", "63"),
        ] {
            let failure = try #require(report[name] as? [String: Any], "\(name)")
            #expect(failure["status"] as? String == code, "\(name): \(failure)")
            #expect((failure["message"] as? String)?.contains(words) == true, "\(name): \(failure)")
        }
        func inferenceCount(_ stats: Any?) -> Int? {
            let entries = (stats as? [String: Any])?["model_stats"] as? [[String: Any]]
            return entries?.first { $0["version"] as? String == "1" }?["inference_count"] as? Int
        }
        #expect(inferenceCount(report["stats"]) == 3 * Self.rows)  // rows one by one in both modes, then as one batch
        // the native requests count too: the statistics are the router's, not the HTTP port's
        let (_, stats) = try await runCommand(
            try installedTool("curl"),
            ["-s", "http://127.0.0.1:\(port)/v2/models/digits/stats"]
        )
        #expect(inferenceCount(try JSONSerialization.jsonObject(with: Data(stats.utf8))) == 4 * Self.rows, "\(stats)")
    }

    /// The HTTP port under mutual TLS (its default) applies the router's authorization policy to the client
    /// certificate: an app may infer, a read-only certificate gets 403 with the roles that may, and a client without
    /// a certificate does not get past the handshake.
    @Test func aClientCertificatesRoleDecidesWhatItMayCallOverHTTP() async throws {
        let curl = try installedTool("curl")
        let mesh = try await MeshTests.Mesh(routerArguments: ["--http-port", "0", "--health-check-interval-ms", "200"])
        defer { mesh.stop() }
        let port = try await mesh.router.port(inLineContaining: "http gateway up")
        let certificates = InferenceServiceTests.certificates
        let row = (0..<64).map { _ in "0" }.joined(separator: ",")
        let body = #"{"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": [\#(row)]}]}"#
        func infer(as name: String?) async throws -> (status: String, body: String) {
            var arguments = ["-s", "-w", "\n%{http_code}", "--cacert", certificates.caPath]
            if let name {
                arguments += ["--cert", certificates.certificatePath(name), "--key", certificates.keyPath(name)]
            }
            arguments += ["--data-binary", body, "https://127.0.0.1:\(port)/v2/models/digits/infer"]
            let (_, output) = try await runCommand(curl, arguments, timeout: .seconds(20))
            let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
            return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
        }
        var app = try await infer(as: "app")
        for _ in 0..<100 where app.status == "503" {  // bounded: until the health checks have seen every stage
            try await Task.sleep(for: .milliseconds(100))
            app = try await infer(as: "app")
        }
        #expect(app.status == "200", "\(app)")
        #expect(app.body.contains("\"label\""), "\(app)")
        let readonly = try await infer(as: "readonly")
        #expect(readonly.status == "403", "\(readonly)")
        #expect(readonly.body.contains("app"), "\(readonly)")  // the message names the roles that may call infer
        let anonymous = try await infer(as: nil)
        #expect(anonymous.status == "000", "\(anonymous)")  // no HTTP answer: the TLS handshake fails
    }

    /// The examples of the README's HTTP section: each `sh` and `python` block runs against this mesh (its address
    /// put in place of the demo's), and its output equals the `json` or `text` block after it.
    @Test func theREADMEExamplesRunAndPrintWhatTheREADMEShows() async throws {
        let python = try testPython()
        let curl = try installedTool("curl")
        let examples = try Self.readmeExamples()
        #expect(examples.filter { $0.language == "sh" }.count >= 4)
        #expect(examples.contains { $0.language == "python" })
        let (mesh, port) = try await Self.mesh()
        defer { mesh.stop() }
        try await Self.waitUntilReady(port: port)
        for example in examples {
            let code = example.code.replacingOccurrences(of: "127.0.0.1:8000", with: "127.0.0.1:\(port)")
            let (status, output): (Int32, String)
            switch example.language {
            case "sh":
                #expect(code.hasPrefix("curl "), "only curl commands: \(code)")
                (status, output) = try await runCommand(
                    "/bin/sh",
                    ["-c", code],
                    environment: ["PATH": (curl as NSString).deletingLastPathComponent]
                )
            default:
                (status, output) = try await runCommand(
                    python,
                    ["-c", code],
                    directory: packageRoot().path,
                    timeout: .seconds(60)
                )
            }
            #expect(status == 0, "\(code)\n\(output)")
            guard let expected = example.expected else { continue }
            if example.expectedLanguage == "json" {
                let actual = Self.anyRequestID(try? JSONSerialization.jsonObject(with: Data(output.utf8)))
                let wanted = Self.anyRequestID(try JSONSerialization.jsonObject(with: Data(expected.utf8)))
                #expect(actual != nil && actual == wanted, "\(code)\nprinted: \(output)\nREADME: \(expected)")
            } else {
                #expect(
                    output.trimmingCharacters(in: .whitespacesAndNewlines) == expected,
                    "\(code)\nprinted: \(output)"
                )
            }
        }
    }

    /// An answer with its `request.id` parameter, new for every request, replaced by one placeholder.
    static func anyRequestID(_ object: Any?) -> NSDictionary? {
        guard var answer = object as? [String: Any] else { return nil }
        if var parameters = answer["parameters"] as? [String: Any], parameters["request.id"] != nil {
            parameters["request.id"] = "ID"
            answer["parameters"] = parameters
        }
        return answer as NSDictionary
    }

    struct Example {
        var language: String
        var code: String
        var expected: String?
        var expectedLanguage: String?
    }

    /// The fenced blocks of the README section "Calling the mesh over HTTP": each command with the output block
    /// that follows it.
    static func readmeExamples() throws -> [Example] {
        let readme = try String(contentsOf: packageRoot().appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "## Calling the mesh over HTTP") else {
            throw CommandRunError("README has no HTTP section")
        }
        let section = readme[start.upperBound...].components(separatedBy: "\n## ").first ?? ""
        var blocks: [(String, String)] = []
        var lines = section.components(separatedBy: "\n")[...]
        while let line = lines.popFirst() {
            guard line.hasPrefix("```"), line.count > 3 else { continue }
            var body: [String] = []
            while let next = lines.popFirst(), next != "```" { body.append(next) }
            blocks.append((String(line.dropFirst(3)), body.joined(separator: "\n")))
        }
        var examples: [Example] = []
        for (index, (language, code)) in blocks.enumerated() where language == "sh" || language == "python" {
            let next = index + 1 < blocks.count ? blocks[index + 1] : nil
            let output = next.flatMap { ["json", "text"].contains($0.0) ? $0 : nil }
            examples.append(Example(language: language, code: code, expected: output?.1, expectedLanguage: output?.0))
        }
        return examples
    }
}
