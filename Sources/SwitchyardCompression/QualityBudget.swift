/// How much quality a compressed model may lose: accuracy points against labels, or top-1 agreement with the
/// original when there are no labels.
public struct QualityBudget: Sendable, Codable, Equatable {
    /// Accuracy points (0–100) the compressed model may lose against the original, with labels.
    public var maxAccuracyLoss: Double
    /// The least top-1 agreement with the original, without labels.
    public var minAgreement: Double

    /// Makes a budget.
    /// - Parameters:
    ///   - maxAccuracyLoss: points of accuracy that may be lost (0.5 is half a point).
    ///   - minAgreement: the least agreement with the original (0.99).
    public init(maxAccuracyLoss: Double, minAgreement: Double) {
        self.maxAccuracyLoss = maxAccuracyLoss
        self.minAgreement = minAgreement
    }

    /// Whether a model with `accuracy` and `agreement` is within the budget, the original having `baseline`.
    public func holds(accuracy: Double?, baseline: Double?, agreement: Double) -> Bool {
        if let accuracy, let baseline { return (baseline - accuracy) * 100 <= self.maxAccuracyLoss + 1e-9 }
        return agreement >= self.minAgreement - 1e-12
    }
}

/// Judges candidate models against the original on the same rows.
public struct QualityJudge: Sendable {
    /// The rows.
    public let data: EvaluationData
    /// The output judged.
    public let output: String
    /// The original's answers.
    public let reference: Predictions
    /// The original's accuracy, when there are labels.
    public let baseline: Double?

    /// Runs the original once.
    /// - Parameters:
    ///   - original: the float model.
    ///   - data: the rows (and labels).
    ///   - output: the judged output, or `nil` to choose (a label output, else the first float output).
    /// - Throws: `CompressionError` when the engine cannot run it.
    public init(original: ONNXModel, data: EvaluationData, output: String?) throws(CompressionError) {
        let model = try ModelEvaluator.load(original)
        self.output = try ModelEvaluator.judgedOutput(model, name: output)
        self.data = data
        let reference = try ModelEvaluator.predict(model, data, output: self.output)
        self.reference = reference
        self.baseline = data.labels.map { ModelEvaluator.agreement(reference.classes, $0) }
    }

    /// A candidate's accuracy (with labels), agreement with the original, and mean absolute score difference.
    public func judge(
        _ candidate: ONNXModel
    ) throws(CompressionError) -> (accuracy: Double?, agreement: Double, scoreDifference: Double) {
        let model = try ModelEvaluator.load(candidate)
        let predictions = try ModelEvaluator.predict(model, self.data, output: self.output)
        let agreement = ModelEvaluator.agreement(predictions.classes, self.reference.classes)
        let accuracy = self.data.labels.map { ModelEvaluator.agreement(predictions.classes, $0) }
        var difference = 0.0
        if let a = predictions.scores, let b = self.reference.scores, a.count == b.count, !a.isEmpty {
            difference = zip(a, b).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(a.count)
        }
        return (accuracy, agreement, difference)
    }
}

/// Quantization that keeps the most sensitive layers in float until the quality budget holds.
public enum SensitivitySearch {
    /// One step of the search, for the report.
    public struct Step: Sendable, Codable {
        /// Nodes kept in float at this step.
        public var excluded: [String]
        /// Accuracy against labels, when there are labels.
        public var accuracy: Double?
        /// Agreement with the original.
        public var agreement: Double
    }

    /// Quantizes everything, and while the budget does not hold, keeps one more node in float, the most sensitive
    /// first (sensitivity: the quality lost when that node alone is quantized).
    /// - Parameters:
    ///   - model: the float model.
    ///   - options: quantization options; `exclude` are kept in float from the start.
    ///   - ranges: static mode's calibration ranges.
    ///   - judge: the rows and the original's answers.
    ///   - budget: the quality budget.
    /// - Returns: the result within the budget and the steps taken.
    /// - Throws: `CompressionError.budgetNotMet` when even the float model with every node excluded misses it.
    public static func quantize(
        _ model: ONNXModel,
        options: QuantizationOptions,
        ranges: [String: ActivationRange],
        judge: QualityJudge,
        budget: QualityBudget
    ) throws(CompressionError) -> (QuantizationResult, [Step]) {
        var steps: [Step] = []
        let all = try Quantizer.quantize(model, options: options, ranges: ranges)
        var quality = try judge.judge(all.model)
        steps.append(Step(excluded: options.exclude.sorted(), accuracy: quality.accuracy, agreement: quality.agreement))
        if budget.holds(accuracy: quality.accuracy, baseline: judge.baseline, agreement: quality.agreement) {
            return (all, steps)
        }
        // Sensitivity of each quantized node, measured alone.
        var sensitivity: [(String, Double)] = []
        for node in all.quantized {
            var alone = options
            alone.exclude = Set(all.quantized).subtracting([node]).union(options.exclude)
            let result = try Quantizer.quantize(model, options: alone, ranges: ranges)
            let q = try judge.judge(result.model)
            let loss = (q.accuracy.map { (judge.baseline ?? $0) - $0 } ?? 0) + (1 - q.agreement)
            sensitivity.append((node, loss * 1000 + q.scoreDifference))
        }
        sensitivity.sort { $0.1 > $1.1 }
        var current = options
        for (node, _) in sensitivity {
            current.exclude.insert(node)
            let result = try Quantizer.quantize(model, options: current, ranges: ranges)
            quality = try judge.judge(result.model)
            steps.append(
                Step(excluded: current.exclude.sorted(), accuracy: quality.accuracy, agreement: quality.agreement)
            )
            if result.quantized.isEmpty { break }
            if budget.holds(accuracy: quality.accuracy, baseline: judge.baseline, agreement: quality.agreement) {
                return (result, steps)
            }
        }
        throw CompressionError(
            .budgetNotMet,
            "no quantized model within the budget (\(budget.maxAccuracyLoss) points, or agreement \(budget.minAgreement)): "
                + "the best kept \(current.exclude.count) nodes in float"
        )
    }
}
