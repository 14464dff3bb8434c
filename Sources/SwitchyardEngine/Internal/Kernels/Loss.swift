import SwitchyardTensor

/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (which takes the log-softmax over axis 1 first):
/// weights per class, `ignore_index`, reductions none, sum and mean (weighted).
struct LossOp: Operator {
    enum Reduction: String, Sendable { case none, sum, mean }
    var reduction: Reduction
    var ignoreIndex: Int?
    var softmax: Bool

    init(_ attributes: Attributes, softmax: Bool) throws(EngineError) {
        let name = try attributes.string("reduction", "mean")
        guard let reduction = Reduction(rawValue: name) else {
            throw attributes.error("reduction '\(name)' is not none, sum or mean")
        }
        self.reduction = reduction
        self.ignoreIndex = attributes.has("ignore_index") ? try attributes.int("ignore_index", 0) : nil
        self.softmax = softmax
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let scores = try context.input(0, floatTypes)
        let target = try context.input(1, [.int32, .int64])
        guard scores.shape.count >= 2, target.shape == [scores.shape[0]] + Array(scores.shape.dropFirst(2)) else {
            throw context.error("target \(target.shape) does not fit input \(scores.shape)")
        }
        let classes = scores.shape[1]
        if context.has(2) {
            guard try context.input(2, [scores.dtype]).shape == [classes] else {
                throw context.error("weights must hold one value per class (\(classes))")
            }
        }
        let batch = scores.shape[0]
        let inner = scores.shape.dropFirst(2).reduce(1, *)
        let lossShape = self.reduction == .none ? target.shape : []
        var outputs = [ValueType(dtype: scores.dtype, shape: lossShape)]
        if self.softmax { outputs.append(scores) }
        let (dtype, wide, hasWeights, reduction, ignore, softmax) = (
            scores.dtype, target.dtype == .int64, context.has(2), self.reduction, self.ignoreIndex, self.softmax
        )
        let node = context.node
        return OpPlan(
            outputs: outputs,
            kernel: { io throws(EngineError) in
                let source = io.input(0)
                var logProbabilities = [Double](repeating: 0, count: batch * classes * inner)
                for n in 0..<batch {
                    for i in 0..<inner {
                        var largest = -Double.infinity
                        for c in 0..<classes {
                            let v = loadDouble(source, (n * classes + c) * inner + i, dtype)
                            logProbabilities[(n * classes + c) * inner + i] = v
                            largest = max(largest, v)
                        }
                        guard softmax else { continue }
                        var sum = 0.0
                        for c in 0..<classes {
                            sum += Double.exponential(logProbabilities[(n * classes + c) * inner + i] - largest)
                        }
                        let shift = largest + Double.logarithm(sum)
                        for c in 0..<classes { logProbabilities[(n * classes + c) * inner + i] -= shift }
                    }
                }
                if softmax && io.outs.count > 1 && io.outs[1] >= 0 {
                    let target = io.output(1)
                    for (index, value) in logProbabilities.enumerated() { store(double: value, target, index, dtype) }
                }
                var losses = [Double](repeating: 0, count: batch * inner)
                var weightSum = 0.0
                for n in 0..<batch {
                    for i in 0..<inner {
                        let label = loadIndex(io.input(1), n * inner + i, wide: wide)
                        if label == ignore { continue }
                        guard label >= 0 && label < classes else {
                            throw EngineError(
                                .invalidInput,
                                "node '\(node)': target \(label) is outside 0..<\(classes)"
                            )
                        }
                        let weight = hasWeights ? loadDouble(io.input(2), label, dtype) : 1
                        losses[n * inner + i] = -logProbabilities[(n * classes + label) * inner + i] * weight
                        weightSum += weight
                    }
                }
                let output = io.output(0)
                switch reduction {
                case .none:
                    for (index, value) in losses.enumerated() { store(double: value, output, index, dtype) }
                case .sum: store(double: losses.reduce(0, +), output, 0, dtype)
                case .mean: store(double: weightSum == 0 ? 0 : losses.reduce(0, +) / weightSum, output, 0, dtype)
                }
            }
        )
    }
}
