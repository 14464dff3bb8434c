import ArgumentParser
import Foundation
import SwitchyardCompression
import SwitchyardTensor

/// `yard quantize`: int8 weights (dynamic) or int8 weights and activations (static, QDQ), written as a new version.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model to int8 and write it as a new version, with a report.",
        discussion: """
            --mode dynamic stores MatMul and Gemm weights as int8 (one scale per output channel unless --per-tensor) \
            and quantizes activations per call (DynamicQuantizeLinear + MatMulInteger, as onnxruntime's \
            quantize_dynamic writes). --mode static also quantizes activations with ranges measured on --calibration \
            rows (--method minmax, percentile or entropy) and writes QuantizeLinear/DequantizeLinear pairs (QDQ) around \
            MatMul, Gemm and Conv. --exclude keeps nodes in float; --auto-exclude keeps the most sensitive nodes in \
            float until the quality budget holds on the --validate rows (accuracy loss with labels, agreement without). \
            The result runs in the engine and in onnxruntime.
            """
    )

    @OptionGroup var common: CompressionOptions

    @Option(name: .long, help: "dynamic or static.")
    var mode: String = "dynamic"

    @Option(name: .long, help: "Calibration rows (.npy) for static mode.")
    var calibration: String?

    @Option(name: .long, help: "How activation ranges are chosen: minmax, percentile or entropy.")
    var method: String = "minmax"

    @Option(name: .long, help: "The percentile kept at each end (method percentile).")
    var percentile = 99.99

    @Flag(name: .long, help: "One weight scale per tensor instead of per output channel.")
    var perTensor = false

    @Option(name: .long, help: "A node kept in float (repeatable).")
    var exclude: [String] = []

    @Flag(name: .long, help: "Keep the most sensitive nodes in float until the quality budget holds.")
    var autoExclude = false

    @Option(name: .long, help: "Quality budget: accuracy points that may be lost (with labels).")
    var maxAccuracyLoss = 0.5

    @Option(name: .long, help: "Quality budget: the least top-1 agreement with the original (without labels).")
    var minAgreement = 0.99

    func validate() throws {
        try self.common.check()
        guard QuantizationOptions.Mode(rawValue: self.mode) != nil else {
            throw ValidationError("--mode must be dynamic or static")
        }
        guard QuantizationOptions.CalibrationMethod(rawValue: self.method) != nil else {
            throw ValidationError("--method must be minmax, percentile or entropy")
        }
        guard self.mode == "dynamic" || self.calibration != nil else {
            throw ValidationError("--mode static needs --calibration X.npy")
        }
        guard self.percentile > 50 && self.percentile <= 100 else {
            throw ValidationError("--percentile must be in (50, 100]")
        }
        guard self.maxAccuracyLoss >= 0, (0...1).contains(self.minAgreement) else {
            throw ValidationError("--max-accuracy-loss must be ≥ 0 and --min-agreement in [0, 1]")
        }
        guard !self.autoExclude || !self.common.validate.isEmpty || self.calibration != nil else {
            throw ValidationError("--auto-exclude needs --validate rows (or --calibration rows to compare on)")
        }
    }

    func run() throws {
        try runCompression("quantize") {
            let original = try ONNXModel.read(self.common.modelPath)
            var options = QuantizationOptions(mode: QuantizationOptions.Mode(rawValue: self.mode)!)
            options.perChannel = !self.perTensor
            options.method = QuantizationOptions.CalibrationMethod(rawValue: self.method)!
            options.percentile = self.percentile
            options.exclude = Set(self.exclude)
            let calibration = try self.calibration.map { path throws(CompressionError) in try readRows(path) }
            var ranges: [String: ActivationRange] = [:]
            if options.mode == .static, let calibration {
                ranges = try Calibrator.ranges(
                    original,
                    tensors: Quantizer.activationsToCalibrate(original, options: options),
                    data: calibration.inputs,
                    method: options.method,
                    percentile: options.percentile
                )
            }
            let validation = try self.common.validation() ?? calibration
            let judge = try validation.map { data throws(CompressionError) in
                try QualityJudge(original: original, data: data, output: self.common.output)
            }
            var notes: [String] = []
            let result: QuantizationResult
            if self.autoExclude, let judge {
                let budget = QualityBudget(maxAccuracyLoss: self.maxAccuracyLoss, minAgreement: self.minAgreement)
                let (found, steps) = try SensitivitySearch.quantize(
                    original,
                    options: options,
                    ranges: ranges,
                    judge: judge,
                    budget: budget
                )
                result = found
                for step in steps {
                    let accuracy = step.accuracy.map { String(format: "accuracy %.4f, ", $0) } ?? ""
                    notes.append(
                        "search: \(step.excluded.count) in float [\(step.excluded.joined(separator: ", "))]: "
                            + accuracy + String(format: "agreement %.4f", step.agreement)
                    )
                }
            } else {
                result = try Quantizer.quantize(original, options: options, ranges: ranges)
            }
            guard !result.quantized.isEmpty else {
                throw CompressionError(
                    .unsupportedModel,
                    "nothing was quantized: "
                        + result.keptInFloat.map { "\($0.node) (\($0.reason))" }.joined(separator: "; ")
                )
            }
            notes.append("int8: \(result.quantized.joined(separator: ", "))")
            for kept in result.keptInFloat { notes.append("kept in float: \(kept.node) (\(kept.reason))") }
            var settings = ["mode": self.mode, "weights": self.perTensor ? "per-tensor" : "per-channel"]
            if options.mode == .static {
                settings["method"] = self.method
                if options.method == .percentile { settings["percentile"] = "\(self.percentile)" }
                settings["calibration"] = self.calibration
                settings["calibration_rows"] = "\(calibration?.inputs.shape[0] ?? 0)"
            }
            if !self.exclude.isEmpty { settings["exclude"] = self.exclude.joined(separator: ",") }
            if self.autoExclude {
                settings["auto_exclude"] =
                    "max-accuracy-loss \(self.maxAccuracyLoss), min-agreement \(self.minAgreement)"
            }
            let timing = try validation ?? ReportBuilder.randomRows(original, rows: 64)
            try self.common.finish(
                tool: "quantize",
                original: original,
                compressed: result.model,
                settings: settings,
                notes: notes,
                judge: judge,
                timing: timing
            )
        }
    }
}
