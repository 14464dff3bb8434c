import SwitchyardONNX

/// What a quantizer did to a model.
public struct QuantizationResult: Sendable {
    /// The quantized model.
    public var model: ONNXModel
    /// Names of the nodes now computing in int8.
    public var quantized: [String]
    /// Nodes left in float, with the reason (excluded by name, or a form the quantizer does not handle).
    public var keptInFloat: [(node: String, reason: String)]
}

/// Rewrites an ONNX model's MatMul, Gemm and Conv nodes to int8, in the standard forms onnxruntime also runs.
public enum Quantizer {
    /// The nodes a model offers for quantization (MatMul, Gemm, Conv with float initializer weights), by name.
    /// - Parameters:
    ///   - model: the float model.
    ///   - operatorTypes: the operator types considered.
    public static func candidates(
        _ model: ONNXModel,
        operatorTypes: Set<String> = ["MatMul", "Gemm", "Conv"]
    ) -> [String] {
        QuantizableNode.find(in: GraphEditor(model.proto.graph), operatorTypes: operatorTypes).nodes.map(\.name)
    }

    /// The activation tensors a static quantization needs ranges for (the first input of each quantizable node
    /// that is not excluded).
    /// - Parameters:
    ///   - model: the float model.
    ///   - options: the options (mode, exclusions, operator types).
    public static func activationsToCalibrate(_ model: ONNXModel, options: QuantizationOptions) -> [String] {
        var seen = Set<String>()
        var names: [String] = []
        for node in QuantizableNode.find(in: GraphEditor(model.proto.graph), operatorTypes: options.operatorTypes).nodes
        where !options.exclude.contains(node.name) && seen.insert(node.activation).inserted {
            names.append(node.activation)
        }
        return names
    }

    /// Quantizes a model.
    /// - Parameters:
    ///   - model: the float model.
    ///   - options: mode, granularity, exclusions.
    ///   - ranges: static mode: each activation's `[low, high]` from calibration (``Calibrator``).
    /// - Throws: `CompressionError` `.invalidArgument` for an excluded name the graph does not have, `.invalidData`
    ///   when static mode lacks a range, `.unsupportedModel` when the opset is too old for the form written.
    public static func quantize(
        _ model: ONNXModel,
        options: QuantizationOptions,
        ranges: [String: ActivationRange] = [:]
    ) throws(CompressionError) -> QuantizationResult {
        var editor = GraphEditor(model.proto.graph)
        let (nodes, skipped) = QuantizableNode.find(in: editor, operatorTypes: options.operatorTypes)
        let names = Set(
            editor.graph.node.enumerated().map {
                $0.element.name.isEmpty ? "\($0.element.opType)_\($0.offset)" : $0.element.name
            }
        )
        for name in options.exclude where !names.contains(name) {
            throw CompressionError(.invalidArgument, "--exclude \(name): the model has no node of that name")
        }
        let needed = options.mode == .dynamic ? 11 : (options.perChannel ? 13 : 10)
        guard model.opset >= needed else {
            throw CompressionError(
                .unsupportedModel,
                "\(model.source): opset \(model.opset) is too old for \(options.mode.rawValue) quantization "
                    + "(it needs \(needed)); convert the model to opset \(needed) or later first"
            )
        }
        var kept = skipped.map { (node: $0.0, reason: $0.1) }
        var quantized: [String] = []
        var rewritten: [QuantizableNode] = []
        for node in nodes {
            if options.exclude.contains(node.name) {
                kept.append((node.name, "excluded"))
                continue
            }
            rewritten.append(node)
        }
        switch options.mode {
        case .dynamic:
            var quantizedInputs: [String: (q: String, scale: String, zero: String)] = [:]
            var newNodes: [Int: [Onnx_NodeProto]] = [:]
            for node in rewritten {
                newNodes[node.index] = try Self.dynamic(node, &editor, &quantizedInputs, perChannel: options.perChannel)
                quantized.append(node.name)
            }
            var nodesOut: [Onnx_NodeProto] = []
            for (index, original) in editor.graph.node.enumerated() {
                if let replacement = newNodes[index] { nodesOut += replacement } else { nodesOut.append(original) }
            }
            editor.graph.node = nodesOut
        case .static:
            var dequantized: [String: String] = [:]
            var inserted: [Onnx_NodeProto] = []
            for node in rewritten {
                guard let range = ranges[node.activation] else {
                    throw CompressionError(
                        .invalidData,
                        "no calibration range for '\(node.activation)' (input of \(node.name))"
                    )
                }
                let input: String
                if let existing = dequantized[node.activation] {
                    input = existing
                } else {
                    let parameters = ActivationQuantization(low: range.low, high: range.high)
                    let base = Self.sanitized(node.activation)
                    let scale = editor.unique("\(base)_scale")
                    let zero = editor.unique("\(base)_zero_point")
                    let q = editor.unique("\(base)_quantized")
                    let dq = editor.unique("\(base)_dequantized")
                    editor.setInitializer(GraphEditor.tensor(scale, dims: [], floats: [parameters.scale]))
                    editor.setInitializer(GraphEditor.tensor(zero, dims: [], uint8: [parameters.zeroPoint]))
                    inserted.append(
                        GraphEditor.node(
                            "QuantizeLinear",
                            [node.activation, scale, zero],
                            [q],
                            name: editor.unique("\(base)_QuantizeLinear")
                        )
                    )
                    inserted.append(
                        GraphEditor.node(
                            "DequantizeLinear",
                            [q, scale, zero],
                            [dq],
                            name: editor.unique("\(base)_DequantizeLinear")
                        )
                    )
                    dequantized[node.activation] = dq
                    input = dq
                }
                let activationScale = ActivationQuantization(low: range.low, high: range.high).scale
                inserted += try Self.staticWeights(
                    node,
                    &editor,
                    input: input,
                    activationScale: activationScale,
                    perChannel: options.perChannel
                )
                quantized.append(node.name)
            }
            editor.graph.node += inserted
            editor.sortTopologically()
        }
        editor.removeUnusedInitializers()
        var proto = model.proto
        proto.graph = editor.graph
        proto.producerName = "switchyard yard quantize"
        return QuantizationResult(
            model: ONNXModel(proto: proto, source: model.source),
            quantized: quantized,
            keptInFloat: kept
        )
    }

    /// DynamicQuantizeLinear (once per input) → MatMulInteger (ConvInteger for a Conv) → Cast → Mul by the two
    /// scales, then the bias. A Conv's weights are per output channel, their scales shaped C×1×1 so that they
    /// broadcast over N×C×H×W (onnxruntime's own quantizer writes one scale per Conv).
    private static func dynamic(
        _ node: QuantizableNode,
        _ editor: inout GraphEditor,
        _ quantizedInputs: inout [String: (q: String, scale: String, zero: String)],
        perChannel: Bool
    ) throws(CompressionError) -> [Onnx_NodeProto] {
        let original = editor.graph.node[node.index]
        guard var weight = editor.floats(node.weight) else { return [original] }
        var alpha: Float = 1
        var beta: Float = 1
        if node.opType == "Gemm" {
            alpha = GraphEditor.floatAttribute(original, "alpha") ?? 1
            beta = GraphEditor.floatAttribute(original, "beta") ?? 1
            if GraphEditor.intAttribute(original, "transB") ?? 0 != 0 { weight = Self.transposed(weight) }
        }
        let base = Self.sanitized(node.name)
        var result: [Onnx_NodeProto] = []
        let input: (q: String, scale: String, zero: String)
        if let existing = quantizedInputs[node.activation] {
            input = existing
        } else {
            let inputBase = Self.sanitized(node.activation)
            input = (
                editor.unique("\(inputBase)_quantized"), editor.unique("\(inputBase)_scale"),
                editor.unique("\(inputBase)_zero_point")
            )
            result.append(
                GraphEditor.node(
                    "DynamicQuantizeLinear",
                    [node.activation],
                    [input.q, input.scale, input.zero],
                    name: editor.unique("\(inputBase)_DynamicQuantizeLinear")
                )
            )
            quantizedInputs[node.activation] = input
        }
        let isConv = node.opType == "Conv"
        let q = QuantizedWeight(weight, axis: perChannel ? (isConv ? 0 : 1) : nil)
        let weightName = editor.unique("\(Self.sanitized(node.weight))_quantized")
        let weightScale = editor.unique("\(Self.sanitized(node.weight))_scale")
        let weightZero = editor.unique("\(Self.sanitized(node.weight))_zero_point")
        editor.setInitializer(GraphEditor.tensor(weightName, dims: weight.dims, int8: q.values))
        let scales = q.scales.map { $0 * alpha }
        let scaleDims = scales.count == 1 ? [] : (isConv ? [scales.count, 1, 1] : [scales.count])
        editor.setInitializer(GraphEditor.tensor(weightScale, dims: scaleDims, floats: scales))
        editor.setInitializer(GraphEditor.tensor(weightZero, dims: [], int8: [0]))
        let integerOp = isConv ? "ConvInteger" : "MatMulInteger"
        let product = editor.unique("\(base)_\(integerOp)_output")
        let cast = editor.unique("\(base)_Cast_output")
        let scale = editor.unique("\(base)_scale")
        var integerNode = GraphEditor.node(
            integerOp,
            [input.q, weightName, input.zero, weightZero],
            [product],
            name: editor.unique("\(base)_\(integerOp)")
        )
        // ConvInteger takes Conv's geometry attributes as they are.
        if isConv { integerNode.attribute = original.attribute }
        result.append(integerNode)
        result.append(GraphEditor.node("Cast", [product], [cast], name: editor.unique("\(base)_Cast"), ints: ["to": 1]))
        result.append(
            GraphEditor.node("Mul", [input.scale, weightScale], [scale], name: editor.unique("\(base)_scale_Mul"))
        )
        let output = original.output[0]
        let hasBias = node.opType != "MatMul" && original.input.count > 2 && !original.input[2].isEmpty
        let scaled = hasBias ? editor.unique("\(base)_scaled") : output
        result.append(GraphEditor.node("Mul", [cast, scale], [scaled], name: editor.unique("\(base)_output_Mul")))
        if hasBias {
            var bias = original.input[2]
            if beta != 1 {
                guard let values = editor.floats(bias) else {
                    throw CompressionError(
                        .unsupportedModel,
                        "node '\(node.name)': Gemm with beta \(beta) and a computed bias"
                    )
                }
                bias = editor.unique("\(Self.sanitized(bias))_beta")
                editor.setInitializer(
                    GraphEditor.tensor(bias, dims: values.dims, floats: values.values.map { $0 * beta })
                )
            }
            if isConv {
                // Conv's bias is per output channel: C×1×1 to broadcast over N×C×H×W.
                guard let values = editor.floats(bias) else {
                    throw CompressionError(.unsupportedModel, "node '\(node.name)': Conv with a computed bias")
                }
                bias = editor.unique("\(Self.sanitized(bias))_channels")
                editor.setInitializer(GraphEditor.tensor(bias, dims: [values.count, 1, 1], floats: values.values))
            }
            result.append(GraphEditor.node("Add", [scaled, bias], [output], name: editor.unique("\(base)_bias_Add")))
        }
        return result
    }

    /// QDQ weights: int8 initializer → DequantizeLinear (per channel or per tensor) → the node; a Conv or Gemm bias
    /// becomes int32 at the product's scale (activation scale × weight scale), as onnxruntime's QDQ writes it.
    private static func staticWeights(
        _ node: QuantizableNode,
        _ editor: inout GraphEditor,
        input: String,
        activationScale: Float,
        perChannel: Bool
    ) throws(CompressionError) -> [Onnx_NodeProto] {
        guard let weight = editor.floats(node.weight) else { return [] }
        let q = QuantizedWeight(weight, axis: perChannel ? node.channelAxis : nil)
        let base = Self.sanitized(node.weight)
        let weightName = editor.unique("\(base)_quantized")
        let scale = editor.unique("\(base)_scale")
        let zero = editor.unique("\(base)_zero_point")
        let dequantized = editor.unique("\(base)_dequantized")
        let vector = q.scales.count > 1
        editor.setInitializer(GraphEditor.tensor(weightName, dims: weight.dims, int8: q.values))
        editor.setInitializer(GraphEditor.tensor(scale, dims: vector ? [q.scales.count] : [], floats: q.scales))
        editor.setInitializer(
            GraphEditor.tensor(
                zero,
                dims: vector ? [q.scales.count] : [],
                int8: [Int8](repeating: 0, count: q.scales.count)
            )
        )
        var nodes = [
            GraphEditor.node(
                "DequantizeLinear",
                [weightName, scale, zero],
                [dequantized],
                name: editor.unique("\(base)_DequantizeLinear"),
                ints: vector ? ["axis": node.channelAxis] : [:]
            )
        ]
        var rewritten = editor.graph.node[node.index]
        rewritten.input[0] = input
        rewritten.input[1] = dequantized
        // Bias: Conv's input 2; Gemm's C when it is a vector of output channels and beta is 1.
        let biasChannels = weight.dims[node.channelAxis]
        let isGemmBias = node.opType == "Gemm" && (GraphEditor.floatAttribute(rewritten, "beta") ?? 1) == 1
        if (node.opType == "Conv" || isGemmBias), rewritten.input.count > 2, !rewritten.input[2].isEmpty,
            let bias = editor.floats(rewritten.input[2]), bias.count == biasChannels, bias.dims.count == 1
        {
            let biasBase = Self.sanitized(rewritten.input[2])
            let scales = (0..<biasChannels).map { activationScale * q.scales[vector ? $0 : 0] }
            let values = (0..<biasChannels).map { index -> Int32 in
                let v = (bias.values[index] / scales[index]).rounded(.toNearestOrEven)
                return Int32(min(max(v, -2_147_483_000), 2_147_483_000))
            }
            let biasName = editor.unique("\(biasBase)_quantized")
            let biasScale = editor.unique("\(biasBase)_scale")
            let biasZero = editor.unique("\(biasBase)_zero_point")
            let biasOut = editor.unique("\(biasBase)_dequantized")
            editor.setInitializer(GraphEditor.tensor(biasName, dims: [biasChannels], int32: values))
            editor.setInitializer(
                GraphEditor.tensor(biasScale, dims: vector ? [biasChannels] : [], floats: vector ? scales : [scales[0]])
            )
            editor.setInitializer(
                GraphEditor.tensor(
                    biasZero,
                    dims: vector ? [biasChannels] : [],
                    int32: [Int32](repeating: 0, count: vector ? biasChannels : 1)
                )
            )
            nodes.append(
                GraphEditor.node(
                    "DequantizeLinear",
                    [biasName, biasScale, biasZero],
                    [biasOut],
                    name: editor.unique("\(biasBase)_DequantizeLinear"),
                    ints: vector ? ["axis": 0] : [:]
                )
            )
            rewritten.input[2] = biasOut
        }
        editor.graph.node[node.index] = rewritten
        return nodes
    }

    static func transposed(_ tensor: FloatTensor) -> FloatTensor {
        let (rows, columns) = (tensor.dims[0], tensor.dims[1])
        var values = [Float](repeating: 0, count: tensor.count)
        for row in 0..<rows {
            for column in 0..<columns { values[column * rows + row] = tensor.values[row * columns + column] }
        }
        return FloatTensor(dims: [columns, rows], values: values)
    }

    static func sanitized(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "/" ? $0 : "_" })
    }
}
