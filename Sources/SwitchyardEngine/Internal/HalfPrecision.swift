import SwitchyardTensor

/// Runs float16 and bfloat16 models in float32, as onnxruntime does for operators without half-precision
/// kernels on x86: half-precision weights are widened when they are decoded (``TensorDecoding``), half-precision
/// graph inputs are cast to f32 by a first step and half-precision outputs back by a last one, so callers send and
/// receive the types the model declares. A Cast to float16 or bfloat16 inside the graph keeps its rounding (to the
/// nearest value of that type) but its result stays f32.
enum HalfPrecision {
    private static let halfTypes: Set<DType> = [.float16, .bfloat16]

    static func widen(_ graph: inout Graph) {
        let casts = Self.widenCasts(&graph)
        let inputs = graph.inputs.filter { Self.halfTypes.contains($0.dtype) }
        let outputs = graph.outputs.indices.filter { graph.outputs[$0].dtype.map(Self.halfTypes.contains) ?? false }
        guard casts || !inputs.isEmpty || !outputs.isEmpty else { return }
        var widened: [Int: Int] = [:]
        var prologue: [Node] = []
        for input in inputs {
            let inner = Self.newValue(&graph, input.name + " (f32)")
            widened[input.value] = inner
            prologue.append(
                Node(
                    name: "\(input.name) to f32",
                    opType: "Cast",
                    domain: "",
                    inputs: [input.value],
                    outputs: [inner],
                    op: CastOp(to: .float32)
                )
            )
        }
        for index in graph.nodes.indices {
            graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0.map { widened[$0] ?? $0 } }
        }
        var epilogue: [Node] = []
        for index in outputs {
            let output = graph.outputs[index]
            let dtype = output.dtype!
            let outer = Self.newValue(&graph, output.name + " (\(dtype))")
            epilogue.append(
                Node(
                    name: "\(output.name) to \(dtype)",
                    opType: "Cast",
                    domain: "",
                    inputs: [output.value],
                    outputs: [outer],
                    op: CastOp(to: dtype)
                )
            )
            graph.outputs[index].value = outer
        }
        for (value, dtype) in graph.declaredTypes where Self.halfTypes.contains(dtype) {
            graph.declaredTypes[value] = .float32
        }
        graph.nodes = prologue + graph.nodes + epilogue
    }

    /// Casts to float16 or bfloat16 keep their rounding and answer f32 (in a model's graph and in control-flow
    /// bodies, whose values are the graph's). Returns whether there were any.
    @discardableResult
    static func widenCasts(_ graph: inout Graph) -> Bool {
        let casts = graph.nodes.indices.filter {
            (graph.nodes[$0].op as? CastOp).map { Self.halfTypes.contains($0.to) } ?? false
        }
        for index in casts {
            let to = (graph.nodes[index].op as! CastOp).to
            graph.nodes[index].op = CastOp(to: .float32, rounding: to == .float16 ? .half : .brain)
        }
        return !casts.isEmpty
    }

    private static func newValue(_ graph: inout Graph, _ name: String) -> Int {
        graph.valueNames.append("\u{0}" + name)
        return graph.valueNames.count - 1
    }
}
