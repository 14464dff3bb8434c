import SwitchyardONNX
public import SwitchyardTensor

/// What the pruner did to a model.
public struct PruningResult: Sendable {
    /// The smaller model.
    public var model: ONNXModel
    /// Per pruned layer: its first node's name and the hidden units before and after.
    public var layers: [(node: String, before: Int, after: Int)]
}

/// Structured pruning: removes hidden units of MLP layers (a MatMul or Gemm with its bias and an elementwise
/// activation, feeding another MatMul or Gemm), chosen on calibration data by how little the re-fit misses them
/// (``UnitSelection``), and re-fits the next layer by least squares so its outputs on the same data match the original
/// model's.
public enum Pruner {
    /// Prunes `sparsity` of the hidden units of every prunable layer.
    /// - Parameters:
    ///   - model: the float model.
    ///   - sparsity: the share of hidden units removed, in (0, 1).
    ///   - calibration: rows of the model's input.
    /// - Throws: `CompressionError.unsupportedModel` when the model has no prunable layer, `.engine` when it cannot
    ///   run, `.invalidArgument` for a sparsity out of range.
    public static func prune(
        _ model: ONNXModel,
        sparsity: Double,
        calibration: Tensor
    ) throws(CompressionError) -> PruningResult {
        guard sparsity > 0, sparsity < 1 else {
            throw CompressionError(.invalidArgument, "--sparsity must be between 0 and 1 (exclusive), got \(sparsity)")
        }
        let layers = PrunableLayer.find(in: GraphEditor(model.proto.graph))
        guard !layers.isEmpty else {
            throw CompressionError(
                .unsupportedModel,
                "\(model.source): no prunable layer (MatMul/Gemm with a constant weight and bias, an elementwise "
                    + "activation, then a MatMul/Gemm with a constant weight)"
            )
        }
        // The original model's next-layer outputs are what every re-fit aims at.
        var targets: [[Float]] = Array(repeating: [], count: layers.count)
        let original = try ActivationRunner(model, tensors: layers.map(\.target))
        try original.forEachBatch(calibration) { index, values in targets[index] += values }

        var current = model
        var report: [(String, Int, Int)] = []
        for (position, layer) in layers.enumerated() {
            var editor = GraphEditor(current.proto.graph)
            guard let w1 = editor.floats(layer.firstWeight), let w2 = editor.floats(layer.nextWeight) else { continue }
            let hidden = layer.hiddenUnits(w1)
            let outputs = layer.outputUnits(w2)
            var activations: [Float] = []
            let runner = try ActivationRunner(current, tensors: [layer.hidden])
            try runner.forEachBatch(calibration) { _, values in activations += values }
            let rows = activations.count / max(hidden, 1)
            guard rows * hidden == activations.count, targets[position].count == rows * outputs else {
                throw CompressionError(
                    .unsupportedModel,
                    "layer '\(layer.firstNode)': hidden values are not [rows, \(hidden)]"
                )
            }
            let keepCount = max(1, Int((Double(hidden) * (1 - sparsity)).rounded()))
            let kept = try UnitSelection.keep(
                keepCount,
                of: hidden,
                hidden: activations,
                targets: targets[position],
                rows: rows,
                outputs: outputs
            )

            // Re-fit: [H_kept, 1] · [W2'; b2'] ≈ target.
            let hasBias = layer.nextBias != nil
            let columns = kept.count + (hasBias ? 1 : 0)
            var design = [Float](repeating: 0, count: rows * columns)
            for row in 0..<rows {
                for (column, unit) in kept.enumerated() {
                    design[row * columns + column] = activations[row * hidden + unit]
                }
                if hasBias { design[row * columns + kept.count] = 1 }
            }
            let solution = try LeastSquares.solve(
                design,
                rows: rows,
                columns: columns,
                targets[position],
                targets: outputs
            )
            try layer.rewrite(&editor, kept: Array(kept), w1: w1, solution: solution, outputs: outputs)
            editor.graph.valueInfo.removeAll { layer.values.contains($0.name) }
            var proto = current.proto
            proto.graph = editor.graph
            proto.producerName = "switchyard yard prune"
            current = ONNXModel(proto: proto, source: model.source)
            report.append((layer.firstNode, hidden, kept.count))
        }
        return PruningResult(model: current, layers: report)
    }

    /// The names of the layers a model offers for pruning (their first node).
    public static func prunableLayers(_ model: ONNXModel) -> [String] {
        PrunableLayer.find(in: GraphEditor(model.proto.graph)).map(\.firstNode)
    }
}

/// First layer (weight + bias) → elementwise activation → next layer (weight, optional bias).
struct PrunableLayer {
    var firstNode: String
    var firstWeight: String
    /// The first layer's weight is [H, K] (Gemm with transB) rather than [K, H].
    var firstTransposed: Bool
    var firstBias: String
    /// The activation's output: the hidden units.
    var hidden: String
    var nextNode: Int
    var nextWeight: String
    var nextTransposed: Bool
    var nextBias: String?
    /// The value the re-fit matches: the next layer's output after its bias.
    var target: String
    /// Values whose shapes change.
    var values: Set<String>

    func hiddenUnits(_ w1: FloatTensor) -> Int { self.firstTransposed ? w1.dims[0] : w1.dims[1] }
    func outputUnits(_ w2: FloatTensor) -> Int { self.nextTransposed ? w2.dims[0] : w2.dims[1] }

    /// Writes the kept units' first-layer weights and bias, and the re-fitted next layer.
    func rewrite(
        _ editor: inout GraphEditor,
        kept: [Int],
        w1: FloatTensor,
        solution: [Float],
        outputs: Int
    ) throws(CompressionError) {
        let hidden = self.hiddenUnits(w1)
        let inputs = self.firstTransposed ? w1.dims[1] : w1.dims[0]
        var first = [Float]()
        first.reserveCapacity(kept.count * inputs)
        if self.firstTransposed {
            for unit in kept { first += w1.values[(unit * inputs)..<((unit + 1) * inputs)] }
            editor.setInitializer(GraphEditor.tensor(self.firstWeight, dims: [kept.count, inputs], floats: first))
        } else {
            for row in 0..<inputs { for unit in kept { first.append(w1.values[row * hidden + unit]) } }
            editor.setInitializer(GraphEditor.tensor(self.firstWeight, dims: [inputs, kept.count], floats: first))
        }
        guard let bias = editor.floats(self.firstBias), bias.count == hidden else {
            throw CompressionError(
                .unsupportedModel,
                "layer '\(self.firstNode)': its bias does not hold \(hidden) values"
            )
        }
        let biasDims = bias.dims.count == 2 ? [1, kept.count] : [kept.count]
        editor.setInitializer(GraphEditor.tensor(self.firstBias, dims: biasDims, floats: kept.map { bias.values[$0] }))
        var next = [Float](repeating: 0, count: kept.count * outputs)
        for (row, _) in kept.enumerated() {
            for output in 0..<outputs {
                let value = solution[row * outputs + output]
                if self.nextTransposed {
                    next[output * kept.count + row] = value
                } else {
                    next[row * outputs + output] = value
                }
            }
        }
        editor.setInitializer(
            GraphEditor.tensor(
                self.nextWeight,
                dims: self.nextTransposed ? [outputs, kept.count] : [kept.count, outputs],
                floats: next
            )
        )
        if let nextBias = self.nextBias, let old = editor.floats(nextBias) {
            let values = (0..<outputs).map { solution[kept.count * outputs + $0] }
            editor.setInitializer(GraphEditor.tensor(nextBias, dims: old.dims, floats: values))
        }
    }

    static let activations: Set<String> = [
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Gelu", "HardSigmoid",
    ]

    static func find(in editor: GraphEditor) -> [PrunableLayer] {
        let nodes = editor.graph.node
        func sole(_ value: String) -> Int? {
            guard !editor.isGraphOutput(value) else { return nil }
            let readers = editor.consumers(of: value)
            return readers.count == 1 ? readers[0] : nil
        }
        func isDefault(_ node: Onnx_NodeProto) -> Bool { node.domain == "" || node.domain == "ai.onnx" }
        func biasOfAdd(_ add: Onnx_NodeProto, _ value: String, units: Int) -> String? {
            guard add.opType == "Add", isDefault(add), add.input.count == 2 else { return nil }
            let other = add.input[0] == value ? add.input[1] : add.input[0]
            guard let bias = editor.floats(other), bias.count == units, bias.dims.last == units else { return nil }
            return other
        }
        var layers: [PrunableLayer] = []
        for (index, node) in nodes.enumerated() where isDefault(node) && ["MatMul", "Gemm"].contains(node.opType) {
            guard node.input.count >= 2, let w1 = editor.floats(node.input[1]), w1.dims.count == 2 else { continue }
            let name = node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
            var transposed = false
            var bias: String
            var activationInput: String
            var values: Set<String> = [node.output[0]]
            if node.opType == "Gemm" {
                guard GraphEditor.intAttribute(node, "transA") ?? 0 == 0,
                    (GraphEditor.floatAttribute(node, "beta") ?? 1) == 1,
                    node.input.count > 2
                else { continue }
                transposed = GraphEditor.intAttribute(node, "transB") ?? 0 != 0
                let units = transposed ? w1.dims[0] : w1.dims[1]
                guard let b = editor.floats(node.input[2]), b.count == units, b.dims.last == units else { continue }
                bias = node.input[2]
                activationInput = node.output[0]
            } else {
                guard let addIndex = sole(node.output[0]),
                    let b = biasOfAdd(nodes[addIndex], node.output[0], units: w1.dims[1])
                else { continue }
                bias = b
                activationInput = nodes[addIndex].output[0]
                values.insert(activationInput)
            }
            guard let activationIndex = sole(activationInput), Self.activations.contains(nodes[activationIndex].opType),
                isDefault(nodes[activationIndex])
            else { continue }
            let hidden = nodes[activationIndex].output[0]
            values.insert(hidden)
            guard let nextIndex = sole(hidden), isDefault(nodes[nextIndex]),
                ["MatMul", "Gemm"].contains(nodes[nextIndex].opType),
                nodes[nextIndex].input.count >= 2, nodes[nextIndex].input[0] == hidden,
                let w2 = editor.floats(nodes[nextIndex].input[1]), w2.dims.count == 2
            else { continue }
            let next = nodes[nextIndex]
            let units = transposed ? w1.dims[0] : w1.dims[1]
            var nextTransposed = false
            var nextBias: String? = nil
            var target = next.output[0]
            if next.opType == "Gemm" {
                guard GraphEditor.intAttribute(next, "transA") ?? 0 == 0,
                    (GraphEditor.floatAttribute(next, "alpha") ?? 1) == 1,
                    (GraphEditor.floatAttribute(next, "beta") ?? 1) == 1
                else { continue }
                nextTransposed = GraphEditor.intAttribute(next, "transB") ?? 0 != 0
                let outputs = nextTransposed ? w2.dims[0] : w2.dims[1]
                if next.input.count > 2, !next.input[2].isEmpty {
                    guard let b = editor.floats(next.input[2]), b.count == outputs else { continue }
                    nextBias = next.input[2]
                }
            } else if let addIndex = sole(next.output[0]),
                let b = biasOfAdd(nodes[addIndex], next.output[0], units: w2.dims[1])
            {
                nextBias = b
                target = nodes[addIndex].output[0]
            }
            guard (nextTransposed ? w2.dims[1] : w2.dims[0]) == units else { continue }
            // A weight or bias shared with another layer cannot change shape.
            let shared = [node.input[1], bias, next.input[1]] + (nextBias.map { [$0] } ?? [])
            guard shared.allSatisfy({ editor.consumers(of: $0).count == 1 }) else { continue }
            layers.append(
                PrunableLayer(
                    firstNode: name,
                    firstWeight: node.input[1],
                    firstTransposed: transposed,
                    firstBias: bias,
                    hidden: hidden,
                    nextNode: nextIndex,
                    nextWeight: next.input[1],
                    nextTransposed: nextTransposed,
                    nextBias: nextBias,
                    target: target,
                    values: values
                )
            )
        }
        return layers
    }
}
