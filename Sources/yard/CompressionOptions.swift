import ArgumentParser
import Foundation
import SwitchyardCompression
import SwitchyardEngine
import SwitchyardTensor

/// Options every compression command shares: the model, where the new version goes, how it is judged and reported.
struct CompressionOptions: ParsableArguments {
    @Argument(
        help: "The model: an .onnx file, a version directory, or a repository model directory (its newest version)."
    )
    var model: String

    @Option(name: .long, help: "The new version's directory (default: the next version beside the model's).")
    var out: String?

    @Option(name: .long, help: "Write the report as JSON to this file.")
    var report: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Validation rows X.npy and, optionally, labels Y.npy.")
    var validate: [String] = []

    @Option(name: .long, help: "The output judged (default: a label output, else the first float output).")
    var output: String?

    @Option(name: .long, help: "Another model to measure beside them, NAME=FILE.onnx (repeatable; e.g. onnxruntime's).")
    var compare: [String] = []

    @Option(name: .long, help: "Batch sizes timed in the engine, comma-separated.")
    var batches = "1,64"

    @Option(name: .long, help: "Seconds of timing per batch size and model (0 skips timing).")
    var benchSeconds = 1.0

    @Option(name: .long, help: "OpenBLAS threads while timing.")
    var threads = 1

    func check() throws {
        guard self.validate.count <= 2 else { throw ValidationError("--validate takes X.npy and optionally Y.npy") }
        guard self.benchSeconds >= 0 && self.benchSeconds <= 600 else {
            throw ValidationError("--bench-seconds must be in [0, 600]")
        }
        guard !self.batchSizes.isEmpty, self.batchSizes.allSatisfy({ (1...65536).contains($0) }) else {
            throw ValidationError("--batches must be comma-separated sizes from 1 to 65536")
        }
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be 1...256") }
        for entry in self.compare where !entry.contains("=") {
            throw ValidationError("--compare takes NAME=FILE.onnx, got '\(entry)'")
        }
    }

    var batchSizes: [Int] {
        self.batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    var modelPath: String { resolveModelPath(self.model) }

    /// The validation rows, if given.
    func validation() throws(CompressionError) -> EvaluationData? {
        guard let inputs = self.validate.first else { return nil }
        return try EvaluationData.read(inputs: inputs, labels: self.validate.count > 1 ? self.validate[1] : nil)
    }

    /// The output directory: `--out`, else the next version beside the model.
    func outputDirectory() throws -> String {
        if let out = self.out { return out }
        guard let next = ModelVersionWriter.nextVersionDirectory(forModel: self.modelPath) else {
            throw ValidationError(
                "--out is needed: \(self.modelPath) is not inside a model repository (models/<name>/<version>/)"
            )
        }
        return next
    }

    /// Writes the version, measures the original, the result and any compared models, prints and writes the report.
    func finish(
        tool: String,
        original: ONNXModel,
        compressed: ONNXModel,
        settings: [String: String],
        notes: [String],
        judge: QualityJudge?,
        timing: EvaluationData
    ) throws {
        let directory = try self.outputDirectory()
        var provenance: [String: Any] = [
            "tool": "yard \(tool)", "source": self.modelPath, "settings": settings,
            "created": ISO8601DateFormatter().string(from: Date()),
        ]
        BLAS.setThreadCount(self.threads)
        let seconds = self.benchSeconds
        var models = [
            try ReportBuilder.measure(
                name: "original",
                model: original,
                path: self.modelPath,
                judge: judge,
                timing: timing,
                batches: self.batchSizes,
                seconds: seconds
            )
        ]
        let path = (directory as NSString).appendingPathComponent("model.onnx")
        models.append(
            try ReportBuilder.measure(
                name: tool == "quantize" ? "quantized" : (tool == "prune" ? "pruned" : "converted"),
                model: compressed,
                path: path,
                judge: judge,
                timing: timing,
                batches: self.batchSizes,
                seconds: seconds
            )
        )
        for entry in self.compare {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let other = try ONNXModel.read(parts[1])
            models.append(
                try ReportBuilder.measure(
                    name: parts[0],
                    model: other,
                    path: parts[1],
                    judge: judge,
                    timing: timing,
                    batches: self.batchSizes,
                    seconds: seconds
                )
            )
        }
        var quality: [String: Any] = [
            "weights_before_bytes": models[0].weightBytes, "weights_after_bytes": models[1].weightBytes,
        ]
        if let judge {
            quality["rows"] = judge.data.inputs.shape[0]
            if let accuracy = models[0].accuracy { quality["accuracy_before"] = accuracy }
            if let accuracy = models[1].accuracy { quality["accuracy_after"] = accuracy }
            if let agreement = models[1].agreement { quality["agreement"] = agreement }
        }
        provenance["measured"] = quality
        if !notes.isEmpty { provenance["notes"] = notes }
        try ModelVersionWriter.write(compressed, to: directory, source: self.modelPath, provenance: provenance)
        let report = CompressionReport(
            tool: tool,
            settings: settings,
            rows: judge?.data.inputs.shape[0] ?? 0,
            labelled: judge?.data.labels != nil,
            output: judge?.output ?? "-",
            models: models,
            notes: notes + ["wrote \(path) and its config.json"],
            machine: ReportBuilder.machine
        )
        print(report.text)
        if let file = self.report {
            do {
                try report.json().write(to: URL(fileURLWithPath: file), options: .atomic)
            } catch {
                throw CompressionError(.io, "\(file): cannot write the report (\(error))", cause: error)
            }
        }
    }
}

/// Runs a compression command, printing a `CompressionError` or `EngineError` as one line on standard error.
func runCompression(_ command: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CompressionError {
        throw fail(command, error.message)
    } catch let error as EngineError {
        throw fail(command, error.message)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw fail(command, error.message)
    } catch {
        throw fail(command, "\(error)")
    }
}

/// Reads rows for calibration from an `.npy` file.
func readRows(_ path: String) throws(CompressionError) -> EvaluationData {
    try EvaluationData.read(inputs: path, labels: nil)
}
