import SwitchyardTensor

/// Graph rewrites done once at load: a constant bias Add folded into the MatMul before it, and
/// activations folded into the GEMM or Conv before them, so they run in the GEMM's epilogue while the
/// output is still in cache. A value is folded away only when one node reads it and it is not a graph output.
enum Fusion {
    static func apply(_ graph: inout Graph) {
        Self.foldBatchNormalization(&graph)
        Self.fuseGelu(&graph)
        Self.foldTransposeIntoMatMul(&graph)
        var consumers: [Int: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs.compactMap({ $0 }) { consumers[input, default: []].append(index) }
        }
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()

        func soleConsumer(of value: Int) -> Int? {
            guard !outputs.contains(value), let readers = consumers[value], readers.count == 1 else { return nil }
            return removed.contains(readers[0]) ? nil : readers[0]
        }

        for index in graph.nodes.indices where !removed.contains(index) {
            var node = graph.nodes[index]
            guard node.domain == "", ["MatMul", "Gemm", "Conv"].contains(node.opType) else { continue }
            var activations: [Activation] = []
            var matmulBias: Int? = nil

            // MatMul(X, W[K,N]) + b[N] or b[1,N]
            if node.opType == "MatMul", (node.op as? MatMulOp)?.transB == false, let weightID = node.inputs[1],
                let weights = graph.constants[weightID],
                weights.type.shape.count == 2, let out = node.outputs[0], let next = soleConsumer(of: out),
                graph.nodes[next].opType == "Add", graph.nodes[next].domain == ""
            {
                let add = graph.nodes[next]
                let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0]
                let n = weights.type.shape[1]
                if let other, let bias = graph.constants[other], bias.type.dtype == .float32, bias.type.count == n,
                    bias.type.shape == [n] || bias.type.shape == [1, n], add.inputs.count == 2
                {
                    matmulBias = other
                    node.outputs = add.outputs
                    removed.insert(next)
                }
            }
            // Then any chain of activations.
            while let out = node.outputs[0], let next = soleConsumer(of: out) {
                let candidate = graph.nodes[next]
                guard candidate.domain == "", let activation = Self.activation(candidate, graph) else { break }
                activations.append(activation)
                node.outputs = candidate.outputs
                removed.insert(next)
            }
            guard matmulBias != nil || !activations.isEmpty else { continue }
            switch node.op {
            case var op as MatMulOp:
                op.activations = activations
                node.op = op
                if let matmulBias { node.inputs = [node.inputs[0], node.inputs[1], matmulBias] }
            case var op as GemmOp:
                op.activations = activations
                node.op = op
            case var op as ConvOp:
                op.activations = activations
                node.op = op
            default:
                continue
            }
            node.name += "+fused"
            graph.nodes[index] = node
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Exact GELU as PyTorch exports it before opset 20, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`, becomes one Gelu
    /// step: one pass over the activations instead of five (a tenth of a BERT encoder's time at batch 8).
    static func fuseGelu(_ graph: inout Graph) {
        var readers: [Int: [Int]] = [:]
        var producer: [Int: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs.compactMap({ $0 }) { readers[input, default: []].append(index) }
            for output in node.outputs.compactMap({ $0 }) { producer[output] = index }
        }
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        func soleReader(_ value: Int?) -> Int? {
            guard let value, !outputs.contains(value), let list = readers[value], list.count == 1,
                !removed.contains(list[0])
            else { return nil }
            return list[0]
        }
        func scalar(_ value: Int?) -> Float? {
            guard let value, let constant = graph.constants[value], constant.type.dtype == .float32,
                constant.type.count == 1
            else { return nil }
            return constant.values(Float.self)[0]
        }
        /// The binary node's input other than `value`, when the node is `opType` with two inputs.
        func other(_ index: Int, _ opType: String, _ value: Int) -> Int? {
            let node = graph.nodes[index]
            guard node.opType == opType, node.domain == "", node.inputs.count == 2, node.outputs.count == 1 else {
                return nil
            }
            if node.inputs[0] == value { return node.inputs[1] }
            return node.inputs[1] == value ? node.inputs[0] : nil
        }
        for (erf, node) in graph.nodes.enumerated() where node.opType == "Erf" && node.domain == "" {
            guard let scaled = node.inputs.first ?? nil, let erfOut = node.outputs.first ?? nil,
                soleReader(scaled) == erf, let div = producer[scaled], !removed.contains(div),
                graph.nodes[div].opType == "Div", graph.nodes[div].inputs.count == 2,
                let x = graph.nodes[div].inputs[0], let root = scalar(graph.nodes[div].inputs[1]),
                abs(root - Float(2).squareRoot()) < 1e-6,
                let add = soleReader(erfOut), let one = other(add, "Add", erfOut), scalar(one) == 1,
                let addOut = graph.nodes[add].outputs[0], let mul = soleReader(addOut), other(mul, "Mul", addOut) == x,
                let mulOut = graph.nodes[mul].outputs[0], let half = soleReader(mulOut),
                let factor = other(half, "Mul", mulOut), scalar(factor) == 0.5
            else { continue }
            graph.nodes[half] = Node(
                name: graph.nodes[half].name + "+gelu",
                opType: "Gelu",
                domain: "",
                inputs: [x],
                outputs: graph.nodes[half].outputs,
                op: UnaryOp(kind: .gelu(tanh: false))
            )
            removed.formUnion([div, erf, add, mul])
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Reads `MatMul(A, Transpose(B))` with the last two axes swapped as a GEMM with B transposed, dropping the
    /// copy (attention's `Q·Kᵀ` per head).
    static func foldTransposeIntoMatMul(_ graph: inout Graph) {
        var readers: [Int: Int] = [:]
        var producer: [Int: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for input in node.inputs.compactMap({ $0 }) { readers[input, default: 0] += 1 }
            for output in node.outputs.compactMap({ $0 }) { producer[output] = index }
        }
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        for index in graph.nodes.indices {
            guard var op = graph.nodes[index].op as? MatMulOp, !op.transB, graph.nodes[index].inputs.count == 2,
                let b = graph.nodes[index].inputs[1], readers[b] == 1, !outputs.contains(b),
                let source = producer[b], !removed.contains(source),
                let transpose = graph.nodes[source].op as? TransposeOp, let perm = transpose.perm, perm.count >= 2,
                let original = graph.nodes[source].inputs.first ?? nil
            else { continue }
            var swapped = Array(0..<perm.count)
            swapped.swapAt(perm.count - 1, perm.count - 2)
            guard perm == swapped else { continue }
            op.transB = true
            graph.nodes[index].op = op
            graph.nodes[index].inputs[1] = original
            removed.insert(source)
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Folds `BatchNormalization` into the `Conv` before it when both have constant parameters:
    /// `W' = W·a` per output channel and `b' = (b − mean)·a + B`, with `a = scale / √(var + ε)`. The
    /// Conv's activation can then fuse too (Conv → BN → Relu becomes one step).
    static func foldBatchNormalization(_ graph: inout Graph) {
        var readers: [Int: Int] = [:]
        for node in graph.nodes { for input in node.inputs.compactMap({ $0 }) { readers[input, default: 0] += 1 } }
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        for index in graph.nodes.indices {
            let conv = graph.nodes[index]
            guard conv.opType == "Conv", conv.domain == "", let out = conv.outputs[0], readers[out] == 1,
                !outputs.contains(out), let weightID = conv.inputs[1], let weights = graph.constants[weightID],
                weights.type.dtype == .float32, weights.type.shape.count == 4,
                let next = graph.nodes.firstIndex(where: { $0.inputs.first == out }),
                let norm = graph.nodes[next].op as? BatchNormOp, graph.nodes[next].outputs.count == 1
            else { continue }
            let bnInputs = graph.nodes[next].inputs
            let filters = weights.type.shape[0]
            guard bnInputs.count == 5,
                case let parameters = bnInputs.dropFirst().map({ $0.flatMap { graph.constants[$0]?.floats } }),
                parameters.allSatisfy({ $0?.count == filters })
            else { continue }
            let (scale, shift, mean, variance) = (parameters[0]!, parameters[1]!, parameters[2]!, parameters[3]!)
            var bias = [Float](repeating: 0, count: filters)
            if conv.inputs.count > 2, let biasID = conv.inputs[2] {
                guard let values = graph.constants[biasID]?.floats, values.count == filters else { continue }
                bias = values
            }
            let perFilter = weights.type.count / max(filters, 1)
            let folded = AlignedBuffer(count: weights.type.byteCount)
            let source = weights.buffer.pointer.assumingMemoryBound(to: Float.self)
            let target = folded.pointer.assumingMemoryBound(to: Float.self)
            var newBias = [Float](repeating: 0, count: filters)
            for filter in 0..<filters {
                let a = scale[filter] / (variance[filter] + norm.epsilon).squareRoot()
                for offset in 0..<perFilter {
                    target[filter * perFilter + offset] = source[filter * perFilter + offset] * a
                }
                newBias[filter] = (bias[filter] - mean[filter]) * a + shift[filter]
            }
            let weightValue = graph.valueNames.count
            graph.valueNames.append(graph.valueNames[weightID] + "\u{0}bn-folded")
            graph.constants[weightValue] = Constant(type: weights.type, buffer: folded)
            let biasValue = graph.valueNames.count
            graph.valueNames.append(graph.valueNames[weightID] + "\u{0}bn-bias")
            graph.constants[biasValue] = Constant(newBias, shape: [filters])
            graph.nodes[index].inputs = [conv.inputs[0], weightValue, biasValue]
            graph.nodes[index].outputs = graph.nodes[next].outputs
            graph.nodes[index].name += "+bn"
            removed.insert(next)
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// Stores the constant B of `Gemm(transB=1)` (PyTorch's Linear) as [K,N] once at load: OpenBLAS's
    /// no-transpose path is faster (about 5% at batch 64 here), and the row-vector path reads it directly.
    static func pretransposeWeights(_ graph: inout Graph) {
        for index in graph.nodes.indices {
            guard var op = graph.nodes[index].op as? GemmOp, op.transB, let id = graph.nodes[index].inputs[1],
                let weights = graph.constants[id], weights.type.dtype == .float32, weights.type.shape.count == 2
            else { continue }
            let (n, k) = (weights.type.shape[0], weights.type.shape[1])
            let transposed = AlignedBuffer(count: n * k * 4)
            let source = weights.buffer.pointer.assumingMemoryBound(to: Float.self)
            let target = transposed.pointer.assumingMemoryBound(to: Float.self)
            for row in 0..<n {
                for column in 0..<k { target[column * n + row] = source[row * k + column] }
            }
            let newID = graph.valueNames.count
            graph.valueNames.append(graph.valueNames[id] + "\u{0}transposed")
            graph.constants[newID] = Constant(type: ValueType(dtype: .float32, shape: [k, n]), buffer: transposed)
            op.transB = false
            graph.nodes[index].op = op
            graph.nodes[index].inputs[1] = newID
        }
        // Drop originals nothing reads any more.
        var read = Set<Int>()
        for node in graph.nodes { for input in node.inputs.compactMap({ $0 }) { read.insert(input) } }
        let outputs = Set(graph.outputs.map(\.value))
        for id in Array(graph.constants.keys) where !read.contains(id) && !outputs.contains(id) {
            graph.constants[id] = nil
        }
    }

    static func activation(_ node: Node, _ graph: Graph) -> Activation? {
        guard node.outputs.count == 1 else { return nil }
        switch node.op {
        case let op as ActivationOp:
            if let fixed = op.fixed { return fixed }
            // Clip: fold only constant scalar bounds.
            var low = -Float.infinity
            var high = Float.infinity
            for position in [1, 2] where position < node.inputs.count {
                guard let id = node.inputs[position] else { continue }
                guard let values = graph.constants[id]?.floats, values.count == 1 else { return nil }
                if position == 1 { low = values[0] } else { high = values[0] }
            }
            return .clip(low, high)
        default:
            return nil
        }
    }
}
