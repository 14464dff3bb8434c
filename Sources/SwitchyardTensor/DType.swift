/// The element type of a tensor.
///
/// Raw values are ONNX `TensorProto.DataType` codes, so the numbers users see in ONNX tools and on
/// the wire are the same. The wire protocol (`protocols/wire-v1.md`) carries exactly these codes.
public enum DType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case int32 = 6
    case int64 = 7
    /// Variable-length byte strings: each element is a little-endian `u32` length then its bytes.
    case bytes = 8
    /// One byte per element, 0 or 1.
    case bool = 9
    case float16 = 10
    case float64 = 11
    /// bfloat16: the upper half of an IEEE 754 binary32 (8 exponent bits, 7 mantissa bits). Wire revision 1.2.
    case bfloat16 = 16

    /// Bytes per element, or `nil` for the variable-length `bytes` type.
    public var byteWidth: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .float16, .bfloat16: 2
        case .float32, .int32: 4
        case .int64, .float64: 8
        case .bytes: nil
        }
    }

    /// The short name used in messages, configs and the spec (`f32`, `i64`, ...).
    public var name: String {
        switch self {
        case .float32: "f32"
        case .uint8: "u8"
        case .int8: "i8"
        case .int32: "i32"
        case .int64: "i64"
        case .bytes: "bytes"
        case .bool: "bool"
        case .float16: "f16"
        case .float64: "f64"
        case .bfloat16: "bf16"
        }
    }

    /// Looks a type up by its short name.
    /// - Parameter name: `f32`, `u8`, `i8`, `i32`, `i64`, `bytes`, `bool`, `f16`, `f64` or `bf16`.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    public var description: String { self.name }
}
