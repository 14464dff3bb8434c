import SwitchyardTensor

/// `QuantizeLinear(activations(DequantizeLinear(x)))` on uint8 with scalar scales and zero points, as one table of
/// the 256 answers: a requantization between two QDQ steps (onnxruntime's QDQ puts a Relu between two) costs a
/// byte lookup per element instead of two float passes.
struct QuantizedLookupOp: Operator {
    let table: [UInt8]

    /// The table the unfused operators would compute, element by element, with the engine's own arithmetic.
    init(input: (scale: Float, zero: UInt8), activations: [Activation], output: (scale: Float, zero: UInt8)) {
        self.table = (0..<256).map { q in
            var value = Float(Int32(q) - Int32(input.zero)) * input.scale
            for activation in activations { apply(activation, &value, 1) }
            return UInt8(saturate(roundHalfEven(value / output.scale) + Float(output.zero), .uint8))
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.uint8])
        let count = x.count
        let table = self.table
        return OpPlan(
            outputs: [ValueType(dtype: .uint8, shape: x.shape)],
            kernel: { io in
                let input = io.input(0).assumingMemoryBound(to: UInt8.self)
                let out = io.output(0).assumingMemoryBound(to: UInt8.self)
                table.withUnsafeBufferPointer { table in
                    for index in 0..<count { out[index] = table[Int(input[index])] }
                }
            },
            inPlace: 0
        )
    }
}

extension Fusion {
    /// Replaces `DequantizeLinear(x: uint8) [→ activations] → QuantizeLinear(→ uint8)`, scalar constant scales and
    /// zero points, by a ``QuantizedLookupOp``. Runs after ``fuseQuantizedConv(_:oneDNN:)``, so that the uint8
    /// results of fused convolutions feed it.
    static func fuseQuantizedLookup(_ graph: inout Graph) {
        let (readers, _) = Self.valueUses(of: graph)
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        /// A QDQ node's scalar scale and uint8 zero point, when both are constants.
        func parameters(_ node: Node) -> (scale: Float, zero: UInt8)? {
            guard node.domain == "", node.inputs.count >= 2, let scaleID = node.inputs[1],
                let scale = graph.constants[scaleID]?.floats, scale.count == 1, scale[0].isFinite, scale[0] != 0
            else { return nil }
            guard node.inputs.count > 2, let zeroID = node.inputs[2] else { return (scale[0], 0) }
            guard let zero = graph.constants[zeroID], zero.type.dtype == .uint8, zero.type.count == 1 else {
                return nil
            }
            return (scale[0], zero.values(UInt8.self)[0])
        }
        for index in graph.nodes.indices where graph.nodes[index].opType == "DequantizeLinear" {
            let node = graph.nodes[index]
            guard let dequantize = node.op as? DequantizeLinearOp, dequantize.blockSize == 0,
                let x = node.inputs[0], graph.constants[x] == nil, let input = parameters(node),
                node.inputs.count < 3 || node.inputs[2] != nil
            else { continue }
            var last = index
            var chain: [Int] = []
            var activations: [Activation] = []
            var quantize: (index: Int, parameters: (scale: Float, zero: UInt8))? = nil
            while let out = graph.nodes[last].outputs[0], !outputs.contains(out), let list = readers[out],
                list.count == 1, !removed.contains(list[0])
            {
                let candidate = graph.nodes[list[0]]
                if candidate.opType == "QuantizeLinear", let op = candidate.op as? QuantizeLinearOp, op.blockSize == 0,
                    op.outputType == nil || op.outputType == .uint8,
                    candidate.inputs.count < 3 || candidate.inputs[2] != nil,
                    let parameters = parameters(candidate), parameters.scale > 0
                {
                    quantize = (list[0], parameters)
                    break
                }
                guard candidate.domain == "", let activation = Self.activation(candidate, graph) else { break }
                activations.append(activation)
                chain.append(list[0])
                last = list[0]
            }
            guard let quantize else { continue }
            // uint8 in: the DequantizeLinear reads a uint8 value when its zero point is uint8; without one the
            // input's type decides at plan time, so require a zero point.
            guard node.inputs.count > 2 else { continue }
            graph.nodes[index] = Node(
                name: node.name + "+lookup",
                opType: "QuantizedLookup",
                domain: "",
                inputs: [x],
                outputs: graph.nodes[quantize.index].outputs,
                op: QuantizedLookupOp(input: input, activations: activations, output: quantize.parameters)
            )
            removed.formUnion(chain + [quantize.index])
        }
        guard !removed.isEmpty else { return }
        Self.remove(removed, from: &graph)
    }
}
