/// The quantization operators: what onnxruntime's `quantize_dynamic` and `quantize_static` (QDQ) write.
extension OperatorRegistry {
    static let quantizationOperators: [String: OperatorFactory] = [
        "QuantizeLinear": { a throws(EngineError) in try QuantizeLinearOp(a) },
        "DequantizeLinear": { a throws(EngineError) in try DequantizeLinearOp(a) },
        "DynamicQuantizeLinear": { _ in DynamicQuantizeLinearOp() },
        "MatMulInteger": { _ in MatMulIntegerOp() },
        "QLinearMatMul": { _ in QLinearMatMulOp() },
        "ConvInteger": { a throws(EngineError) in try IntegerConvOp(a, requantizes: false) },
        "QLinearConv": { a throws(EngineError) in try IntegerConvOp(a, requantizes: true) },
    ]
}
