import SwitchyardTensor

/// How a graph runs when its shapes follow a request's data from some node on (NonMaxSuppression, NonZero, an If
/// on a computed condition): the nodes before that one are planned once for the input shapes — kernels over one
/// arena, like any plan — and only the rest runs node by node on their results. A detector's backbone thus runs
/// as planned kernels; its post-processing is planned per request.
final class SplitPlan: Sendable {
    /// The nodes before the first data-dependent one, planned; its outputs are the values the tail reads.
    let head: ExecutionPlan
    /// The remaining nodes, with the head's outputs as extra graph inputs after the graph's own.
    let tail: Graph
    /// Nodes planned in the head.
    var plannedNodeCount: Int { self.head.steps.count }

    /// The split at `index` (the first node whose shapes need a request's data), or `nil` when nothing before it
    /// is worth planning or a string value crosses the split.
    init?(graph: Graph, inputShapes: [[Int]], at index: Int) throws(EngineError) {
        guard index > 0, index < graph.nodes.count else { return nil }
        let headNodes = Array(graph.nodes[..<index])
        let tailNodes = Array(graph.nodes[index...])
        var produced = Set<Int>()
        for node in headNodes { for output in node.outputs.compactMap({ $0 }) { produced.insert(output) } }
        // Values made before the split that the tail or the graph's outputs read, in first-read order.
        var crossing: [Int] = []
        var seen = Set<Int>()
        let reads = tailNodes.flatMap { $0.inputs.compactMap { $0 } } + graph.outputs.map(\.value)
        for value in reads where produced.contains(value) && seen.insert(value).inserted { crossing.append(value) }
        guard !crossing.isEmpty else { return nil }

        var headGraph = graph
        headGraph.nodes = headNodes
        headGraph.outputs = crossing.map { (name: graph.name($0), value: $0, dtype: nil, dims: nil) }
        let head = try ExecutionPlan(graph: headGraph, inputShapes: inputShapes)
        guard !head.outputTypes.contains(where: { $0.dtype == .bytes }) else { return nil }

        var tail = graph
        tail.nodes = tailNodes
        tail.inputs += zip(crossing, head.outputTypes).map { value, type in
            GraphInput(name: graph.name(value), value: value, dtype: type.dtype, dims: type.shape)
        }
        self.head = head
        self.tail = tail
    }

    /// Runs the head's kernels, then the tail node by node.
    func run(
        _ inputs: [(shape: [Int], data: ByteView)]
    ) throws(EngineError) -> (
        types: [ValueType], storages: [ByteStorage]
    ) {
        let views = try self.head.run(inputs.map(\.data))
        let crossing = zip(self.head.outputTypes, views).map { type, view in (shape: type.shape, data: view) }
        return try ExecutionPlan.runEagerly(graph: self.tail, inputs: inputs + crossing)
    }
}
