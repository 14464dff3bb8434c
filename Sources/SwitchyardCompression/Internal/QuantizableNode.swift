import SwitchyardONNX

/// A MatMul, Gemm or Conv whose weight is a float initializer: what the quantizers rewrite.
struct QuantizableNode: Sendable {
    var index: Int
    var name: String
    var opType: String
    /// The activation input (input 0).
    var activation: String
    /// The weight initializer (input 1).
    var weight: String
    /// The weight's axis that indexes output channels: 1 for MatMul's [K,N], 0 for Gemm(transB) and Conv.
    var channelAxis: Int

    /// Every quantizable node of the graph, in graph order, with the reason each other candidate was passed over.
    static func find(
        in editor: GraphEditor,
        operatorTypes: Set<String>
    ) -> (nodes: [QuantizableNode], skipped: [(String, String)]) {
        var nodes: [QuantizableNode] = []
        var skipped: [(String, String)] = []
        for (index, node) in editor.graph.node.enumerated()
        where operatorTypes.contains(node.opType) && (node.domain == "" || node.domain == "ai.onnx") {
            let name = node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
            guard node.input.count >= 2, let weight = editor.floats(node.input[1]) else {
                skipped.append((name, "its weight is not a float32 initializer"))
                continue
            }
            switch node.opType {
            case "MatMul":
                guard weight.dims.count == 2 else {
                    skipped.append((name, "weight of rank \(weight.dims.count), not 2"))
                    continue
                }
                nodes.append(
                    .init(
                        index: index,
                        name: name,
                        opType: "MatMul",
                        activation: node.input[0],
                        weight: node.input[1],
                        channelAxis: 1
                    )
                )
            case "Gemm":
                guard GraphEditor.intAttribute(node, "transA") ?? 0 == 0, weight.dims.count == 2 else {
                    skipped.append((name, "Gemm with transA is not quantized"))
                    continue
                }
                let transB = GraphEditor.intAttribute(node, "transB") ?? 0 != 0
                nodes.append(
                    .init(
                        index: index,
                        name: name,
                        opType: "Gemm",
                        activation: node.input[0],
                        weight: node.input[1],
                        channelAxis: transB ? 0 : 1
                    )
                )
            case "Conv":
                guard weight.dims.count >= 3 else {
                    skipped.append((name, "Conv weight of rank \(weight.dims.count)"))
                    continue
                }
                nodes.append(
                    .init(
                        index: index,
                        name: name,
                        opType: "Conv",
                        activation: node.input[0],
                        weight: node.input[1],
                        channelAxis: 0
                    )
                )
            default:
                continue
            }
        }
        return (nodes, skipped)
    }
}

/// Symmetric int8 weights: one scale per channel along `axis` (or one for the tensor), zero point 0, values in
/// [-127, 127] so that a product pair never reaches the int16 limit of non-VNNI kernels.
struct QuantizedWeight: Sendable {
    var values: [Int8]
    var scales: [Float]

    init(_ weight: FloatTensor, axis: Int?) {
        let dims = weight.dims
        guard let axis else {
            let largest = weight.values.reduce(Float(0)) { max($0, abs($1)) }
            let scale = largest > 0 ? largest / 127 : 1
            self.scales = [scale]
            self.values = weight.values.map { Self.quantize($0, scale) }
            return
        }
        let outer = dims.prefix(axis).reduce(1, *)
        let channels = dims[axis]
        let inner = dims.suffix(from: axis + 1).reduce(1, *)
        var largest = [Float](repeating: 0, count: channels)
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                for i in 0..<inner { largest[c] = max(largest[c], abs(weight.values[base + i])) }
            }
        }
        let scales = largest.map { $0 > 0 ? $0 / 127 : 1 }
        var values = [Int8](repeating: 0, count: weight.count)
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                for i in 0..<inner { values[base + i] = Self.quantize(weight.values[base + i], scales[c]) }
            }
        }
        self.scales = scales
        self.values = values
    }

    static func quantize(_ value: Float, _ scale: Float) -> Int8 {
        let q = (value / scale).rounded(.toNearestOrEven)
        return Int8(min(max(q.isNaN ? 0 : q, -127), 127))
    }
}

/// uint8 activation parameters covering `[low, high]` (widened to include 0, as ONNX requires zero to be exact).
struct ActivationQuantization: Sendable, Codable, Equatable {
    var scale: Float
    var zeroPoint: UInt8

    init(low: Float, high: Float) {
        let lo = min(low, 0)
        let hi = max(high, 0)
        guard hi > lo, lo.isFinite, hi.isFinite else {
            self.scale = 1
            self.zeroPoint = 0
            return
        }
        self.scale = (hi - lo) / 255
        self.zeroPoint = UInt8(min(max((-lo / self.scale).rounded(.toNearestOrEven), 0), 255))
    }
}
