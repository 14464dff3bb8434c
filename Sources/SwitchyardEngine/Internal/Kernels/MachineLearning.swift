import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// ai.onnx.ml ArrayFeatureExtractor: picks columns of the last axis by index (skl2onnx uses it to map
/// an ArgMax to class labels).
struct ArrayFeatureExtractorOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32, .float64, .int64, .int32])
        let indices = try context.input(1, [.int64])
        guard !x.shape.isEmpty else { throw context.error("X must have rank 1 or more") }
        let last = x.shape[x.shape.count - 1]
        let picks = indices.count
        var shape = x.shape
        if shape.count == 1 { shape = [1, picks] } else { shape[shape.count - 1] = picks }
        let rows = x.count / max(last, 1)
        let width = x.dtype.byteWidth!
        let node = context.node
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let source = io.input(0)
                let target = io.output(0)
                let chosen = io.input(1).assumingMemoryBound(to: Int64.self)
                for pick in 0..<picks where chosen[pick] < 0 || chosen[pick] >= last {
                    throw EngineError(
                        .invalidInput,
                        "node '\(node)' (ArrayFeatureExtractor): index \(chosen[pick]) is out of range 0..<\(last)")
                }
                for row in 0..<rows {
                    for pick in 0..<picks {
                        (target + (row * picks + pick) * width).copyMemory(
                            from: source + (row * last + Int(chosen[pick])) * width, byteCount: width)
                    }
                }
            })
    }
}

/// ai.onnx.ml LinearClassifier (what skl2onnx emits for LogisticRegression and linear SVMs): scores
/// = X·Wᵀ + b through OpenBLAS, an optional post transform, and the label of the best score.
struct LinearClassifierOp: Operator {
    enum Transform: String, Sendable {
        case none = "NONE", softmax = "SOFTMAX", logistic = "LOGISTIC", softmaxZero = "SOFTMAX_ZERO"
    }
    var labels: [Int64]
    var coefficients: [Float]
    var intercepts: [Float]
    var transform: Transform

    init(_ attributes: Attributes) throws(EngineError) {
        guard let labels = try attributes.ints("classlabels_ints") else {
            throw attributes.error("only integer class labels (classlabels_ints) are supported", .unsupportedOperator)
        }
        guard let coefficients = try attributes.floats("coefficients") else {
            throw attributes.error("coefficients are required")
        }
        self.labels = labels.map { Int64($0) }
        self.coefficients = coefficients
        self.intercepts = try attributes.floats("intercepts") ?? []
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = Transform(rawValue: name) else {
            throw attributes.error("post_transform '\(name)' is not supported", .unsupportedOperator)
        }
        self.transform = transform
        guard !labels.isEmpty, coefficients.count % labels.count == 0 else {
            throw attributes.error(
                "\(coefficients.count) coefficients for \(labels.count) classes; one row per class is supported (not the single-row binary form)",
                .unsupportedOperator)
        }
        guard self.intercepts.isEmpty || self.intercepts.count == labels.count else {
            throw attributes.error("\(self.intercepts.count) intercepts for \(labels.count) classes")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        let classes = self.labels.count
        let features = self.coefficients.count / classes
        let rows: Int
        switch x.shape.count {
        case 1 where x.shape[0] == features: rows = 1
        case 2 where x.shape[1] == features: rows = x.shape[0]
        default: throw context.error("input \(x.shape) does not have \(features) features per row")
        }
        let weights = Constant(self.coefficients, shape: [classes, features])
        let bias = self.intercepts.isEmpty ? nil : Constant(self.intercepts, shape: [classes])
        let (labels, transform) = (self.labels, self.transform)
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: [rows]), ValueType(dtype: .float32, shape: [rows, classes])],
            kernel: { io in
                let scores = io.outF32(1)
                sgemm(
                    transA: false, transB: true, m: rows, n: classes, k: features, alpha: 1, a: io.f32(0),
                    lda: features,
                    b: weights.buffer.pointer.assumingMemoryBound(to: Float.self), ldb: features, beta: 0, c: scores,
                    ldc: classes)
                let labelsOut = io.output(0).assumingMemoryBound(to: Int64.self)
                for row in 0..<rows {
                    let line = scores + row * classes
                    if let bias {
                        let b = bias.buffer.pointer.assumingMemoryBound(to: Float.self)
                        for column in 0..<classes { line[column] += b[column] }
                    }
                    var best = 0
                    for column in 1..<max(classes, 1) where line[column] > line[best] { best = column }
                    labelsOut[row] = labels[best]
                    switch transform {
                    case .none: break
                    case .logistic: apply(.sigmoid, line, classes)
                    case .softmax, .softmaxZero:
                        var largest = -Float.infinity
                        for column in 0..<classes { largest = max(largest, line[column]) }
                        var sum: Float = 0
                        for column in 0..<classes {
                            let e = transform == .softmaxZero && line[column] == 0 ? 0 : expf(line[column] - largest)
                            line[column] = e
                            sum += e
                        }
                        if sum > 0 { for column in 0..<classes { line[column] /= sum } }
                    }
                }
            })
    }
}

/// ai.onnx.ml Normalizer: each row scaled to unit MAX, L1 or L2 norm.
struct NormalizerOp: Operator {
    var norm: String

    init(_ attributes: Attributes) throws(EngineError) {
        self.norm = try attributes.string("norm", "MAX")
        guard ["MAX", "L1", "L2"].contains(self.norm) else {
            throw attributes.error("norm '\(self.norm)' is not MAX, L1 or L2")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 1 || x.shape.count == 2 else {
            throw context.error("input must be 1-D or 2-D, got \(x.shape)")
        }
        let columns = x.shape.last!
        let rows = x.shape.count == 2 ? x.shape[0] : 1
        let norm = self.norm
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let source = io.f32(0)
                let y = io.outF32(0)
                for row in 0..<rows {
                    let line = source + row * columns
                    var total: Float = 0
                    switch norm {
                    case "MAX": total = (0..<columns).reduce(-Float.infinity) { max($0, line[$1]) }
                    case "L1": for column in 0..<columns { total += abs(line[column]) }
                    default:
                        for column in 0..<columns { total += line[column] * line[column] }
                        total = total.squareRoot()
                    }
                    let out = y + row * columns
                    for column in 0..<columns { out[column] = total == 0 ? line[column] : line[column] / total }
                }
            }, inPlace: 0)
    }
}
