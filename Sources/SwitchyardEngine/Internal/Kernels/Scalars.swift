import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The element types generic kernels work on, with arithmetic that never traps: integer overflow wraps and
/// integer division by zero gives 0, as onnxruntime's kernels do in practice.
protocol NumericScalar: TensorScalar, Comparable {
    static var zero: Self { get }
    static var one: Self { get }
    /// The smallest value (−∞ for floats), where a running maximum starts.
    static var lowest: Self { get }
    /// The largest value (+∞ for floats), where a running minimum starts.
    static var highest: Self { get }
    /// Converts, truncating toward zero for integers (NaN and out-of-range give the minimum).
    init(double: Double)
    var double: Double { get }
    static func plus(_ a: Self, _ b: Self) -> Self
    static func minus(_ a: Self, _ b: Self) -> Self
    static func times(_ a: Self, _ b: Self) -> Self
    static func divided(_ a: Self, _ b: Self) -> Self
    /// `fmod` semantics (sign of the dividend) or, when `false`, Python's (sign of the divisor).
    static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self
    var isNaNValue: Bool { get }
}

/// Float and Double: the transcendental functions the unary operators need.
protocol FloatScalar: NumericScalar, BinaryFloatingPoint {
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func power(_ x: Self, _ y: Self) -> Self
    static func sine(_ x: Self) -> Self
    static func cosine(_ x: Self) -> Self
    static func tangent(_ x: Self) -> Self
    static func arcsine(_ x: Self) -> Self
    static func arccosine(_ x: Self) -> Self
    static func arctangent(_ x: Self) -> Self
    static func hyperbolicSine(_ x: Self) -> Self
    static func hyperbolicCosine(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    static func areaSine(_ x: Self) -> Self
    static func areaCosine(_ x: Self) -> Self
    static func areaTangent(_ x: Self) -> Self
    static func errorFunction(_ x: Self) -> Self
    static func logOnePlus(_ x: Self) -> Self
    static func truncatedRemainder(_ x: Self, _ y: Self) -> Self
    static func roundedEven(_ x: Self) -> Self
}

extension NumericScalar where Self: BinaryFloatingPoint {
    static var zero: Self { 0 }
    static var one: Self { 1 }
    static var lowest: Self { -.infinity }
    static var highest: Self { .infinity }
    @inline(__always) static func plus(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) static func minus(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) static func times(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) static func divided(_ a: Self, _ b: Self) -> Self { a / b }
    var isNaNValue: Bool { self.isNaN }
}

extension Float: FloatScalar {
    init(double: Double) { self = Float(double) }
    var double: Double { Double(self) }
    static func remainder(_ a: Float, _ b: Float, fmod: Bool) -> Float {
        let r = fmodf(a, b)
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r + b
    }
    @inline(__always) static func exponential(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func logarithm(_ x: Float) -> Float { logf(x) }
    @inline(__always) static func power(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    @inline(__always) static func sine(_ x: Float) -> Float { sinf(x) }
    @inline(__always) static func cosine(_ x: Float) -> Float { cosf(x) }
    @inline(__always) static func tangent(_ x: Float) -> Float { tanf(x) }
    @inline(__always) static func arcsine(_ x: Float) -> Float { asinf(x) }
    @inline(__always) static func arccosine(_ x: Float) -> Float { acosf(x) }
    @inline(__always) static func arctangent(_ x: Float) -> Float { atanf(x) }
    @inline(__always) static func hyperbolicSine(_ x: Float) -> Float { sinhf(x) }
    @inline(__always) static func hyperbolicCosine(_ x: Float) -> Float { coshf(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }
    @inline(__always) static func areaSine(_ x: Float) -> Float { asinhf(x) }
    @inline(__always) static func areaCosine(_ x: Float) -> Float { acoshf(x) }
    @inline(__always) static func areaTangent(_ x: Float) -> Float { atanhf(x) }
    @inline(__always) static func errorFunction(_ x: Float) -> Float { erff(x) }
    @inline(__always) static func logOnePlus(_ x: Float) -> Float { log1pf(x) }
    @inline(__always) static func truncatedRemainder(_ x: Float, _ y: Float) -> Float { fmodf(x, y) }
    @inline(__always) static func roundedEven(_ x: Float) -> Float { nearbyintf(x) }
}

extension Double: FloatScalar {
    init(double: Double) { self = double }
    var double: Double { self }
    static func remainder(_ a: Double, _ b: Double, fmod: Bool) -> Double {
        let r = cRemainder(a, b)
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r + b
    }
    @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
    @inline(__always) static func power(_ x: Double, _ y: Double) -> Double { pow(x, y) }
    @inline(__always) static func sine(_ x: Double) -> Double { sin(x) }
    @inline(__always) static func cosine(_ x: Double) -> Double { cos(x) }
    @inline(__always) static func tangent(_ x: Double) -> Double { tan(x) }
    @inline(__always) static func arcsine(_ x: Double) -> Double { asin(x) }
    @inline(__always) static func arccosine(_ x: Double) -> Double { acos(x) }
    @inline(__always) static func arctangent(_ x: Double) -> Double { atan(x) }
    @inline(__always) static func hyperbolicSine(_ x: Double) -> Double { sinh(x) }
    @inline(__always) static func hyperbolicCosine(_ x: Double) -> Double { cosh(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }
    @inline(__always) static func areaSine(_ x: Double) -> Double { asinh(x) }
    @inline(__always) static func areaCosine(_ x: Double) -> Double { acosh(x) }
    @inline(__always) static func areaTangent(_ x: Double) -> Double { atanh(x) }
    @inline(__always) static func errorFunction(_ x: Double) -> Double { erf(x) }
    @inline(__always) static func logOnePlus(_ x: Double) -> Double { log1p(x) }
    @inline(__always) static func truncatedRemainder(_ x: Double, _ y: Double) -> Double { fmod(x, y) }
    @inline(__always) static func roundedEven(_ x: Double) -> Double { nearbyint(x) }
}

@inline(__always) private func cRemainder(_ a: Double, _ b: Double) -> Double { fmod(a, b) }

/// Integer element types.
protocol IntegerScalar: NumericScalar, FixedWidthInteger {}

extension NumericScalar where Self: FixedWidthInteger {
    static var zero: Self { 0 }
    static var one: Self { 1 }
    static var lowest: Self { .min }
    static var highest: Self { .max }
    init(double: Double) {
        let wide = truncatingToInt64(double)
        self = wide == Int64.min ? Self.min : Self(truncatingIfNeeded: wide)
    }
    var double: Double { Double(self) }
    @inline(__always) static func plus(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) static func minus(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) static func times(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) static func divided(_ a: Self, _ b: Self) -> Self {
        b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
    }
    static func remainder(_ a: Self, _ b: Self, fmod: Bool) -> Self {
        guard b != 0 else { return 0 }
        let r = a.remainderReportingOverflow(dividingBy: b).partialValue
        return fmod || r == 0 || (r < 0) == (b < 0) ? r : r &+ b
    }
    var isNaNValue: Bool { false }
}

extension Int64: IntegerScalar {}
extension Int32: IntegerScalar {}
extension Int8: IntegerScalar {}
extension UInt8: IntegerScalar {}

/// The numeric dtypes generic kernels accept.
let numericTypes: Set<DType> = [.float32, .float64, .int64, .int32, .int8, .uint8]
let floatTypes: Set<DType> = [.float32, .float64]
let signedTypes: Set<DType> = [.float32, .float64, .int64, .int32, .int8]

/// Calls the generic `body` with the Swift type of a numeric dtype.
protocol NumericVisitor {
    associatedtype Result
    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Result
}

/// Calls the generic `body` with the Swift type of a floating-point dtype.
protocol FloatVisitor {
    associatedtype Result
    func visit<T: FloatScalar>(_ type: T.Type) throws(EngineError) -> Result
}

extension NumericVisitor {
    func callAsFunction(_ dtype: DType) throws(EngineError) -> Result {
        switch dtype {
        case .float32: try self.visit(Float.self)
        case .float64: try self.visit(Double.self)
        case .int64: try self.visit(Int64.self)
        case .int32: try self.visit(Int32.self)
        case .int8: try self.visit(Int8.self)
        case .uint8, .bool: try self.visit(UInt8.self)
        default: throw EngineError(.unsupportedOperator, "element type \(dtype) is not supported here")
        }
    }
}

extension FloatVisitor {
    func callAsFunction(_ dtype: DType) throws(EngineError) -> Result {
        switch dtype {
        case .float32: try self.visit(Float.self)
        case .float64: try self.visit(Double.self)
        default: throw EngineError(.unsupportedOperator, "element type \(dtype) is not supported here")
        }
    }
}

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}

/// Calls `body` with each element's offset in a strided view of `shape`, in row-major order.
@inline(__always)
func forEachOffset(_ shape: [Int], _ strides: [Int], _ body: (_ position: Int, _ offset: Int) -> Void) {
    let count = shape.reduce(1, *)
    if count == 0 { return }
    let rank = shape.count
    if rank == 0 {
        body(0, 0)
        return
    }
    var index = [Int](repeating: 0, count: rank)
    var offset = 0
    let last = rank - 1
    let innerCount = shape[last]
    let innerStride = strides[last]
    var position = 0
    while position < count {
        for lane in 0..<innerCount { body(position + lane, offset + lane * innerStride) }
        position += innerCount
        var axis = last - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < shape[axis] { break }
            offset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
        if axis < 0 { break }
    }
}
