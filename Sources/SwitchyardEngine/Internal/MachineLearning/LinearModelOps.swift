import SwitchyardTensor

/// ai.onnx.ml LinearClassifier (LogisticRegression, SGDClassifier, RidgeClassifier, LinearSVC): scores
/// `X·Wᵀ + b` through OpenBLAS, the best class's label, then the post transform, with onnxruntime's rules: the
/// class count is the number of intercepts, and one score column with two labels is answered as two columns.
struct LinearClassifierOp: Operator {
    /// The labels output is a string tensor when the labels are strings.
    var acceptsStrings: Bool { true }
    let labels: ClassLabels
    let coefficients: [Float]
    let intercepts: [Float]
    let transform: PostTransform
    let targets: Int

    init(_ attributes: Attributes) throws(EngineError) {
        self.labels = try ClassLabels(attributes, ints: "classlabels_ints", strings: "classlabels_strings")
        guard let coefficients = try attributes.floats("coefficients"), !coefficients.isEmpty else {
            throw attributes.error("coefficients are required")
        }
        self.coefficients = coefficients
        let intercepts = try attributes.floats("intercepts") ?? []
        self.targets = intercepts.isEmpty ? self.labels.count : intercepts.count
        self.intercepts = intercepts.isEmpty ? [Float](repeating: 0, count: self.targets) : intercepts
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = PostTransform(name: name) else {
            throw attributes.error(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self.transform = transform
        guard self.coefficients.count % self.targets == 0 else {
            throw attributes.error(
                "\(coefficients.count) coefficients do not divide into \(self.targets) score columns")
        }
        guard self.targets == 1 || self.targets <= self.labels.count else {
            throw attributes.error("\(self.targets) score columns for \(self.labels.count) class labels")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: 0)
        let targets = self.targets
        guard features * targets == self.coefficients.count else {
            throw context.error(
                "the input has \(features) features; the model needs \(self.coefficients.count / targets)")
        }
        let twoColumns = targets == 1 && self.labels.count == 2
        let width = twoColumns ? 2 : targets
        let castBytes = x.dtype == .float32 ? 0 : alignUp(rows * features * 4)
        let op = self
        return OpPlan(
            outputs: [
                ValueType(dtype: self.labels.dtype, shape: [rows]), ValueType(dtype: .float32, shape: [rows, width]),
            ],
            kernel: { io in
                let input = floatRows(io, x.dtype, count: rows * features)
                let labels = io.output(0)
                let z = io.outF32(1)
                // Scores land packed ([rows, targets]) at the start of Z; the two-column case spreads them below.
                for row in 0..<rows { (z + row * targets).update(from: op.intercepts, count: targets) }
                sgemm(
                    transA: false, transB: true, m: rows, n: targets, k: features, alpha: 1, a: input, lda: features,
                    b: op.coefficients, ldb: features, beta: 1, c: z, ldc: targets)
                for row in 0..<rows {
                    let line = z + row * targets
                    if targets == 1 {
                        if op.labels.count == 2 {
                            op.labels.store(index: line[0] > 0 ? 1 : 0, into: labels, row)
                        } else {
                            op.labels.store(literal: line[0] > 0 ? 1 : 0, into: labels, row)
                        }
                    } else {
                        var best = 0
                        for index in 1..<targets where line[index] > line[best] { best = index }
                        op.labels.store(index: best, into: labels, row)
                    }
                }
                if twoColumns {
                    for row in stride(from: rows - 1, through: 0, by: -1) {
                        let score = z[row]
                        if op.transform == .probit {
                            z[row * 2] = mlProbit(score)
                            z[row * 2 + 1] = 0
                        } else {
                            z[row * 2] = 1 - score
                            z[row * 2 + 1] = score
                        }
                    }
                } else if targets > 1 {
                    for row in 0..<rows { mlTransform(op.transform, z + row * targets, targets) }
                } else if op.transform == .probit {
                    for row in 0..<rows { z[row] = mlProbit(z[row]) }
                }
            }, scratch: castBytes)
    }
}

/// ai.onnx.ml LinearRegressor (LinearRegression, Ridge, Lasso, SGDRegressor, LinearSVR): `X·Wᵀ + b` for each
/// target, then the post transform over the targets.
struct LinearRegressorOp: Operator {
    let coefficients: [Float]
    let intercepts: [Float]
    let targets: Int
    let transform: PostTransform

    init(_ attributes: Attributes) throws(EngineError) {
        guard let coefficients = try attributes.floats("coefficients"), !coefficients.isEmpty else {
            throw attributes.error("coefficients are required")
        }
        self.coefficients = coefficients
        self.targets = try attributes.int("targets", 1)
        guard self.targets >= 1, coefficients.count % self.targets == 0 else {
            throw attributes.error("\(coefficients.count) coefficients do not divide into \(self.targets) targets")
        }
        let intercepts = try attributes.floats("intercepts") ?? []
        guard intercepts.isEmpty || intercepts.count == self.targets else {
            throw attributes.error("\(intercepts.count) intercepts for \(self.targets) targets")
        }
        self.intercepts = intercepts.isEmpty ? [Float](repeating: 0, count: self.targets) : intercepts
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = PostTransform(name: name) else {
            throw attributes.error(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self.transform = transform
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: 0)
        let targets = self.targets
        guard features * targets == self.coefficients.count else {
            throw context.error(
                "the input has \(features) features; the model needs \(self.coefficients.count / targets)")
        }
        let castBytes = x.dtype == .float32 ? 0 : alignUp(rows * features * 4)
        let op = self
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [rows, targets])],
            kernel: { io in
                let input = floatRows(io, x.dtype, count: rows * features)
                let y = io.outF32(0)
                for row in 0..<rows { (y + row * targets).update(from: op.intercepts, count: targets) }
                sgemm(
                    transA: false, transB: true, m: rows, n: targets, k: features, alpha: 1, a: input, lda: features,
                    b: op.coefficients, ldb: features, beta: 1, c: y, ldc: targets)
                if targets > 1 {
                    for row in 0..<rows { mlTransform(op.transform, y + row * targets, targets) }
                } else if op.transform == .probit {
                    for row in 0..<rows { y[row] = mlProbit(y[row]) }
                }
            }, scratch: castBytes)
    }
}

/// ai.onnx.ml Normalizer, as onnxruntime computes it: rows divided by their maximum (signed), L1 norm or L2 norm
/// (a zero norm leaves the row as it is); float output for any numeric input.
struct NormalizerOp: Operator {
    var norm: String

    init(_ attributes: Attributes) throws(EngineError) {
        self.norm = try attributes.string("norm", "MAX")
        guard ["MAX", "L1", "L2"].contains(self.norm) else {
            throw attributes.error("norm '\(self.norm)' is not MAX, L1 or L2")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, mlNumericTypes)
        guard x.shape.count == 1 || x.shape.count == 2 else {
            throw context.error("input must be 1-D or 2-D, got \(x.shape)")
        }
        let columns = x.shape.last!
        let rows = x.shape.count == 2 ? x.shape[0] : 1
        let (norm, dtype) = (self.norm, x.dtype)
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: x.shape)],
            kernel: { io in
                let source = io.input(0)
                let y = io.outF32(0)
                for row in 0..<rows {
                    let out = y + row * columns
                    for column in 0..<columns { out[column] = loadFloat(source, row * columns + column, dtype) }
                    switch norm {
                    case "MAX":
                        var largest = -Float.greatestFiniteMagnitude
                        for column in 0..<columns { largest = max(largest, out[column]) }
                        if largest != 0 { for column in 0..<columns { out[column] /= largest } }
                    case "L1":
                        var sum: Float = 0
                        for column in 0..<columns { sum += abs(out[column]) }
                        if sum != 0 { for column in 0..<columns { out[column] /= sum } }
                    default:
                        var sum: Float = 0
                        for column in 0..<columns { sum += out[column] * out[column] }
                        if sum != 0 {
                            for column in 0..<columns {
                                let value = out[column]
                                let scaled = (value * value / sum).squareRoot()
                                out[column] = value < 0 ? -scaled : scaled
                            }
                        }
                    }
                }
            }, inPlace: dtype == .float32 ? 0 : nil)
    }
}
