import Foundation
import Testing

/// The tabular zoo (tools/tabular_zoo.py): scikit-learn (skl2onnx), XGBoost and LightGBM (onnxmltools) exports run
/// through `yard predict` as a user runs them and through onnxruntime; labels must be identical and probabilities
/// within 1e-5.
struct TabularZooTests {
    @Test func exportsMatchOnnxRuntime() throws {
        let python = try #require(
            ProcessInfo.processInfo.environment["SWITCHYARD_PYTHON"],
            "SWITCHYARD_PYTHON is not set: run the tests through ops/test.sh, which makes .venv"
        )
        let directory = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let report = directory + "/zoo.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            Fixtures.path("tools/tabular_zoo.py"), "--yard", YardCommandTests.yard, "--out", directory, "--json",
            report,
            "--converters", "sklearn,xgboost,lightgbm",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let data = try #require(FileManager.default.contents(atPath: report), "no report: \(text)")
        let rows = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(rows.count >= 16, "\(text)")
        for row in rows { #expect(row["ok"] as? Bool == true, "\(row["model"] ?? "?"): \(row["error"] ?? "mismatch")") }
    }
}
