import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kernel of an SVM (libsvm's four), computed as onnxruntime does: RBF directly, the others through one
/// GEMM of the rows against the support vectors.
struct SVMKernel: Sendable {
    enum Kind: String, Sendable {
        case linear = "LINEAR"
        case poly = "POLY"
        case rbf = "RBF"
        case sigmoid = "SIGMOID"
    }
    var kind: Kind
    var gamma: Float = 0
    var coef0: Float = 0
    var degree: Float = 0

    init(_ attributes: Attributes) throws(EngineError) {
        let name = try attributes.string("kernel_type", "LINEAR")
        guard let kind = Kind(rawValue: name) else {
            throw attributes.error("kernel_type '\(name)' is not LINEAR, POLY, RBF or SIGMOID")
        }
        self.kind = kind
        if let parameters = try attributes.floats("kernel_params"), !parameters.isEmpty {
            guard parameters.count >= 3 else { throw attributes.error("kernel_params needs gamma, coef0 and degree") }
            (self.gamma, self.coef0, self.degree) = (parameters[0], parameters[1], parameters[2])
        }
    }

    /// `out[m, n] = K(a[m], b[n]) + constant` for LINEAR (the constant is the intercept there), over `k` features.
    func apply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, m: Int, n: Int, k: Int, constant: Float,
        _ out: UnsafeMutablePointer<Float>
    ) {
        if self.kind == .rbf {
            for row in 0..<m {
                let x = a + row * k
                for vector in 0..<n {
                    let v = b + vector * k
                    var sum: Float = 0
                    for feature in 0..<k {
                        let difference = x[feature] - v[feature]
                        sum += difference * difference
                    }
                    out[row * n + vector] = expf(-self.gamma * sum)
                }
            }
            return
        }
        let alpha: Float = self.kind == .linear ? 1 : self.gamma
        let c: Float = self.kind == .linear ? constant : self.coef0
        out.initialize(repeating: c, count: m * n)
        sgemm(
            transA: false, transB: true, m: m, n: n, k: k, alpha: alpha, a: a, lda: k, b: b, ldb: k, beta: 1, c: out,
            ldc: n)
        switch self.kind {
        case .poly:
            for index in 0..<(m * n) {
                let value = out[index]
                out[index] =
                    self.degree == 2
                    ? value * value : self.degree == 3 ? value * value * value : powf(value, self.degree)
            }
        case .sigmoid:
            for index in 0..<(m * n) { out[index] = tanhf(out[index]) }
        default: break
        }
    }
}

/// Converts any numeric input to float rows in scratch (onnxruntime's SVM and linear kernels run on floats).
@inline(__always)
func floatRows(_ io: IO, _ dtype: DType, count: Int) -> UnsafePointer<Float> {
    if dtype == .float32 { return io.f32(0) }
    let buffer = io.scratch.assumingMemoryBound(to: Float.self)
    let source = io.input(0)
    for index in 0..<count { buffer[index] = loadFloat(source, index, dtype) }
    return UnsafePointer(buffer)
}

/// ai.onnx.ml SVMClassifier (scikit-learn SVC, NuSVC, LinearSVC): libsvm's one-against-one votes, pairwise
/// scores, and with `prob_a`/`prob_b` Platt probabilities coupled as libsvm couples them.
struct SVMClassifierOp: Operator {
    /// The labels output is a string tensor when the labels are strings.
    var acceptsStrings: Bool { true }
    let kernel: SVMKernel
    let labels: ClassLabels
    let coefficients: [Float]
    let supportVectors: [Float]
    let vectorsPerClass: [Int]
    let starts: [Int]
    let rho: [Float]
    let probA: [Float]
    let probB: [Float]
    let transform: PostTransform
    let vectorCount: Int
    let featureCount: Int
    let weightsArePositive: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        self.kernel = try SVMKernel(attributes)
        self.labels = try ClassLabels(attributes, ints: "classlabels_ints", strings: "classlabels_strings")
        self.coefficients = try attributes.floats("coefficients") ?? []
        self.supportVectors = try attributes.floats("support_vectors") ?? []
        self.vectorsPerClass = try attributes.ints("vectors_per_class") ?? []
        self.rho = try attributes.floats("rho") ?? []
        self.probA = try attributes.floats("prob_a") ?? []
        self.probB = try attributes.floats("prob_b") ?? []
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = PostTransform(name: name) else {
            throw attributes.error(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self.transform = transform
        guard !self.coefficients.isEmpty else { throw attributes.error("coefficients are required") }
        guard self.probA.count == self.probB.count else { throw attributes.error("prob_a and prob_b differ in length") }
        let classes = self.labels.count
        guard classes >= 2 && classes < 65536 else { throw attributes.error("\(classes) classes are not supported") }
        var starts: [Int] = []
        var total = 0
        for count in self.vectorsPerClass {
            guard count >= 0 else { throw attributes.error("vectors_per_class has a negative count") }
            starts.append(total)
            total += count
        }
        self.starts = starts
        self.vectorCount = total
        let pairs = classes * (classes - 1) / 2
        if total > 0 {
            guard self.vectorsPerClass.count == classes else {
                throw attributes.error(
                    "vectors_per_class has \(self.vectorsPerClass.count) entries for \(classes) classes")
            }
            guard self.supportVectors.count % total == 0, !self.supportVectors.isEmpty else {
                throw attributes.error("support_vectors do not divide into \(total) vectors")
            }
            self.featureCount = self.supportVectors.count / total
            guard self.coefficients.count >= (classes - 1) * total else {
                throw attributes.error(
                    "coefficients has \(self.coefficients.count) values, expected \((classes - 1) * total)")
            }
            guard self.rho.count >= pairs else { throw attributes.error("rho needs \(pairs) values") }
            guard self.probA.isEmpty || self.probA.count >= pairs else {
                throw attributes.error("prob_a and prob_b need \(pairs) values")
            }
        } else {
            guard self.coefficients.count % classes == 0 else {
                throw attributes.error("coefficients do not divide into \(classes) classes")
            }
            self.featureCount = self.coefficients.count / classes
            guard !self.rho.isEmpty else { throw attributes.error("rho is required") }
        }
        self.weightsArePositive = self.coefficients.allSatisfy { $0 >= 0 }
    }

    private var svc: Bool { self.vectorCount > 0 }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: 0)
        guard features == self.featureCount else {
            throw context.error("the input has \(features) features; the model needs \(self.featureCount)")
        }
        let classes = self.labels.count
        let pairs = classes * (classes - 1) / 2
        let proba = !self.probA.isEmpty
        let width = self.svc && !proba ? (classes > 2 ? pairs : 2) : classes
        let kernels = self.svc ? rows * self.vectorCount : 0
        let castBytes = x.dtype == .float32 ? 0 : alignUp(rows * features * 4)
        let kernelOffset = castBytes
        let pairOffset = kernelOffset + alignUp(kernels * 4)
        let scratch =
            pairOffset + alignUp(max(pairs, classes) * 4) + alignUp(classes * classes * 4) * 3
            + alignUp(classes * 8)
        let op = self
        return OpPlan(
            outputs: [
                ValueType(dtype: self.labels.dtype, shape: [rows]), ValueType(dtype: .float32, shape: [rows, width]),
            ],
            kernel: { io in
                let input = floatRows(io, x.dtype, count: rows * features)
                let z = io.outF32(1)
                let labels = io.output(0)
                if !op.svc {
                    op.kernel.with(kind: .linear).apply(
                        input, op.coefficients, m: rows, n: classes, k: features, constant: op.rho[0], z)
                    for row in 0..<rows {
                        let line = z + row * classes
                        var best = 0
                        for index in 1..<classes where line[index] > line[best] { best = index }
                        op.chooseLabel(labels, row, maxWeight: line[best], maxClass: best, proba: false)
                        mlTransform(op.transform, line, classes)
                    }
                    return
                }
                let k = (io.scratch + kernelOffset).assumingMemoryBound(to: Float.self)
                op.kernel.apply(input, op.supportVectors, m: rows, n: op.vectorCount, k: features, constant: 0, k)
                let scores = (io.scratch + pairOffset).assumingMemoryBound(to: Float.self)
                let work = (io.scratch + pairOffset + alignUp(max(pairs, classes) * 4)).assumingMemoryBound(
                    to: Float.self)
                let votes = (io.scratch + scratch - alignUp(classes * 8)).assumingMemoryBound(to: Int.self)
                for row in 0..<rows {
                    op.pairwise(k + row * op.vectorCount, scores, votes)
                    var best = 0
                    for index in 1..<classes where votes[index] > votes[best] { best = index }
                    op.chooseLabel(labels, row, maxWeight: 0, maxClass: best, proba: proba)
                    let line = z + row * width
                    if proba {
                        op.probabilities(scores, work, line)
                        mlTransform(op.transform, line, classes)
                    } else if pairs > 1 {
                        for index in 0..<pairs { line[index] = scores[index] }
                        mlTransform(op.transform, line, pairs)
                    } else {
                        let score = scores[0]
                        if op.transform == .probit {
                            line[0] = mlProbit(score)
                            line[1] = 0
                        } else if op.transform == .none {
                            line[0] = -score
                            line[1] = score
                        } else {
                            line[0] = 1 - score
                            line[1] = score
                        }
                    }
                }
            }, scratch: scratch)
    }

    /// The one-against-one scores of a row (pairs in libsvm's order) and the votes they cast.
    private func pairwise(
        _ k: UnsafePointer<Float>, _ scores: UnsafeMutablePointer<Float>, _ votes: UnsafeMutablePointer<Int>
    ) {
        let classes = self.labels.count
        votes.initialize(repeating: 0, count: classes)
        var pair = 0
        for i in 0..<(classes - 1) {
            for j in (i + 1)..<classes {
                var sum: Double = 0
                let rowJ = self.vectorCount * (j - 1)
                let rowI = self.vectorCount * i
                for m in 0..<self.vectorsPerClass[i] {
                    sum += Double(self.coefficients[rowJ + self.starts[i] + m] * k[self.starts[i] + m])
                }
                for m in 0..<self.vectorsPerClass[j] {
                    sum += Double(self.coefficients[rowI + self.starts[j] + m] * k[self.starts[j] + m])
                }
                sum += Double(self.rho[pair])
                scores[pair] = Float(sum)
                votes[sum > 0 ? i : j] += 1
                pair += 1
            }
        }
    }

    /// Platt's pairwise probabilities coupled into class probabilities (libsvm's multiclass_probability).
    private func probabilities(
        _ scores: UnsafePointer<Float>, _ work: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>
    ) {
        let classes = self.labels.count
        let r = work
        r.initialize(repeating: 0, count: classes * classes)
        var index = 0
        for i in 0..<(classes - 1) {
            for j in (i + 1)..<classes {
                let value = 1 - mlLogistic(scores[index] * self.probA[index] + self.probB[index])
                let clipped = min(max(value, 1e-7), 1 - 1e-7)
                r[i * classes + j] = clipped
                r[j * classes + i] = 1 - clipped
                index += 1
            }
        }
        let q = work + classes * classes
        let qp = q + classes * classes
        q.initialize(repeating: 0, count: classes * classes)
        qp.initialize(repeating: 0, count: classes)
        let eps = 0.005 / Float(classes)
        for i in 0..<classes {
            out[i] = 1 / Float(classes)
            for j in 0..<i {
                q[i * classes + i] += r[j * classes + i] * r[j * classes + i]
                q[i * classes + j] = q[j * classes + i]
            }
            for j in (i + 1)..<classes {
                q[i * classes + i] += r[j * classes + i] * r[j * classes + i]
                q[i * classes + j] = -r[j * classes + i] * r[i * classes + j]
            }
        }
        for _ in 0..<100 {
            var pqp: Float = 0
            for i in 0..<classes {
                qp[i] = 0
                for j in 0..<classes { qp[i] += q[i * classes + j] * out[j] }
                pqp += out[i] * qp[i]
            }
            var maxError: Float = 0
            for i in 0..<classes { maxError = max(maxError, abs(qp[i] - pqp)) }
            if maxError < eps { break }
            for i in 0..<classes {
                let diff = (-qp[i] + pqp) / q[i * classes + i]
                out[i] += diff
                pqp = (pqp + diff * (diff * q[i * classes + i] + 2 * qp[i])) / (1 + diff) / (1 + diff)
                for j in 0..<classes {
                    qp[j] = (qp[j] + diff * q[i * classes + j]) / (1 + diff)
                    out[j] /= 1 + diff
                }
            }
        }
    }

    /// onnxruntime's ChooseClass: the binary rules on the winning weight, else the class with most votes/score.
    private func chooseLabel(
        _ labels: UnsafeMutableRawPointer, _ row: Int, maxWeight: Float, maxClass: Int, proba: Bool
    ) {
        var pick = maxClass
        if self.labels.count == 2 && !proba {
            if (self.weightsArePositive && maxWeight >= 0.5) || (maxWeight > 0 && !self.weightsArePositive) { pick = 1 }
        }
        self.labels.store(index: pick, into: labels, row)
    }
}

extension SVMKernel {
    func with(kind: Kind) -> SVMKernel {
        var copy = self
        copy.kind = kind
        return copy
    }
}

/// ai.onnx.ml SVMRegressor (SVR, NuSVR, OneClassSVM): the kernel against the support vectors, weighted by the
/// coefficients, plus rho; `one_class` answers ±1.
struct SVMRegressorOp: Operator {
    let kernel: SVMKernel
    let coefficients: [Float]
    let supportVectors: [Float]
    let vectorCount: Int
    let rho: Float
    let oneClass: Bool
    let featureCount: Int

    init(_ attributes: Attributes) throws(EngineError) {
        self.kernel = try SVMKernel(attributes)
        self.coefficients = try attributes.floats("coefficients") ?? []
        self.supportVectors = try attributes.floats("support_vectors") ?? []
        self.vectorCount = try attributes.int("n_supports", 0)
        guard let rho = try attributes.floats("rho"), let first = rho.first else {
            throw attributes.error("rho is required")
        }
        self.rho = first
        self.oneClass = try attributes.int("one_class", 0) != 0
        guard !self.coefficients.isEmpty else { throw attributes.error("coefficients are required") }
        let transform = try attributes.string("post_transform", "NONE")
        guard transform == "NONE" else {
            throw attributes.error("post_transform '\(transform)' is not supported (NONE only)", .unsupportedOperator)
        }
        if self.vectorCount > 0 {
            guard self.supportVectors.count % self.vectorCount == 0, !self.supportVectors.isEmpty,
                self.coefficients.count >= self.vectorCount
            else {
                throw attributes.error("support_vectors and coefficients do not fit n_supports = \(self.vectorCount)")
            }
            self.featureCount = self.supportVectors.count / self.vectorCount
        } else {
            self.featureCount = self.coefficients.count
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: 0)
        guard features == self.featureCount else {
            throw context.error("the input has \(features) features; the model needs \(self.featureCount)")
        }
        let castBytes = x.dtype == .float32 ? 0 : alignUp(rows * features * 4)
        let op = self
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [rows, 1])],
            kernel: { io in
                let input = floatRows(io, x.dtype, count: rows * features)
                let y = io.outF32(0)
                if op.vectorCount > 0 {
                    let k = (io.scratch + castBytes).assumingMemoryBound(to: Float.self)
                    op.kernel.apply(input, op.supportVectors, m: rows, n: op.vectorCount, k: features, constant: 0, k)
                    y.initialize(repeating: op.rho, count: rows)
                    sgemm(
                        transA: false, transB: true, m: rows, n: 1, k: op.vectorCount, alpha: 1, a: k,
                        lda: op.vectorCount, b: op.coefficients, ldb: op.vectorCount, beta: 1, c: y, ldc: 1)
                } else {
                    op.kernel.with(kind: .linear).apply(
                        input, op.coefficients, m: rows, n: 1, k: features, constant: op.rho, y)
                }
                if op.oneClass { for row in 0..<rows { y[row] = y[row] > 0 ? 1 : -1 } }
            }, scratch: castBytes + alignUp(rows * max(self.vectorCount, 1) * 4))
    }
}
