/// A checked tree ensemble in the layouts its evaluation runs on.
///
/// Every tree is kept as flat branch arrays (all comparison modes, NaN handling, set membership) and, when its
/// comparisons allow, also as a *fast layout*: 16-byte nodes in breadth-first order whose two children sit side by
/// side, every comparison rewritten as `x <= t` on the float input, and leaves that point at themselves. A row then
/// walks a tree in exactly `depth` steps of `next + (x[feature] <= t ? 0 : 1)` with no data-dependent branch, and
/// eight rows walk the same tree at once, so eight independent load chains overlap. Trees are the outer loop (a
/// tree's nodes stay in L1 while every row passes through it); each row still adds the trees' votes in tree order,
/// as onnxruntime does, so sums agree to the last bit.
final class TreeForest: Sendable {
    struct FastNode: Sendable {
        var threshold: Float
        var feature: Int32
        /// The first child's slot; the second child is the next slot. A leaf points at itself.
        var next: Int32
        /// The leaf's index (leaf slots only).
        var leaf: Int32
    }

    let spec: TreeEnsembleSpec
    /// The largest feature index any branch reads.
    let maxFeature: Int
    /// Per leaf: where its votes start in the vote arrays (`leafCount + 1` Int32s).
    let leafStart: AlignedBuffer
    /// The target of each vote (Int32s), and its value as Float and as Double.
    let voteTargets: AlignedBuffer
    let votesFloat: AlignedBuffer
    let votesDouble: AlignedBuffer
    /// The fast layout (``FastNode``s of all trees); `nil` when some comparison cannot be written as `x <= t` on
    /// floats (EQ, NEQ, membership, NaN thresholds) or the aggregate is MIN or MAX.
    let fastNodes: AlignedBuffer?
    /// Each tree's first slot in the fast layout, and each tree's depth.
    let fastRoots: [Int32]
    let fastDepths: [Int32]

    /// Checks the spec (references in range, every tree a finite tree) and builds the layouts.
    init(_ spec: TreeEnsembleSpec, node: String) throws(EngineError) {
        func invalid(_ message: String) -> EngineError { EngineError(.invalidModel, "node '\(node)': \(message)") }
        let branchCount = spec.branches.count
        let leafCount = spec.leaves.count
        guard !spec.roots.isEmpty else { throw invalid("the ensemble has no trees") }
        guard spec.targets >= 1 else { throw invalid("the ensemble has no targets") }
        func check(_ reference: TreeEnsembleSpec.Reference) throws(EngineError) {
            if reference >= 0 {
                guard Int(reference) < branchCount else { throw invalid("node reference \(reference) is out of range") }
            } else {
                guard Int(~reference) < leafCount else { throw invalid("leaf reference \(~reference) is out of range") }
            }
        }
        var maxFeature = -1
        for branch in spec.branches {
            try check(branch.onTrue)
            try check(branch.onFalse)
            guard branch.feature >= 0 && branch.feature < Int(Int32.max) else {
                throw invalid("feature index \(branch.feature) is out of range")
            }
            maxFeature = max(maxFeature, branch.feature)
        }
        for root in spec.roots { try check(root) }
        var starts: [Int32] = [0]
        var targets: [Int32] = []
        var values: [Double] = []
        for leaf in spec.leaves {
            for target in leaf.targets where target < 0 || Int(target) >= spec.targets {
                throw invalid("a leaf votes for target \(target), outside 0..<\(spec.targets)")
            }
            targets += leaf.targets
            values += leaf.values
            guard targets.count < Int(Int32.max) else { throw invalid("the ensemble has too many leaf weights") }
            starts.append(Int32(targets.count))
        }

        // Depth of every tree, without recursion (files are untrusted); a cycle is an error, not an endless walk.
        var depthOfBranch = [Int32](repeating: -1, count: branchCount)
        var state = [UInt8](repeating: 0, count: branchCount)  // 0 new, 1 on the walk's path, 2 done
        func depthOf(_ reference: TreeEnsembleSpec.Reference) -> Int32 {
            reference < 0 ? 0 : depthOfBranch[Int(reference)]
        }
        var depths: [Int32] = []
        for root in spec.roots {
            var stack: [Int32] = root >= 0 && state[Int(root)] == 0 ? [root] : []
            while let top = stack.last {
                let index = Int(top)
                let branch = spec.branches[index]
                if state[index] == 0 {
                    state[index] = 1
                    for child in [branch.onTrue, branch.onFalse] where child >= 0 {
                        switch state[Int(child)] {
                        case 0: stack.append(child)
                        case 1: throw invalid("the trees contain a cycle through node \(child)")
                        default: break
                        }
                    }
                } else {
                    stack.removeLast()
                    if state[index] == 1 {
                        state[index] = 2
                        depthOfBranch[index] = 1 + max(depthOf(branch.onTrue), depthOf(branch.onFalse))
                    }
                }
            }
            let value = depthOf(root)
            guard value < 4096 else { throw invalid("a tree is deeper than 4096 levels") }
            depths.append(value)
        }

        self.spec = spec
        self.maxFeature = maxFeature
        self.leafStart = starts.withUnsafeBytes { AlignedBuffer(copying: $0) }
        self.voteTargets = targets.withUnsafeBytes { AlignedBuffer(copying: $0) }
        self.votesDouble = values.withUnsafeBytes { AlignedBuffer(copying: $0) }
        self.votesFloat = values.map { Float($0) }.withUnsafeBytes { AlignedBuffer(copying: $0) }
        self.fastDepths = depths
        if let (nodes, roots) = Self.fastLayout(spec, depths: depths) {
            self.fastNodes = nodes.withUnsafeBytes { AlignedBuffer(copying: $0) }
            self.fastRoots = roots
        } else {
            self.fastNodes = nil
            self.fastRoots = []
        }
    }

    /// The fast layout, or `nil` when the ensemble needs the general walk.
    private static func fastLayout(_ spec: TreeEnsembleSpec, depths: [Int32]) -> ([FastNode], [Int32])? {
        guard spec.aggregate == .sum || spec.aggregate == .average else { return nil }
        // Each branch becomes `x <= t` with its children in (taken when true, taken when false) order.
        var thresholds: [Float] = []
        var swapped: [Bool] = []
        thresholds.reserveCapacity(spec.branches.count)
        for branch in spec.branches {
            guard !branch.threshold.isNaN else { return nil }
            switch branch.mode {
            case .leq, .gt:
                thresholds.append(Self.largestFloat(atMost: branch.threshold))
            case .lt, .gte:
                // x < t  ⇔  x <= the largest float below t (none when t is -inf: then nothing is below).
                let below = Self.largestFloat(below: branch.threshold)
                guard let below else { return nil }
                thresholds.append(below)
            case .eq, .neq, .member:
                return nil
            }
            swapped.append(branch.mode == .gt || branch.mode == .gte)
        }
        // Breadth-first, children side by side. A shared subtree is copied; the copies are bounded.
        var nodes: [FastNode] = []
        var roots: [Int32] = []
        let limit = 4 * (spec.branches.count + spec.leaves.count) + 64
        for root in spec.roots {
            roots.append(Int32(nodes.count))
            var queue: [(slot: Int, reference: TreeEnsembleSpec.Reference)] = [(nodes.count, root)]
            nodes.append(FastNode(threshold: 0, feature: 0, next: 0, leaf: 0))
            var head = 0
            while head < queue.count {
                let (slot, reference) = queue[head]
                head += 1
                if reference < 0 {
                    nodes[slot] = FastNode(threshold: .infinity, feature: 0, next: Int32(slot), leaf: ~reference)
                    continue
                }
                let branch = spec.branches[Int(reference)]
                let first = nodes.count
                guard first + 2 <= limit else { return nil }
                nodes.append(FastNode(threshold: 0, feature: 0, next: 0, leaf: 0))
                nodes.append(FastNode(threshold: 0, feature: 0, next: 0, leaf: 0))
                let children =
                    swapped[Int(reference)] ? (branch.onFalse, branch.onTrue) : (branch.onTrue, branch.onFalse)
                queue.append((first, children.0))
                queue.append((first + 1, children.1))
                nodes[slot] = FastNode(
                    threshold: thresholds[Int(reference)],
                    feature: Int32(branch.feature),
                    next: Int32(first),
                    leaf: 0
                )
            }
        }
        guard nodes.count < Int(Int32.max) else { return nil }
        return (nodes, roots)
    }

    /// The largest float `f` with `Double(f) <= value` (`x <= value` ⇔ `x <= f` for float `x`).
    static func largestFloat(atMost value: Double) -> Float {
        var result = Float(value)
        if Double(result) > value { result = result.nextDown }
        return result
    }

    /// The largest float `f` with `Double(f) < value`, or `nil` when there is none.
    static func largestFloat(below value: Double) -> Float? {
        var result = Float(value)
        if Double(result) >= value { result = result.nextDown }
        return Double(result) < value ? result : nil
    }

    /// The scratch bytes ``accumulate(rows:...)`` needs.
    func scratchBytes(rows: Int, features: Int) -> Int {
        let width = self.spec.doublePrecision ? 8 : 4
        return alignUp(rows * self.spec.targets * width) + alignUp(rows * self.spec.targets) + alignUp(features * 8)
            + alignUp(8 * 4)
    }
}
