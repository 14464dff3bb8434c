import SwitchyardONNX

/// Stores a model's float32 weights as float16 or bfloat16, each followed by a Cast back to float32, so the file
/// halves and the graph still computes in float32 wherever it did (onnxruntime and the engine both run it).
public enum PrecisionConverter {
    /// The 16-bit format.
    public enum Format: String, Sendable, CaseIterable {
        /// IEEE half precision: 10 mantissa bits, range ±65504.
        case float16 = "fp16"
        /// bfloat16: float32's range with 7 mantissa bits.
        case bfloat16 = "bf16"

        var dataType: Int32 { self == .float16 ? 10 : 16 }
    }

    /// What the conversion did.
    public struct Result: Sendable {
        /// The converted model.
        public var model: ONNXModel
        /// Initializers converted.
        public var converted: Int
        /// float16 only: values beyond its range, saturated to ±65504.
        public var saturated: Int
    }

    /// Converts every float32 initializer of at least `minimumElements` values.
    /// - Parameters:
    ///   - model: the float model.
    ///   - format: float16 or bfloat16.
    ///   - minimumElements: smaller initializers (scalars, shapes of Reshape-like ops) stay float32.
    /// - Throws: `CompressionError.unsupportedModel` for bfloat16 below opset 13 (Cast from bfloat16 needs it).
    public static func convert(
        _ model: ONNXModel,
        to format: Format,
        minimumElements: Int = 16
    ) throws(CompressionError)
        -> Result
    {
        if format == .bfloat16 && model.opset < 13 {
            throw CompressionError(
                .unsupportedModel,
                "\(model.source): opset \(model.opset) has no Cast from bfloat16 (opset 13 does)"
            )
        }
        var editor = GraphEditor(model.proto.graph)
        var casts: [Onnx_NodeProto] = []
        var converted = 0
        var saturated = 0
        let outputs = Set(editor.graph.output.map(\.name))
        for tensor in editor.graph.initializer where tensor.dataType == 1 && !outputs.contains(tensor.name) {
            guard let values = GraphEditor.floats(of: tensor), values.count >= minimumElements else { continue }
            let bits: [UInt16] = values.values.map { value in
                switch format {
                case .float16:
                    if abs(value) > 65504 { saturated += 1 }
                    return Float16(min(max(value, -65504), 65504)).bitPattern
                case .bfloat16:
                    return Self.bfloat16(value)
                }
            }
            let name = editor.unique("\(tensor.name)_\(format.rawValue)")
            var half = GraphEditor.tensor(name, dims: values.dims, halfBits: bits, dataType: format.dataType)
            half.docString = tensor.docString
            editor.graph.initializer.removeAll { $0.name == tensor.name }
            editor.graph.input.removeAll { $0.name == tensor.name }
            editor.graph.initializer.append(half)
            casts.append(
                GraphEditor.node(
                    "Cast",
                    [name],
                    [tensor.name],
                    name: editor.unique("\(tensor.name)_Cast"),
                    ints: ["to": 1]
                )
            )
            converted += 1
        }
        editor.graph.node = casts + editor.graph.node
        var proto = model.proto
        proto.graph = editor.graph
        proto.producerName = "switchyard yard convert"
        return Result(model: ONNXModel(proto: proto, source: model.source), converted: converted, saturated: saturated)
    }

    /// float32 → bfloat16, rounding to nearest even (NaN stays NaN).
    static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
