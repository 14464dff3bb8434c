import Foundation
import SwitchyardCompression
import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor

/// The bundled digits model, its committed test split and calibration rows.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static let digitsModel = path("models/digits/1/model.onnx")
    static let xTest = path("Tests/Fixtures/engine/digits/x_test.npy")
    static let yTest = path("Tests/Fixtures/engine/digits/y_test.npy")
    static let calibrationFile = path("Tests/Fixtures/compression/digits/x_calibration.npy")

    static func digits() throws -> ONNXModel { try ONNXModel.read(digitsModel) }
    static func test() throws -> EvaluationData { try EvaluationData.read(inputs: xTest, labels: yTest) }
    static func calibration() throws -> Tensor { try EvaluationData.read(inputs: calibrationFile, labels: nil).inputs }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-compression-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The operator types of a model's nodes.
    static func operators(_ model: ONNXModel) -> [String] { model.proto.graph.node.map(\.opType) }

    /// Runs `tools/compress_onnxruntime.py run` on a model file with the Python in `SWITCHYARD_PYTHON`; its JSON.
    static func onnxruntime(_ model: String, reference: String? = nil) throws -> [String: Any] {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ort-\(UUID().uuidString).json")
            .path
        defer { try? FileManager.default.removeItem(atPath: output) }
        try Self.onnxruntimeTool(
            ["run", "--model", model, "--x", xTest, "--y", yTest, "--json", output]
                + (reference.map { ["--reference", $0] } ?? [])
        )
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// Runs `tools/compress_onnxruntime.py` with `arguments` and the Python in `SWITCHYARD_PYTHON`, within 120 s.
    static func onnxruntimeTool(_ arguments: [String]) throws {
        guard let python = ProcessInfo.processInfo.environment["SWITCHYARD_PYTHON"] else {
            throw FixtureError(
                message:
                    "SWITCHYARD_PYTHON is not set: run `bash ops/python-env.sh` and export its last line (ops/test.sh does)"
            )
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path("tools/compress_onnxruntime.py")] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            throw FixtureError(message: "onnxruntime did not finish within 120 s")
        }
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw FixtureError(message: "onnxruntime failed (\(arguments.prefix(1))): \(text.suffix(2000))")
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
