import SwitchyardTensor

extension Fusion {
    /// Replaces what onnxruntime's `quantize_dynamic` (and `yard quantize --mode dynamic`) writes for a MatMul —
    /// `DynamicQuantizeLinear(X)`, `MatMulInteger(Xq, W, Xz, 0)`, `Cast`, `Mul(Xs · Ws)`, then an optional bias `Add`
    /// and activations — by one ``DynamicQuantizedLinearOp`` on X. Only int8 2-D constant weights with zero points
    /// of 0 qualify; the quantizer's nodes are dropped once nothing else reads them.
    static func fuseDynamicQuantizedLinear(_ graph: inout Graph) {
        let (readers, producer) = Self.valueUses(of: graph)
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        func sole(_ value: Int) -> Int? {
            guard !outputs.contains(value), let list = readers[value], list.count == 1, !removed.contains(list[0])
            else {
                return nil
            }
            return list[0]
        }
        func isDefault(_ index: Int, _ opType: String) -> Bool {
            graph.nodes[index].domain == "" && graph.nodes[index].opType == opType
        }
        for index in graph.nodes.indices where isDefault(index, "MatMulInteger") && !removed.contains(index) {
            let node = graph.nodes[index]
            guard node.inputs.count == 4, let aq = node.inputs[0], let wID = node.inputs[1], let az = node.inputs[2],
                let wzID = node.inputs[3], let weights = graph.constants[wID], weights.type.dtype == .int8,
                weights.type.shape.count == 2, let wz = graph.constants[wzID], wz.type.dtype == .int8,
                wz.values(Int8.self).allSatisfy({ $0 == 0 }),
                let quantizer = producer[aq], isDefault(quantizer, "DynamicQuantizeLinear"),
                graph.nodes[quantizer].outputs.count == 3, graph.nodes[quantizer].outputs[0] == aq,
                graph.nodes[quantizer].outputs[2] == az, let x = graph.nodes[quantizer].inputs.first ?? nil,
                let xs = graph.nodes[quantizer].outputs[1],
                let product = node.outputs[0], let castIndex = sole(product), isDefault(castIndex, "Cast"),
                (graph.nodes[castIndex].op as? CastOp)?.to == .float32, let cast = graph.nodes[castIndex].outputs[0],
                let mulIndex = sole(cast), isDefault(mulIndex, "Mul"), graph.nodes[mulIndex].inputs.count == 2
            else { continue }
            let (k, n) = (weights.type.shape[0], weights.type.shape[1])
            let mul = graph.nodes[mulIndex]
            guard let scaleValue = mul.inputs[0] == cast ? mul.inputs[1] : mul.inputs[0],
                let scaleIndex = producer[scaleValue], isDefault(scaleIndex, "Mul"),
                graph.nodes[scaleIndex].inputs.count == 2
            else { continue }
            let scaleInputs = graph.nodes[scaleIndex].inputs
            guard let wsID = scaleInputs[0] == xs ? scaleInputs[1] : (scaleInputs[1] == xs ? scaleInputs[0] : nil),
                let ws = graph.constants[wsID]?.floats, ws.count == 1 || ws.count == n
            else { continue }
            var last = mulIndex
            var bias: [Float]? = nil
            var fusedAway = [castIndex, mulIndex]
            if let out = graph.nodes[mulIndex].outputs[0], let addIndex = sole(out), isDefault(addIndex, "Add"),
                graph.nodes[addIndex].inputs.count == 2
            {
                let add = graph.nodes[addIndex]
                let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0]
                if let other, let values = graph.constants[other], values.type.dtype == .float32,
                    values.type.count == n,
                    values.type.shape == [n] || values.type.shape == [1, n]
                {
                    bias = values.floats
                    last = addIndex
                    fusedAway.append(addIndex)
                }
            }
            let trailing = Self.trailingActivations(after: last, graph, sole: sole)
            last = trailing.nodes.last ?? last
            let op = DynamicQuantizedLinearOp(
                weights: weights.buffer,
                k: k,
                n: n,
                weightScales: ws,
                bias: bias,
                activations: trailing.activations
            )
            Self.replace(
                index,
                through: last,
                in: &graph,
                by: op,
                opType: "DynamicQuantizedLinear",
                suffix: "+dynamic-int8",
                input: x
            )
            removed.formUnion(fusedAway + trailing.nodes)
        }
        guard !removed.isEmpty else { return }
        Self.remove(removed, from: &graph)
    }

    /// Runs QDQ MatMuls in integers: `MatMul(DequantizeLinear(x: uint8), DequantizeLinear(W))`, x not constant with a
    /// scalar scale and a uint8 scalar zero point, W a 2-D int8 constant [K, N] with zero points of 0 and a scale per tensor or per
    /// column (axis 1), becomes one ``DynamicQuantizedLinearOp`` on x's uint8 with its calibrated scale, taking a
    /// constant bias `Add` and activations after it along. Both forms qualify: yard's and onnxruntime's
    /// `quantize_static`.
    static func fuseQuantizedMatMul(_ graph: inout Graph) {
        let (readers, producer) = Self.valueUses(of: graph)
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        func sole(_ value: Int) -> Int? {
            guard !outputs.contains(value), let list = readers[value], list.count == 1, !removed.contains(list[0]),
                graph.nodes[list[0]].domain == ""
            else { return nil }
            return list[0]
        }
        for index in graph.nodes.indices where graph.nodes[index].opType == "MatMul" && graph.nodes[index].domain == ""
        {
            let node = graph.nodes[index]
            guard node.inputs.count == 2, let xValue = node.inputs[0], let wValue = node.inputs[1],
                let x = Self.dequantization(of: xValue, graph, producer), x.scale.count == 1,
                x.scale[0] > 0, x.scale[0].isFinite, graph.constants[x.input] == nil,
                let xZero = x.zero, xZero.type.dtype == .uint8, xZero.type.count == 1,  // uint8 known only then
                let w = Self.dequantization(of: wValue, graph, producer), let weights = graph.constants[w.input],
                weights.type.dtype == .int8, weights.type.shape.count == 2,
                w.scale.count == 1 || (w.scale.count == weights.type.shape[1] && (w.axis == 1 || w.axis == -1)),
                w.zero.map({ $0.type.dtype == .int8 && $0.values(Int8.self).allSatisfy { $0 == 0 } }) ?? true
            else { continue }
            let (k, n) = (weights.type.shape[0], weights.type.shape[1])
            var last = index
            var fusedAway: [Int] = []
            var bias: [Float]? = nil
            if let out = node.outputs[0], let addIndex = sole(out), graph.nodes[addIndex].opType == "Add",
                graph.nodes[addIndex].inputs.count == 2
            {
                let add = graph.nodes[addIndex]
                let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0]
                if let other, let values = graph.constants[other], values.type.dtype == .float32,
                    values.type.count == n, values.type.shape == [n] || values.type.shape == [1, n]
                {
                    bias = values.floats
                    last = addIndex
                    fusedAway.append(addIndex)
                }
            }
            let trailing = Self.trailingActivations(after: last, graph, sole: sole)
            last = trailing.nodes.last ?? last
            let op = DynamicQuantizedLinearOp(
                weights: weights.buffer,
                k: k,
                n: n,
                weightScales: w.scale,
                bias: bias,
                activations: trailing.activations,
                staticInput: (x.scale[0], xZero.values(UInt8.self)[0])
            )
            Self.replace(
                index,
                through: last,
                in: &graph,
                by: op,
                opType: "QuantizedLinear",
                suffix: "+int8",
                input: x.input
            )
            removed.formUnion(fusedAway + trailing.nodes)
        }
        guard !removed.isEmpty || graph.nodes.contains(where: { $0.opType == "QuantizedLinear" }) else { return }
        Self.remove(removed, from: &graph)
    }

    /// The activations (default domain only) that follow node `last` one after another, each the reader `sole` gives
    /// of the one before's output: what a fused step takes along, and the nodes it replaces.
    static func trailingActivations(
        after last: Int,
        _ graph: Graph,
        sole: (Int) -> Int?
    ) -> (activations: [Activation], nodes: [Int]) {
        var activations: [Activation] = []
        var nodes: [Int] = []
        var current = last
        while let out = graph.nodes[current].outputs[0], let next = sole(out), graph.nodes[next].domain == "",
            let activation = Self.activation(graph.nodes[next], graph)
        {
            activations.append(activation)
            nodes.append(next)
            current = next
        }
        return (activations, nodes)
    }

    /// Puts fused step `op` in place of node `index`: it reads `input` and writes what node `last`, the chain's end,
    /// wrote. The caller removes the chain's other nodes.
    static func replace(
        _ index: Int,
        through last: Int,
        in graph: inout Graph,
        by op: any Operator,
        opType: String,
        suffix: String,
        input: Int
    ) {
        graph.nodes[index] = Node(
            name: graph.nodes[index].name + suffix,
            opType: opType,
            domain: "",
            inputs: [input],
            outputs: graph.nodes[last].outputs,
            op: op
        )
    }

    /// A DequantizeLinear node's input (constant or not), constant scale, zero point (constant, or nil when absent)
    /// and axis; nil when `value` has another writer or a zero point that is not constant.
    static func dequantization(
        of value: Int,
        _ graph: Graph,
        _ producer: [Int: Int]
    ) -> (input: Int, scale: [Float], zero: Constant?, axis: Int)? {
        guard let index = producer[value], graph.nodes[index].opType == "DequantizeLinear",
            graph.nodes[index].domain == "",
            let op = graph.nodes[index].op as? DequantizeLinearOp, op.blockSize == 0,
            let input = graph.nodes[index].inputs[0], let scaleID = graph.nodes[index].inputs[1],
            let scale = graph.constants[scaleID]?.floats
        else { return nil }
        let zero =
            graph.nodes[index].inputs.count > 2 ? graph.nodes[index].inputs[2].flatMap { graph.constants[$0] } : nil
        if graph.nodes[index].inputs.count > 2, graph.nodes[index].inputs[2] != nil, zero == nil { return nil }
        return (input, scale, zero, op.axis)
    }

    /// The nodes reading each value and the node writing it, for the passes that match chains of nodes.
    static func valueUses(of graph: Graph) -> (readers: [Int: [Int]], producer: [Int: Int]) {
        var readers: [Int: [Int]] = [:]
        var producer: [Int: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs.compactMap({ $0 }) { readers[input, default: []].append(index) }
            for output in node.outputs.compactMap({ $0 }) { producer[output] = index }
        }
        return (readers, producer)
    }

    /// Removes the nodes a pass fused away, then whatever no longer has a reader.
    static func remove(_ removed: Set<Int>, from graph: inout Graph) {
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        dropUnread(&graph)
    }

    /// Drops nodes none of whose outputs is read (by a node or as a graph output), repeatedly.
    static func dropUnread(_ graph: inout Graph) {
        let outputs = Set(graph.outputs.map(\.value))
        while true {
            var read = outputs
            for node in graph.nodes { for input in node.inputs.compactMap({ $0 }) { read.insert(input) } }
            let before = graph.nodes.count
            graph.nodes.removeAll { node in
                ["DynamicQuantizeLinear", "Mul", "DequantizeLinear", "Reshape"].contains(node.opType)
                    && node.outputs.allSatisfy { $0.map { !read.contains($0) } ?? true }
            }
            if graph.nodes.count == before { return }
        }
    }
}
