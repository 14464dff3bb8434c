import Foundation
import SwitchyardEngine
import SwitchyardTensor

/// Measures models for a ``CompressionReport``: size, quality against labels or the original, engine latency.
public enum ReportBuilder {
    /// Measures one model.
    /// - Parameters:
    ///   - name: its name in the report.
    ///   - model: the model.
    ///   - path: its file, if any.
    ///   - judge: rows, labels and the original's answers; `nil` skips quality.
    ///   - timing: rows to time with (the judge's, else seeded random rows).
    ///   - batches: batch sizes to time.
    ///   - seconds: seconds per batch size.
    /// - Throws: `CompressionError` when the engine cannot load or run the model.
    public static func measure(
        name: String,
        model: ONNXModel,
        path: String?,
        judge: QualityJudge?,
        timing: EvaluationData,
        batches: [Int],
        seconds: Double
    ) throws(CompressionError) -> ModelMeasurement {
        var accuracy: Double? = nil
        var agreement: Double? = nil
        if let judge {
            let quality = try judge.judge(model)
            accuracy = quality.accuracy
            agreement = quality.agreement
        }
        let engine = try ModelEvaluator.load(model)
        var latency: [LatencyMeasurement] = []
        for batch in batches where seconds > 0 {
            latency.append(try ModelEvaluator.latency(engine, timing, batch: batch, seconds: seconds))
        }
        return ModelMeasurement(
            name: name,
            path: path,
            fileBytes: try model.serialized().count,
            weightBytes: model.weightBytes,
            accuracy: accuracy,
            agreement: agreement,
            latency: latency
        )
    }

    /// Seeded standard-normal rows for the model's single float input, for timing without data.
    /// - Throws: `CompressionError.unsupportedModel` for other inputs.
    public static func randomRows(_ model: ONNXModel, rows: Int) throws(CompressionError) -> EvaluationData {
        let engine = try ModelEvaluator.load(model)
        guard engine.inputs.count == 1, engine.inputs[0].dtype == .float32,
            engine.inputs[0].dims.dropFirst().allSatisfy({ $0 != nil })
        else {
            throw CompressionError(
                .unsupportedModel,
                "give --validate or --calibration rows: the model's input has no fixed float shape to time"
            )
        }
        let dims = [rows] + engine.inputs[0].dims.dropFirst().map { $0! }
        var state: UInt64 = 1
        let values = (0..<dims.reduce(1, *)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double((state >> 11) & ((1 << 53) - 1)) * 0x1p-53
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let v = Double((state >> 11) & ((1 << 53) - 1)) * 0x1p-53
            return Float((-2 * log(max(u, 1e-300))).squareRoot() * cos(2 * .pi * v))
        }
        do {
            return try EvaluationData(inputs: try Tensor(values, shape: Shape(dims)), labels: nil)
        } catch let error as CompressionError {
            throw error
        } catch {
            throw CompressionError(.invalidData, "\(error)", cause: error)
        }
    }

    /// The CPU model and the OpenBLAS core, for the report.
    public static var machine: [String: String] {
        var result = ["blas_core": BLAS.coreSelection.core, "blas_threads": "\(BLAS.threadCount)"]
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            result["cpu"] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let features = ["avx512_vnni", "avx512f", "avx2"].filter { flag in
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" \(flag)") ?? false
        }
        if !features.isEmpty { result["cpu_features"] = features.joined(separator: ",") }
        return result
    }
}

/// Writes a compressed model as a new version of a repository model: `model.onnx` and a `config.json` that copies the
/// source's config and records how the version was made under `compression`.
public enum ModelVersionWriter {
    /// `models/<name>/<highest + 1>` for a model at `models/<name>/<version>/model.onnx`, else `nil`.
    public static func nextVersionDirectory(forModel path: String) -> String? {
        let versionDirectory = URL(fileURLWithPath: path).deletingLastPathComponent()
        guard Int(versionDirectory.lastPathComponent) != nil else { return nil }
        let modelDirectory = versionDirectory.deletingLastPathComponent()
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: modelDirectory.path)) ?? []).compactMap {
            Int($0)
        }
        guard let highest = versions.max() else { return nil }
        return modelDirectory.appendingPathComponent("\(highest + 1)").path
    }

    /// Writes the version.
    /// - Parameters:
    ///   - model: the compressed model.
    ///   - directory: the new version's directory; it must not hold a model already.
    ///   - source: the original `model.onnx`, whose config (the version's, else the model's) is copied.
    ///   - provenance: what goes under `compression` in the new config.
    /// - Throws: `CompressionError.invalidArgument` when the directory already holds a model, `.io` when writing fails.
    public static func write(
        _ model: ONNXModel,
        to directory: String,
        source: String,
        provenance: [String: Any]
    ) throws(CompressionError) {
        let manager = FileManager.default
        let modelPath = (directory as NSString).appendingPathComponent("model.onnx")
        guard !manager.fileExists(atPath: modelPath) else {
            throw CompressionError(.invalidArgument, "\(modelPath) exists: choose a new version directory")
        }
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CompressionError(.io, "\(directory): cannot create the directory (\(error))", cause: error)
        }
        var config: [String: Any] = [:]
        let sourceVersion = URL(fileURLWithPath: source).deletingLastPathComponent()
        for candidate in [
            sourceVersion.appendingPathComponent("config.json"),
            sourceVersion.deletingLastPathComponent().appendingPathComponent("config.json"),
        ] {
            if let data = manager.contents(atPath: candidate.path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                config = object
                break
            }
        }
        config["compression"] = provenance
        try model.write(to: modelPath)
        do {
            let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            try data.write(
                to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("config.json")),
                options: .atomic
            )
        } catch {
            throw CompressionError(.io, "\(directory)/config.json: cannot write (\(error))", cause: error)
        }
    }
}
