import SwitchyardTensor

/// ai.onnx.ml TreeEnsembleRegressor 1 and 3.
struct TreeEnsembleRegressorOp: Operator {
    let forest: TreeForest
    let baseValues: [Double]
    let transform: PostTransform

    init(_ attributes: Attributes) throws(EngineError) {
        var tables = try LegacyTreeTables(attributes, votes: "target", weights: "target_weights")
        tables.spec.targets = try attributes.int("n_targets", 1)
        guard tables.spec.targets >= 1 && tables.spec.targets < 1 << 20 else {
            throw attributes.error("n_targets = \(tables.spec.targets) is out of range")
        }
        let aggregate = try attributes.string("aggregate_function", "SUM")
        switch aggregate {
        case "SUM": tables.spec.aggregate = .sum
        case "AVERAGE": tables.spec.aggregate = .average
        case "MIN": tables.spec.aggregate = .min
        case "MAX": tables.spec.aggregate = .max
        default: throw attributes.error("aggregate_function '\(aggregate)' is not SUM, AVERAGE, MIN or MAX")
        }
        self.baseValues = try LegacyTreeTables.baseValues(attributes, doublePrecision: &tables.spec.doublePrecision)
        let name = try attributes.string("post_transform", "NONE")
        guard let transform = PostTransform(name: name) else {
            throw attributes.error(
                "post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"
            )
        }
        self.transform = transform
        self.forest = try TreeForest(tables.spec, node: attributes.node)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: self.forest.maxFeature + 1)
        return planRegression(
            forest: self.forest,
            baseValues: self.baseValues,
            transform: self.transform,
            x: x,
            rows: rows,
            features: features,
            output: .float32
        )
    }
}

/// ai.onnx.ml TreeEnsemble 5: the regressor of opset 5, with interior nodes and leaves in separate tables, set
/// membership and an output of the input's type.
struct TreeEnsembleOp: Operator {
    let forest: TreeForest
    let transform: PostTransform

    init(_ attributes: Attributes) throws(EngineError) {
        func required(_ name: String) throws(EngineError) -> [Int] {
            guard let values = try attributes.ints(name) else {
                throw attributes.error("attribute '\(name)' is required")
            }
            return values
        }
        func tensor(_ name: String) throws(EngineError) -> Constant? {
            guard let value = attributes.values[name] else { return nil }
            guard case .tensor(let constant) = value else {
                throw attributes.error("attribute '\(name)' must be a tensor")
            }
            return constant
        }
        let features = try required("nodes_featureids")
        let trueIDs = try required("nodes_truenodeids")
        let falseIDs = try required("nodes_falsenodeids")
        let trueLeafs = try required("nodes_trueleafs")
        let falseLeafs = try required("nodes_falseleafs")
        let targets = try required("leaf_targetids")
        let roots = try required("tree_roots")
        let missing = try attributes.ints("nodes_missing_value_tracks_true") ?? []
        guard let splitsTensor = try tensor("nodes_splits"), let splits = splitsTensor.doubles else {
            throw attributes.error("attribute 'nodes_splits' (a float or double tensor) is required")
        }
        guard let modesTensor = try tensor("nodes_modes"), modesTensor.type.dtype == .uint8 else {
            throw attributes.error("attribute 'nodes_modes' (a uint8 tensor) is required")
        }
        guard let weightsTensor = try tensor("leaf_weights"), let weights = weightsTensor.doubles else {
            throw attributes.error("attribute 'leaf_weights' (a float or double tensor) is required")
        }
        let modes = modesTensor.values(UInt8.self)
        let count = features.count
        let lengths = [trueIDs.count, falseIDs.count, trueLeafs.count, falseLeafs.count, modes.count, splits.count]
        guard lengths.allSatisfy({ $0 == count }), missing.isEmpty || missing.count == count else {
            throw attributes.error("the nodes_* attributes have different lengths")
        }
        guard targets.count == weights.count else {
            throw attributes.error("leaf_targetids and leaf_weights differ in length")
        }
        var members: [Double] = []
        if let membership = try tensor("membership_values") {
            guard let values = membership.doubles else {
                throw attributes.error("membership_values must be a float or double tensor")
            }
            members = values
        }

        var spec = TreeEnsembleSpec()
        spec.doublePrecision = splitsTensor.type.dtype == .float64
        spec.targets = try attributes.int("n_targets", (targets.max() ?? 0) + 1)
        guard spec.targets >= 1 && spec.targets < 1 << 20 else {
            throw attributes.error("n_targets = \(spec.targets) is out of range")
        }
        switch try attributes.int("aggregate_function", 1) {
        case 0: spec.aggregate = .average
        case 1: spec.aggregate = .sum
        case 2: spec.aggregate = .min
        case 3: spec.aggregate = .max
        case let other: throw attributes.error("aggregate_function \(other) is not 0...3")
        }
        let transformCode = try attributes.int("post_transform", 0)
        guard let transform = PostTransform(code: transformCode) else {
            throw attributes.error("post_transform \(transformCode) is not 0...4")
        }
        self.transform = transform
        for index in 0..<targets.count {
            guard let target = Int32(exactly: targets[index]) else {
                throw attributes.error("leaf target out of range")
            }
            spec.leaves.append(TreeEnsembleSpec.Leaf(targets: [target], values: [weights[index]]))
        }
        var memberCursor = 0
        for index in 0..<count {
            guard let mode = TreeEnsembleSpec.Mode(rawValue: modes[index]) else {
                throw attributes.error("node mode \(modes[index]) is not 0...6")
            }
            func reference(_ id: Int, leaf: Int) throws(EngineError) -> TreeEnsembleSpec.Reference {
                guard let value = Int32(exactly: id), value >= 0 else {
                    throw attributes.error("node reference \(id) is out of range")
                }
                return leaf != 0 ? ~value : value
            }
            var branch = TreeEnsembleSpec.Branch(
                mode: mode,
                feature: features[index],
                threshold: splits[index],
                missingTracksTrue: !missing.isEmpty && missing[index] != 0,
                onTrue: try reference(trueIDs[index], leaf: trueLeafs[index]),
                onFalse: try reference(falseIDs[index], leaf: falseLeafs[index])
            )
            if mode == .member {
                var set: [Double] = []
                while memberCursor < members.count && !members[memberCursor].isNaN {
                    set.append(members[memberCursor])
                    memberCursor += 1
                }
                guard memberCursor < members.count || !set.isEmpty else {
                    throw attributes.error("membership_values has no set for node \(index)")
                }
                memberCursor += 1  // the NaN that ends the set
                branch.members = set
            }
            spec.branches.append(branch)
        }
        for root in roots {
            guard root >= 0 && root < count else { throw attributes.error("tree root \(root) is out of range") }
            // A tree that is a single leaf: both branches name the same leaf.
            if trueLeafs[root] != 0 && falseLeafs[root] != 0 && trueIDs[root] == falseIDs[root] {
                spec.roots.append(spec.branches[root].onTrue)
            } else {
                spec.roots.append(Int32(root))
            }
        }
        self.forest = try TreeForest(spec, node: attributes.node)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(
            context,
            minimumFeatures: self.forest.maxFeature + 1,
            types: [.float32, .float64]
        )
        return planRegression(
            forest: self.forest,
            baseValues: [],
            transform: self.transform,
            x: x,
            rows: rows,
            features: features,
            output: x.dtype
        )
    }
}

/// The regressor's output as onnxruntime's TreeAggregator* classes finalize it: base values, average, and the
/// post transform (for a single target, only PROBIT applies).
private func planRegression(
    forest: TreeForest,
    baseValues: [Double],
    transform: PostTransform,
    x: ValueType,
    rows: Int,
    features: Int,
    output: DType
) -> OpPlan {
    let targets = forest.spec.targets
    let double = forest.spec.doublePrecision || x.dtype == .float64
    let scratch = TreeScratch(rows: rows, features: features, targets: targets, double: double)
    let finisher = RegressionFinisher(forest: forest, baseValues: baseValues, transform: transform, output: output)
    let width = finisher.width
    return OpPlan(
        outputs: [ValueType(dtype: output, shape: [rows, targets])],
        kernel: { io in
            let out = io.output(0)
            let line = (io.scratch + scratch.bytes).assumingMemoryBound(to: Float.self)
            if double {
                let (scores, flags) = scratch.run(
                    forest,
                    Double.self,
                    input: io.input(0),
                    dtype: x.dtype,
                    scratch: io.scratch
                )
                for row in 0..<rows {
                    finisher.finish(scores + row * targets, flags + row * targets, out + row * targets * width, line)
                }
            } else {
                let (scores, flags) = scratch.run(
                    forest,
                    Float.self,
                    input: io.input(0),
                    dtype: x.dtype,
                    scratch: io.scratch
                )
                for row in 0..<rows {
                    finisher.finish(scores + row * targets, flags + row * targets, out + row * targets * width, line)
                }
            }
        },
        scratch: scratch.bytes + alignUp(targets * 4)
    )
}

private struct RegressionFinisher: Sendable {
    let targets: Int
    let trees: Int
    let aggregate: TreeEnsembleSpec.Aggregate
    let baseValues: [Double]
    let useBase: Bool
    let origin: Double
    let transform: PostTransform
    let output: DType
    let width: Int

    init(forest: TreeForest, baseValues: [Double], transform: PostTransform, output: DType) {
        self.targets = forest.spec.targets
        self.trees = forest.spec.roots.count
        self.aggregate = forest.spec.aggregate
        self.baseValues = baseValues
        self.useBase = baseValues.count == forest.spec.targets
        self.origin = baseValues.count == 1 ? baseValues[0] : 0
        self.transform = transform
        self.output = output
        self.width = output == .float64 ? 8 : 4
    }

    @inline(__always)
    func finish<A: BinaryFloatingPoint>(
        _ scores: UnsafeMutablePointer<A>,
        _ has: UnsafeMutablePointer<Bool>,
        _ out: UnsafeMutableRawPointer,
        _ line: UnsafeMutablePointer<Float>
    ) {
        if self.targets == 1 {
            var score = scores[0]
            switch self.aggregate {
            case .sum: score += A(self.origin)
            case .average: score = score / A(self.trees) + A(self.origin)
            case .min, .max: score = has[0] ? score + A(self.origin) : A(self.origin)
            }
            storeScore(self.transform == .probit ? Double(mlProbit(Float(score))) : Double(score), out, self.output)
            return
        }
        for target in 0..<self.targets {
            var score = scores[target]
            let base = self.useBase ? A(self.baseValues[target]) : 0
            switch self.aggregate {
            case .sum: score += base
            case .average: score = score / A(self.trees) + base
            case .min, .max: score = base + (has[target] ? score : 0)
            }
            // onnxruntime writes a target no leaf voted for as 0, whatever its base value.
            scores[target] = has[target] ? score : 0
            line[target] = Float(scores[target])
        }
        if self.transform == .none {
            for target in 0..<self.targets {
                storeScore(Double(scores[target]), out + target * self.width, self.output)
            }
        } else {
            mlTransform(self.transform, line, self.targets)
            for target in 0..<self.targets { storeScore(Double(line[target]), out + target * self.width, self.output) }
        }
    }
}

@inline(__always)
private func storeScore(_ value: Double, _ out: UnsafeMutableRawPointer, _ dtype: DType) {
    if dtype == .float64 {
        out.storeBytes(of: value, as: Double.self)
    } else {
        out.storeBytes(of: Float(value), as: Float.self)
    }
}
