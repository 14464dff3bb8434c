import SwitchyardTensor

/// Reads the node tables of TreeEnsembleClassifier/Regressor (versions 1 and 3) into a ``TreeEnsembleSpec``.
///
/// Nodes are named by (tree id, node id); a tree is a run of nodes with the same tree id, rooted at its first node,
/// in the order the file lists them (onnxruntime's reading). Votes (`class_*` or `target_*`) attach to leaves.
struct LegacyTreeTables {
    var spec = TreeEnsembleSpec()

    init(_ attributes: Attributes, votes prefix: String, weights: String) throws(EngineError) {
        func required(_ name: String) throws(EngineError) -> [Int] {
            guard let values = try attributes.ints(name) else { throw attributes.error("attribute '\(name)' is required") }
            return values
        }
        let treeIDs = try required("nodes_treeids")
        let nodeIDs = try required("nodes_nodeids")
        let features = try required("nodes_featureids")
        let trueIDs = try required("nodes_truenodeids")
        let falseIDs = try required("nodes_falsenodeids")
        guard let modes = try attributes.strings("nodes_modes") else {
            throw attributes.error("attribute 'nodes_modes' is required")
        }
        let count = treeIDs.count
        let thresholds: [Double]
        if let tensor = try Self.doubles(attributes, "nodes_values_as_tensor") {
            thresholds = tensor
            self.spec.doublePrecision = true
        } else {
            thresholds = (try attributes.floats("nodes_values") ?? []).map { Double($0) }
        }
        let missing = try attributes.ints("nodes_missing_value_tracks_true") ?? []
        let lengths = [nodeIDs.count, features.count, trueIDs.count, falseIDs.count, modes.count, thresholds.count]
        guard lengths.allSatisfy({ $0 == count }), missing.isEmpty || missing.count == count else {
            throw attributes.error("the nodes_* attributes have different lengths")
        }

        // Positions by (tree, node); trees as runs of one tree id.
        var position: [Pair: Int] = [:]
        for index in 0..<count {
            guard position.updateValue(index, forKey: Pair(treeIDs[index], nodeIDs[index])) == nil else {
                throw attributes.error("node \(nodeIDs[index]) of tree \(treeIDs[index]) is listed twice")
            }
        }
        var reference = [TreeEnsembleSpec.Reference](repeating: 0, count: count)
        var parsedModes: [TreeEnsembleSpec.Mode?] = []
        for index in 0..<count {
            let mode: TreeEnsembleSpec.Mode?
            switch modes[index] {
            case "BRANCH_LEQ": mode = .leq
            case "BRANCH_LT": mode = .lt
            case "BRANCH_GTE": mode = .gte
            case "BRANCH_GT": mode = .gt
            case "BRANCH_EQ": mode = .eq
            case "BRANCH_NEQ": mode = .neq
            case "LEAF": mode = nil
            default: throw attributes.error("node mode '\(modes[index])' is not a known mode")
            }
            parsedModes.append(mode)
            if mode == nil {
                reference[index] = ~Int32(self.spec.leaves.count)
                self.spec.leaves.append(TreeEnsembleSpec.Leaf())
            } else {
                reference[index] = Int32(self.spec.branches.count)
                self.spec.branches.append(
                    TreeEnsembleSpec.Branch(
                        mode: mode!, feature: features[index], threshold: thresholds[index],
                        missingTracksTrue: !missing.isEmpty && missing[index] != 0, onTrue: 0, onFalse: 0))
            }
        }
        for index in 0..<count where parsedModes[index] != nil {
            func child(_ id: Int) throws(EngineError) -> TreeEnsembleSpec.Reference {
                guard let target = position[Pair(treeIDs[index], id)] else {
                    throw attributes.error("node \(nodeIDs[index]) of tree \(treeIDs[index]) points at missing node \(id)")
                }
                return reference[target]
            }
            let branch = Int(reference[index])
            self.spec.branches[branch].onTrue = try child(trueIDs[index])
            self.spec.branches[branch].onFalse = try child(falseIDs[index])
        }
        for index in 0..<count where index == 0 || treeIDs[index] != treeIDs[index - 1] {
            self.spec.roots.append(reference[index])
        }

        // Votes.
        let voteTrees = try required("\(prefix)_treeids")
        let voteNodes = try required("\(prefix)_nodeids")
        let voteTargets = try required("\(prefix)_ids")
        let voteWeights: [Double]
        if let tensor = try Self.doubles(attributes, "\(weights)_as_tensor") {
            voteWeights = tensor
            self.spec.doublePrecision = true
        } else {
            voteWeights = (try attributes.floats(weights) ?? []).map { Double($0) }
        }
        guard voteNodes.count == voteTrees.count, voteTargets.count == voteTrees.count,
            voteWeights.count == voteTrees.count
        else { throw attributes.error("the \(prefix)_* attributes have different lengths") }
        for index in 0..<voteTrees.count {
            guard let target = position[Pair(voteTrees[index], voteNodes[index])] else {
                throw attributes.error("a vote names node \(voteNodes[index]) of tree \(voteTrees[index]), which does not exist")
            }
            let node = reference[target]
            guard node < 0 else {
                throw attributes.error("a vote names node \(voteNodes[index]) of tree \(voteTrees[index]), which is not a leaf")
            }
            guard let id = Int32(exactly: voteTargets[index]) else {
                throw attributes.error("vote target \(voteTargets[index]) is out of range")
            }
            self.spec.leaves[Int(~node)].targets.append(id)
            self.spec.leaves[Int(~node)].values.append(voteWeights[index])
        }
    }

    struct Pair: Hashable {
        var tree: Int
        var node: Int
        init(_ tree: Int, _ node: Int) {
            self.tree = tree
            self.node = node
        }
    }

    /// A float or double tensor attribute as doubles.
    static func doubles(_ attributes: Attributes, _ name: String) throws(EngineError) -> [Double]? {
        guard let value = attributes.values[name] else { return nil }
        guard case .tensor(let constant) = value, let doubles = constant.doubles else {
            throw attributes.error("attribute '\(name)' must be a float or double tensor")
        }
        return doubles
    }

    /// `base_values` or `base_values_as_tensor`.
    static func baseValues(_ attributes: Attributes, doublePrecision: inout Bool) throws(EngineError) -> [Double] {
        if let tensor = try Self.doubles(attributes, "base_values_as_tensor") {
            doublePrecision = true
            return tensor
        }
        return (try attributes.floats("base_values") ?? []).map { Double($0) }
    }
}

extension Constant {
    /// The elements as doubles (float32 or float64 tensors).
    var doubles: [Double]? {
        switch self.type.dtype {
        case .float32: self.values(Float.self).map { Double($0) }
        case .float64: self.values(Double.self)
        default: nil
        }
    }
}

/// The input of a tree ensemble, SVM or linear model: `[N, F]` or `[F]` of float, double, int64 or int32.
func tabularInput(_ context: PlanContext, minimumFeatures: Int, types: Set<DType> = [.float32, .float64, .int64, .int32])
    throws(EngineError) -> (x: ValueType, rows: Int, features: Int)
{
    let x = try context.input(0, types)
    let rows: Int
    let features: Int
    switch x.shape.count {
    case 1: (rows, features) = (1, x.shape[0])
    case 2: (rows, features) = (x.shape[0], x.shape[1])
    default: throw context.error("input must be [N, F] or [F], got \(x.shape)")
    }
    guard features >= minimumFeatures else {
        throw context.error("the model reads feature \(minimumFeatures - 1), but the input has \(features) features")
    }
    return (x, rows, features)
}

/// Plans the shared part of the tree operators: scratch layout and the walk over all trees.
struct TreeScratch {
    let rows: Int
    let features: Int
    let targets: Int
    let double: Bool
    var scoresBytes: Int { alignUp(self.rows * self.targets * (self.double ? 8 : 4)) }
    var flagsOffset: Int { self.scoresBytes }
    var rowOffset: Int { self.flagsOffset + alignUp(self.rows * self.targets) }
    var orderOffset: Int { self.rowOffset + alignUp(self.features * 8) }
    var bytes: Int { self.orderOffset + alignUp(self.rows * 8) }

    /// Runs the walk and calls `finish` with each row's scores (widened to Double only when the ensemble is double).
    @inline(__always)
    func run<A: BinaryFloatingPoint>(
        _ forest: TreeForest, _ type: A.Type, input: UnsafeRawPointer, dtype: DType, scratch: UnsafeMutableRawPointer
    ) -> (UnsafeMutablePointer<A>, UnsafeMutablePointer<Bool>) {
        let scores = scratch.assumingMemoryBound(to: A.self)
        let flags = (scratch + self.flagsOffset).assumingMemoryBound(to: Bool.self)
        forest.accumulate(
            input: input, dtype: dtype, rows: self.rows, stride: self.features, scores: scores, hasScore: flags,
            rowBuffer: (scratch + self.rowOffset).assumingMemoryBound(to: Double.self),
            order: (scratch + self.orderOffset).assumingMemoryBound(to: Int.self))
        return (scores, flags)
    }
}

/// ai.onnx.ml TreeEnsembleClassifier 1 and 3 (RandomForest, GradientBoosting, XGBoost, LightGBM classifiers):
/// labels and per-class scores, with onnxruntime's rules for binary models and base values.
struct TreeEnsembleClassifierOp: Operator {
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
            throw attributes.error("post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
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
                    let (scores, flags) = scratch.run(op.forest, Double.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
                    for row in 0..<rows {
                        op.finish(scores + row * classes, flags + row * classes, z + row * classes, labels, row)
                    }
                } else {
                    let (scores, flags) = scratch.run(op.forest, Float.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
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
            throw attributes.error("post_transform '\(name)' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT")
        }
        self.transform = transform
        self.forest = try TreeForest(tables.spec, node: attributes.node)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let (x, rows, features) = try tabularInput(context, minimumFeatures: self.forest.maxFeature + 1)
        return planRegression(
            forest: self.forest, baseValues: self.baseValues, transform: self.transform, x: x, rows: rows,
            features: features, output: .float32)
    }
}

/// ai.onnx.ml TreeEnsemble 5: the regressor of opset 5, with interior nodes and leaves in separate tables, set
/// membership and an output of the input's type.
struct TreeEnsembleOp: Operator {
    let forest: TreeForest
    let transform: PostTransform

    init(_ attributes: Attributes) throws(EngineError) {
        func required(_ name: String) throws(EngineError) -> [Int] {
            guard let values = try attributes.ints(name) else { throw attributes.error("attribute '\(name)' is required") }
            return values
        }
        func tensor(_ name: String) throws(EngineError) -> Constant? {
            guard let value = attributes.values[name] else { return nil }
            guard case .tensor(let constant) = value else { throw attributes.error("attribute '\(name)' must be a tensor") }
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
        guard targets.count == weights.count else { throw attributes.error("leaf_targetids and leaf_weights differ in length") }
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
            guard let target = Int32(exactly: targets[index]) else { throw attributes.error("leaf target out of range") }
            spec.leaves.append(TreeEnsembleSpec.Leaf(targets: [target], values: [weights[index]]))
        }
        var memberCursor = 0
        for index in 0..<count {
            guard let mode = TreeEnsembleSpec.Mode(rawValue: modes[index]) else {
                throw attributes.error("node mode \(modes[index]) is not 0...6")
            }
            func reference(_ id: Int, leaf: Int) throws(EngineError) -> TreeEnsembleSpec.Reference {
                guard let value = Int32(exactly: id), value >= 0 else { throw attributes.error("node reference \(id) is out of range") }
                return leaf != 0 ? ~value : value
            }
            var branch = TreeEnsembleSpec.Branch(
                mode: mode, feature: features[index], threshold: splits[index],
                missingTracksTrue: !missing.isEmpty && missing[index] != 0,
                onTrue: try reference(trueIDs[index], leaf: trueLeafs[index]),
                onFalse: try reference(falseIDs[index], leaf: falseLeafs[index]))
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
            context, minimumFeatures: self.forest.maxFeature + 1, types: [.float32, .float64])
        return planRegression(
            forest: self.forest, baseValues: [], transform: self.transform, x: x, rows: rows, features: features,
            output: x.dtype)
    }
}

/// The regressor's output as onnxruntime's TreeAggregator* classes finalize it: base values, average, and the
/// post transform (for a single target, only PROBIT applies).
private func planRegression(
    forest: TreeForest, baseValues: [Double], transform: PostTransform, x: ValueType, rows: Int, features: Int,
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
                    forest, Double.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
                for row in 0..<rows {
                    finisher.finish(scores + row * targets, flags + row * targets, out + row * targets * width, line)
                }
            } else {
                let (scores, flags) = scratch.run(
                    forest, Float.self, input: io.input(0), dtype: x.dtype, scratch: io.scratch)
                for row in 0..<rows {
                    finisher.finish(scores + row * targets, flags + row * targets, out + row * targets * width, line)
                }
            }
        }, scratch: scratch.bytes + alignUp(targets * 4))
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
        _ scores: UnsafeMutablePointer<A>, _ has: UnsafeMutablePointer<Bool>, _ out: UnsafeMutableRawPointer,
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
