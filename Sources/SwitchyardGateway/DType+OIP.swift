public import SwitchyardTensor

extension DType {
    /// The Open Inference Protocol's name for this type (`FP32`, `INT64`, `BYTES`, ...).
    public var oipName: String {
        switch self {
        case .float32: "FP32"
        case .float16: "FP16"
        case .bfloat16: "BF16"
        case .float64: "FP64"
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .int32: "INT32"
        case .int64: "INT64"
        case .bool: "BOOL"
        case .bytes: "BYTES"
        }
    }

    /// Triton's model-configuration name for this type (`TYPE_FP32`, `TYPE_STRING` for bytes, ...).
    public var tritonConfigName: String { self == .bytes ? "TYPE_STRING" : "TYPE_" + self.oipName }

    /// Looks a type up by its Open Inference Protocol name.
    /// - Parameter oipName: `BOOL`, `UINT8`, `INT8`, `INT32`, `INT64`, `FP16`, `BF16`, `FP32`, `FP64` or `BYTES`.
    public init?(oipName: String) {
        guard let match = Self.allCases.first(where: { $0.oipName == oipName }) else { return nil }
        self = match
    }

    /// The protocol's datatypes that the mesh does not carry.
    static let unsupportedOIPNames: Set<String> = ["UINT16", "UINT32", "UINT64", "INT16"]

    /// The supported names, for error messages.
    static let oipNames = DType.allCases.map(\.oipName).sorted().joined(separator: ", ")
}
