import SwitchyardTensor

extension Fusion {
    /// Replaces what onnxruntime's `quantize_dynamic` (and `yard quantize --mode dynamic`) writes for a Conv —
    /// `DynamicQuantizeLinear(X)`, `ConvInteger(Xq, W, Xz, 0)`, `Cast`, `Mul(Xs · Ws)`, then an optional bias `Add`
    /// (a constant, or onnxruntime's Reshape of one to 1×C×1×1) and activations — by one ``QuantizedConvOp`` with a
    /// dynamic input. Only 2-D, group-1 ConvInteger on int8 constant weights with zero points of 0 qualifies; `Ws`
    /// is one scale or one per filter shaped C×1×1 (or 1×C×1×1).
    static func fuseDynamicQuantizedConv(_ graph: inout Graph, oneDNN: Bool) {
        let (readers, producer) = Self.valueUses(of: graph)
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        func sole(_ value: Int) -> Int? {
            guard !outputs.contains(value), let list = readers[value], list.count == 1, !removed.contains(list[0])
            else { return nil }
            return list[0]
        }
        func isDefault(_ index: Int, _ opType: String) -> Bool {
            graph.nodes[index].domain == "" && graph.nodes[index].opType == opType
        }
        /// One value, or one per filter laid out along axis 1 of an N×C×H×W result.
        func perFilter(_ constant: Constant, _ filters: Int) -> [Float]? {
            guard let values = constant.floats else { return nil }
            let shape = constant.type.shape
            if values.count == 1 { return shape.allSatisfy { $0 == 1 } ? values : nil }
            guard values.count == filters, shape == [filters, 1, 1] || shape == [1, filters, 1, 1] else { return nil }
            return values
        }
        for index in graph.nodes.indices where isDefault(index, "ConvInteger") && !removed.contains(index) {
            let node = graph.nodes[index]
            guard let conv = node.op as? IntegerConvOp, conv.group == 1, node.inputs.count >= 3,
                let xq = node.inputs[0], let wID = node.inputs[1], let xz = node.inputs[2],
                let weights = graph.constants[wID], weights.type.dtype == .int8, weights.type.shape.count == 4
            else { continue }
            if node.inputs.count > 3, let wzID = node.inputs[3] {
                guard let wz = graph.constants[wzID], wz.type.dtype == .int8,
                    wz.values(Int8.self).allSatisfy({ $0 == 0 })
                else { continue }
            }
            let filters = weights.type.shape[0]
            guard let quantizer = producer[xq], isDefault(quantizer, "DynamicQuantizeLinear"),
                graph.nodes[quantizer].outputs.count == 3, graph.nodes[quantizer].outputs[0] == xq,
                graph.nodes[quantizer].outputs[2] == xz, let x = graph.nodes[quantizer].inputs.first ?? nil,
                let xs = graph.nodes[quantizer].outputs[1],
                let product = node.outputs[0], let castIndex = sole(product), isDefault(castIndex, "Cast"),
                (graph.nodes[castIndex].op as? CastOp)?.to == .float32, let cast = graph.nodes[castIndex].outputs[0],
                let mulIndex = sole(cast), isDefault(mulIndex, "Mul"), graph.nodes[mulIndex].inputs.count == 2
            else { continue }
            let mul = graph.nodes[mulIndex]
            guard let scaleValue = mul.inputs[0] == cast ? mul.inputs[1] : mul.inputs[0],
                let scaleIndex = producer[scaleValue], isDefault(scaleIndex, "Mul"),
                graph.nodes[scaleIndex].inputs.count == 2
            else { continue }
            let scaleInputs = graph.nodes[scaleIndex].inputs
            guard let wsID = scaleInputs[0] == xs ? scaleInputs[1] : (scaleInputs[1] == xs ? scaleInputs[0] : nil),
                let wsConstant = graph.constants[wsID], let ws = perFilter(wsConstant, filters)
            else { continue }
            var window = conv.window
            window.kernel = [weights.type.shape[2], weights.type.shape[3]]
            if window.strides.isEmpty { window.strides = [1, 1] }
            if window.dilations.isEmpty { window.dilations = [1, 1] }
            if window.pads.isEmpty { window.pads = [0, 0, 0, 0] }
            guard window.strides.count == 2, window.dilations.count == 2, window.pads.count == 4 else { continue }
            var last = mulIndex
            var bias: [Float]? = nil
            var fusedAway = [castIndex, mulIndex]
            if let out = graph.nodes[mulIndex].outputs[0], let addIndex = sole(out), isDefault(addIndex, "Add"),
                graph.nodes[addIndex].inputs.count == 2
            {
                let add = graph.nodes[addIndex]
                if let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0] {
                    if let constant = graph.constants[other], let values = perFilter(constant, filters) {
                        bias = values.count == 1 ? Array(repeating: values[0], count: filters) : values
                    } else if let reshape = producer[other], isDefault(reshape, "Reshape"),
                        graph.nodes[reshape].inputs.count == 2, let data = graph.nodes[reshape].inputs[0],
                        let shapeID = graph.nodes[reshape].inputs[1], let values = graph.constants[data]?.floats,
                        values.count == filters, graph.constants[shapeID]?.type.dtype == .int64,
                        let shape = graph.constants[shapeID]?.values(Int64.self),
                        shape == [1, Int64(filters), 1, 1] || shape == [1, -1, 1, 1]
                    {
                        bias = values
                    }
                    if bias != nil {
                        last = addIndex
                        fusedAway.append(addIndex)
                    }
                }
            }
            let trailing = Self.trailingActivations(after: last, graph, sole: sole)
            last = trailing.nodes.last ?? last
            fusedAway += trailing.nodes
            let op = QuantizedConvOp(
                window: window,
                weights: weights.buffer,
                shape: weights.type.shape,
                weightScales: ws,
                inputScale: 1,
                inputZero: 0,
                bias: bias,
                activations: trailing.activations,
                dynamicInput: true,
                oneDNN: oneDNN
            )
            Self.replace(
                index,
                through: last,
                in: &graph,
                by: op,
                opType: "QuantizedConv",
                suffix: "+dynamic-int8",
                input: x
            )
            removed.formUnion(fusedAway)
        }
        guard !removed.isEmpty else { return }
        Self.remove(removed, from: &graph)
    }
}
