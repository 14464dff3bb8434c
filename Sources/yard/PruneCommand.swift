import ArgumentParser
import Foundation
import SwitchyardCompression
import SwitchyardTensor

/// `yard prune`: structured pruning of hidden units with a least-squares re-fit, written as a new version.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract:
            "Remove hidden units of MLP layers and re-fit the next layer; write the smaller model as a new version.",
        discussion: """
            On --calibration rows, the --sparsity share of each layer's units is removed one at a time, each time the \
            unit whose loss the re-fit makes up for best (backward elimination on the least-squares problem), and \
            the next layer is re-fitted by least squares (LAPACK sgelsd) to the original model's outputs on the \
            same rows. --target-accuracy instead searches for \
            the largest sparsity whose accuracy on the --validate rows (with labels; agreement without) stays at or \
            above the target. The result is a smaller dense model.
            """
    )

    @OptionGroup var common: CompressionOptions

    @Option(name: .long, help: "Calibration rows (.npy): which units go, and the re-fit.")
    var calibration: String

    @Option(name: .long, help: "The share of hidden units removed from each layer, in (0, 1).")
    var sparsity: Double?

    @Option(name: .long, help: "Instead of --sparsity: the least accuracy (or agreement, without labels) to keep.")
    var targetAccuracy: Double?

    func validate() throws {
        try self.common.check()
        guard (self.sparsity == nil) != (self.targetAccuracy == nil) else {
            throw ValidationError("give one of --sparsity or --target-accuracy")
        }
        if let sparsity {
            guard sparsity > 0 && sparsity < 1 else { throw ValidationError("--sparsity must be in (0, 1)") }
        }
        if let targetAccuracy {
            guard targetAccuracy > 0 && targetAccuracy <= 1 else {
                throw ValidationError("--target-accuracy must be in (0, 1]")
            }
            guard !self.common.validate.isEmpty else {
                throw ValidationError("--target-accuracy needs --validate rows")
            }
        }
    }

    func run() throws {
        try runCompression("prune") {
            let original = try ONNXModel.read(self.common.modelPath)
            let calibration = try readRows(self.calibration)
            let validation = try self.common.validation() ?? calibration
            let judge = try QualityJudge(original: original, data: validation, output: self.common.output)
            var notes: [String] = []
            let result: PruningResult
            var chosen = self.sparsity ?? 0
            if let target = self.targetAccuracy {
                // The largest sparsity, in steps of 5%, that keeps the target (quality falls as sparsity grows).
                var best: (Double, PruningResult)? = nil
                var low = 1
                var high = 19
                while low <= high {
                    let middle = (low + high) / 2
                    let candidate = try Pruner.prune(
                        original,
                        sparsity: Double(middle) * 0.05,
                        calibration: calibration.inputs
                    )
                    let quality = try judge.judge(candidate.model)
                    let value = quality.accuracy ?? quality.agreement
                    notes.append(
                        String(
                            format: "search: sparsity %.2f → %@ %.4f",
                            Double(middle) * 0.05,
                            quality.accuracy == nil ? "agreement" : "accuracy",
                            value
                        )
                    )
                    if value >= target {
                        best = (Double(middle) * 0.05, candidate)
                        low = middle + 1
                    } else {
                        high = middle - 1
                    }
                }
                guard let best else {
                    throw CompressionError(.budgetNotMet, "even 5% sparsity falls below --target-accuracy \(target)")
                }
                (chosen, result) = best
            } else {
                result = try Pruner.prune(original, sparsity: chosen, calibration: calibration.inputs)
            }
            for layer in result.layers { notes.append("\(layer.node): \(layer.before) → \(layer.after) hidden units") }
            var settings = [
                "sparsity": String(format: "%.2f", chosen), "calibration": self.calibration,
                "calibration_rows": "\(calibration.inputs.shape[0])", "refit": "least squares (sgelsd)",
            ]
            if let target = self.targetAccuracy { settings["target_accuracy"] = "\(target)" }
            try self.common.finish(
                tool: "prune",
                original: original,
                compressed: result.model,
                settings: settings,
                notes: notes,
                judge: judge,
                timing: validation
            )
        }
    }
}
