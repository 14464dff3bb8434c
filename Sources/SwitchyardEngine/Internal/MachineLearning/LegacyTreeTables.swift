import SwitchyardTensor

/// Reads the node tables of TreeEnsembleClassifier/Regressor (versions 1 and 3) into a ``TreeEnsembleSpec``.
///
/// Nodes are named by (tree id, node id); a tree is a run of nodes with the same tree id, rooted at its first node,
/// in the order the file lists them (onnxruntime's reading). Votes (`class_*` or `target_*`) attach to leaves.
struct LegacyTreeTables {
    var spec = TreeEnsembleSpec()

    init(_ attributes: Attributes, votes prefix: String, weights: String) throws(EngineError) {
        func required(_ name: String) throws(EngineError) -> [Int] {
            guard let values = try attributes.ints(name) else {
                throw attributes.error("attribute '\(name)' is required")
            }
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
                        mode: mode!,
                        feature: features[index],
                        threshold: thresholds[index],
                        missingTracksTrue: !missing.isEmpty && missing[index] != 0,
                        onTrue: 0,
                        onFalse: 0
                    )
                )
            }
        }
        for index in 0..<count where parsedModes[index] != nil {
            func child(_ id: Int) throws(EngineError) -> TreeEnsembleSpec.Reference {
                guard let target = position[Pair(treeIDs[index], id)] else {
                    throw attributes.error(
                        "node \(nodeIDs[index]) of tree \(treeIDs[index]) points at missing node \(id)"
                    )
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
                throw attributes.error(
                    "a vote names node \(voteNodes[index]) of tree \(voteTrees[index]), which does not exist"
                )
            }
            let node = reference[target]
            guard node < 0 else {
                throw attributes.error(
                    "a vote names node \(voteNodes[index]) of tree \(voteTrees[index]), which is not a leaf"
                )
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
func tabularInput(
    _ context: PlanContext,
    minimumFeatures: Int,
    types: Set<DType> = [.float32, .float64, .int64, .int32]
)
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
        _ forest: TreeForest,
        _ type: A.Type,
        input: UnsafeRawPointer,
        dtype: DType,
        scratch: UnsafeMutableRawPointer
    ) -> (UnsafeMutablePointer<A>, UnsafeMutablePointer<Bool>) {
        let scores = scratch.assumingMemoryBound(to: A.self)
        let flags = (scratch + self.flagsOffset).assumingMemoryBound(to: Bool.self)
        forest.accumulate(
            input: input,
            dtype: dtype,
            rows: self.rows,
            stride: self.features,
            scores: scores,
            hasScore: flags,
            rowBuffer: (scratch + self.rowOffset).assumingMemoryBound(to: Double.self),
            order: (scratch + self.orderOffset).assumingMemoryBound(to: Int.self)
        )
        return (scores, flags)
    }
}
