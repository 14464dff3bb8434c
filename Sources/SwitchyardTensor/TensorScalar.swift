/// A Swift type that is the in-memory form of one fixed-width ``DType``.
public protocol TensorScalar: Sendable, Equatable {
    /// The dtype whose elements have this layout.
    static var dtype: DType { get }
}

extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Double: TensorScalar { public static var dtype: DType { .float64 } }
extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension Int8: TensorScalar { public static var dtype: DType { .int8 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Bool: TensorScalar { public static var dtype: DType { .bool } }
