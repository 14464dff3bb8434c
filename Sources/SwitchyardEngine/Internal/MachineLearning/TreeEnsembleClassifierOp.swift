import SwitchyardTensor

/// ai.onnx.ml TreeEnsembleClassifier 1 and 3 (RandomForest, GradientBoosting, XGBoost, LightGBM classifiers):
/// labels and per-class scores, with onnxruntime's rules for binary models and base values.
struct TreeEnsembleClassifierOp: Operator {
    /// The labels output is a string tensor when the labels are strings.
    var acceptsStrings: Bool { true }
    let forest: TreeForest
    let labels: ClassLabels
    let baseValues: [Double]
    let transform: PostTransform
    /// Two classes and every vote for one class: the other class's score is derived.
    let binaryCase: Bool
    let weightsArePositive: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        var tables = try LegacyTreeTables(attributes, votes: "class", weights: "class_weights")
        self.labels = try ClassLabels(attributes, ints: "classlabels_int64s", strings: "classlabels_strings")
        guard self.labels.count >= 2 else {
            throw attributes.error("a classifier needs at least two class labels", .unsupportedOperator)
        }
        tables.spec.targets = self.labels.count
        self.baseValues = try LegacyTreeTables.baseValues(attributes, doublePrecision: &tables.spec.doublePrecision)
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = PostTransform(name: name) else {
            throw attributes.error(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self.transform = transform
        let votedClasses = Set(tables.spec.leaves.flatMap(\.targets))
        self.binaryCase = self.labels.count == 2 && votedClasses.count == 1
        self.weightsArePositive = tables.spec.leaves.allSatisfy { $0.values.allSatisfy { $0 >= 0 } }
        self.forest = try TreeForest(tables.spec, node: attributes.node)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: self.forest.maxFeature + 1)
        let classes = self.labels.count
        // onnxruntime compares and sums in double for double inputs (and double attributes ask for it too).
        let double = self.forest.spec.doublePrecision || x.dtype == .float64
        let scratch = TreeScratch(rows: rows, features: features, targets: classes, double: double)
        let op = self
        return OpPlan(
            outputs: [
                ValueType(dtype: self.labels.dtype, shape: [rows]), ValueType(dtype: .float32, shape: [rows, classes]),
            ],
            kernel: { io in
                let labels = io.output(0)
                let z = io.outF32(1)
                if double {
                    let (scores, flags) = scratch.run(
                        op.forest, Double.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
                    for row in 0..<rows {
                        op.finish(scores + row * classes, flags + row * classes, z + row * classes, labels, row)
                    }
                } else {
                    let (scores, flags) = scratch.run(
                        op.forest, Float.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
                    for row in 0..<rows {
                        op.finish(scores + row * classes, flags + row * classes, z + row * classes, labels, row)
                    }
                }
            }, scratch: scratch.bytes)
    }

    /// onnxruntime's TreeAggregatorClassifier::FinalizeScores for one row.
    @inline(__always)
    private func finish<A: BinaryFloatingPoint>(
        _ scores: UnsafeMutablePointer<A>, _ has: UnsafeMutablePointer<Bool>, _ z: UnsafeMutablePointer<Float>,
        _ labels: UnsafeMutableRawPointer, _ row: Int
    ) {
        let classes = self.labels.count
        if self.forest.spec.aggregate == .average {
            for index in 0..<classes { scores[index] /= A(self.forest.spec.roots.count) }
        }
        if classes > 2 {
            for (index, base) in self.baseValues.prefix(classes).enumerated() {
                scores[index] = has[index] ? scores[index] + A(base) : A(base)
                has[index] = true
            }
            var best = -1
            for index in 0..<classes where has[index] && (best < 0 || scores[index] > scores[best]) { best = index }
            self.labels.store(index: max(best, 0), into: labels, row)
            // onnxruntime writes a class no leaf voted for (and no base value set) as 0.
            for index in 0..<classes { z[index] = has[index] ? Float(scores[index]) : 0 }
            mlTransform(self.transform, z, classes)
            return
        }
        var written = -1
        var count = 2
        if self.baseValues.count == 2 {
            if has[1] {
                scores[1] = A(self.baseValues[1]) + scores[0]
                scores[0] = -scores[1]
                has[1] = true
            } else {
                scores[1] += A(self.baseValues[1])
                scores[0] += A(self.baseValues[0])
            }
        } else if self.baseValues.count == 1 {
            scores[0] += A(self.baseValues[0])
            if !has[1] { count = 1 }
        } else if self.baseValues.isEmpty {
            written = 3
            if !has[1] { count = 1 }
        }
        let positive = count == 2 && has[1] ? scores[1] : (has[0] ? scores[0] : 0)
        let label: Int
        if self.binaryCase {
            if self.weightsArePositive {
                (written, label) = positive > 0.5 ? (0, 1) : (1, 0)
            } else {
                (written, label) = positive > 0 ? (2, 1) : (3, 0)
            }
            self.labels.store(index: label, into: labels, row)
        } else {
            // onnxruntime answers 1 or 0 here, not the labels.
            self.labels.store(literal: positive > 0 ? 1 : 0, into: labels, row)
        }
        if count == 2 {
            z[0] = has[0] ? Float(scores[0]) : 0
            z[1] = has[1] ? Float(scores[1]) : 0
            mlTransform(self.transform, z, 2)
            return
        }
        let score = has[0] ? Float(scores[0]) : 0
        if self.transform == .probit {
            z[0] = mlProbit(score)
            z[1] = 0
            return
        }
        switch written {
        case 0, 1:
            z[0] = 1 - score
            z[1] = score
        case 2, 3:
            if self.transform == .logistic {
                z[0] = mlLogistic(-score)
                z[1] = mlLogistic(score)
            } else {
                z[0] = -score
                z[1] = score
            }
        default:
            z[0] = score
            z[1] = 0
        }
    }
}
