/// How `yard quantize` quantizes a model.
public struct QuantizationOptions: Sendable {
    /// Where activation scales come from.
    public enum Mode: String, Sendable, CaseIterable {
        /// Weights int8 ahead of time, activations quantized per call from their own range
        /// (DynamicQuantizeLinear + MatMulInteger, the form onnxruntime's `quantize_dynamic` writes).
        case dynamic
        /// Weights and activations int8 with ranges measured on calibration data, written as
        /// QuantizeLinear/DequantizeLinear pairs around the float operators (QDQ).
        case `static`
    }

    /// How an activation's range is chosen from calibration data.
    public enum CalibrationMethod: String, Sendable, CaseIterable {
        /// The smallest and largest values seen.
        case minMax = "minmax"
        /// The given percentile of the values at each end (outliers are clipped).
        case percentile
        /// The clipping threshold whose 8-bit histogram loses least information (KL divergence, after TensorRT).
        case entropy
    }

    /// Dynamic or static.
    public var mode: Mode
    /// One weight scale per output channel (column of a MatMul weight, filter of a Conv) rather than one per tensor.
    public var perChannel = true
    /// Static mode: how activation ranges are chosen.
    public var method = CalibrationMethod.minMax
    /// Static mode, `percentile` method: the percentile kept at each end.
    public var percentile = 99.99
    /// Node names left in float.
    public var exclude: Set<String> = []
    /// Operator types quantized.
    public var operatorTypes: Set<String> = ["MatMul", "Gemm", "Conv"]

    /// Options for a mode, with defaults for the rest.
    /// - Parameter mode: dynamic or static.
    public init(mode: Mode) {
        self.mode = mode
    }
}
