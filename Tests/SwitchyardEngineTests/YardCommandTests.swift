import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// `yard predict`, `yard model inspect` and `yard model synth`, run as the user runs them.
struct YardCommandTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The `yard` binary beside the test bundle (`swift test` builds every product).
    static var yard: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("yard").path
    }

    private func yard(_ arguments: [String]) throws -> Result {
        try #require(FileManager.default.isExecutableFile(atPath: Self.yard), "no yard binary at \(Self.yard)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.yard)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }

    /// Runs a predict that must fail: exit 1, exactly one line on stderr, no output file.
    private func expectFailure(_ arguments: [String], output: String, mentions: String) throws {
        let result = try self.yard(arguments)
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(mentions), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func predictWritesLabelsAndProbabilities() throws {
        let directory = Fixtures.temporaryDirectory()
        let labels = directory + "/labels.npy"
        var result = try self.yard([
            "predict", "--model", Fixtures.digitsModel, "--input", Fixtures.digits("x_test.npy"),
            "--output", labels,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try NPY.read(Fixtures.digits("ort_label.npy"))
        #expect(try NPY.read(labels) == expected)

        let probabilities = directory + "/p.npy"
        result = try self.yard([
            "predict", "--model", Fixtures.digitsModel, "--input", "X=" + Fixtures.digits("x_test.npy"),
            "--output", probabilities, "--output-name", "probabilities", "--threads", "1",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let written = try NPY.read(probabilities)
        #expect(written.dtype == .float32)
        #expect(try maxDifference(written, NPY.read(Fixtures.digits("ort_probabilities.npy"))) <= 1e-5)
    }

    @Test func predictConvertsFloat64AndUInt8Inputs() throws {
        let directory = Fixtures.temporaryDirectory()
        let x = try NPY.read(Fixtures.digits("x_test.npy")).rows(0..<10)
        for dtype in [DType.float64, .uint8, .int64] {
            let input = directory + "/x-\(dtype).npy"
            try NPY.write(try x.converted(to: dtype), to: input)
            let output = directory + "/y-\(dtype).npy"
            let result = try self.yard([
                "predict", "--model", Fixtures.digitsModel, "--input", input, "--output", output,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try NPY.read(output) == NPY.read(Fixtures.digits("ort_label.npy")).rows(0..<10))
        }
    }

    @Test func predictFailuresWriteNothing() throws {
        let directory = Fixtures.temporaryDirectory()
        let output = directory + "/never.npy"
        let model = Fixtures.digitsModel
        // Fortran order
        let fortran = directory + "/fortran.npy"
        var bytes = try NPY.encode(try Tensor([Float](repeating: 1, count: 128), shape: [2, 64]))
        let from = Array("'fortran_order': False".utf8)
        let start = try #require(
            (0...(bytes.count - from.count)).first { Array(bytes[$0..<($0 + from.count)]) == from }
        )
        bytes.replaceSubrange(start..<(start + from.count), with: Array("'fortran_order': True ".utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: fortran))
        try self.expectFailure(
            ["predict", "--model", model, "--input", fortran, "--output", output],
            output: output,
            mentions: "Fortran"
        )
        // wrong feature count
        let narrow = directory + "/narrow.npy"
        try NPY.write(try Tensor([Float](repeating: 1, count: 126), shape: [2, 63]), to: narrow)
        try self.expectFailure(
            ["predict", "--model", model, "--input", narrow, "--output", output],
            output: output,
            mentions: "63"
        )
        // unsupported dtype (bool is not a model input type here and is not converted)
        let flags = directory + "/flags.npy"
        try NPY.write(try Tensor([Bool](repeating: true, count: 64), shape: [1, 64]), to: flags)
        try self.expectFailure(
            ["predict", "--model", model, "--input", flags, "--output", output],
            output: output,
            mentions: "bool"
        )
        // bad model files
        let empty = directory + "/empty.onnx"
        try Data().write(to: URL(fileURLWithPath: empty))
        try self.expectFailure(
            ["predict", "--model", empty, "--input", narrow, "--output", output],
            output: output,
            mentions: "empty"
        )
        let garbage = directory + "/garbage.onnx"
        try Data((0..<999).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: URL(fileURLWithPath: garbage))
        try self.expectFailure(
            ["predict", "--model", garbage, "--input", narrow, "--output", output],
            output: output,
            mentions: "garbage.onnx"
        )
        // unknown output, missing input file
        try self.expectFailure(
            [
                "predict", "--model", model, "--input", Fixtures.digits("x_test.npy"), "--output", output,
                "--output-name", "logits",
            ],
            output: output,
            mentions: "'logits'"
        )
        try self.expectFailure(
            ["predict", "--model", model, "--input", directory + "/missing.npy", "--output", output],
            output: output,
            mentions: "missing.npy"
        )
    }

    @Test func modelsListsTheRepository() throws {
        let result = try self.yard(["models", "--repository", Fixtures.path("models")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("digits\t1\tready"))
        let missing = try self.yard(["models", "--repository", Fixtures.path("no-such-repository")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no-such-repository"))
    }

    @Test func modelDirectoriesResolveToTheirHighestVersion() throws {
        let result = try self.yard(["model", "inspect", Fixtures.path("models/digits")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("models/digits/1/model.onnx"))
    }

    @Test func inspectShowsInputsOutputsOpsAndParameters() throws {
        let result = try self.yard(["model", "inspect", Fixtures.digitsModel])
        #expect(result.status == 0)
        for fragment in [
            "X  f32 [?,64]", "label  i64 [?]", "probabilities  f32 [?,10]", "MatMul ×3", "parameters: 17237",
            "opset:      17, ai.onnx.ml 1",
        ] {
            #expect(result.stdout.contains(fragment), "missing \(fragment) in \(result.stdout)")
        }
        let json = try self.yard(["model", "inspect", "--json", Fixtures.digitsModel])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["parameters"] as? Int == 17237)
    }

    @Test func synthWritesADeterministicValidModel() throws {
        let directory = Fixtures.temporaryDirectory()
        let first = directory + "/a.onnx"
        let second = directory + "/b.onnx"
        #expect(
            try self.yard(["model", "synth", "--layers", "784,512,512,10", "--out", first, "--seed", "7"]).status == 0
        )
        #expect(
            try self.yard(["model", "synth", "--layers", "784,512,512,10", "--out", second, "--seed", "7"]).status == 0
        )
        #expect(FileManager.default.contents(atPath: first) == FileManager.default.contents(atPath: second))
        let model = try Model(contentsOf: first)
        #expect(model.summary.parameterCount == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10)
        let out = try model.run([
            NamedTensor("input", try Tensor([Float](repeating: 0.1, count: 2 * 784), shape: [2, 784]))
        ])
        let sums = try out[0].tensor.scalars(as: Float.self)
        #expect(abs(sums.prefix(10).reduce(0, +) - 1) < 1e-5)
        let bad = try self.yard(["model", "synth", "--layers", "784", "--out", directory + "/c.onnx"])
        #expect(bad.status == 1)
        #expect(!FileManager.default.fileExists(atPath: directory + "/c.onnx"))
    }
}
