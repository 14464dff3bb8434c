import CEngineKernels
import SwitchyardTensor

/// Elementwise functions of one input: math, activations, predicates.
struct UnaryOp: Operator {
    enum Kind: Sendable {
        case abs, neg, sign, sqrt, exp, log, reciprocal, floor, ceil, round
        case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh
        case erf, softsign, softplus, mish, hardSwish
        case elu(Float)
        case celu(Float)
        case selu(alpha: Float, gamma: Float)
        case thresholdedRelu(Float)
        case hardSigmoid(alpha: Float, beta: Float)
        case gelu(tanh: Bool)
        case shrink(bias: Float, lambda: Float)
        case swish(Float)
        case relu
        case leakyRelu(Float)
        case sigmoid, tanh
        case clip(Double, Double)
    }

    var kind: Kind

    /// The types each kind accepts: the float functions take f32 and f64; the sign family also integers.
    private var types: Set<DType> {
        switch self.kind {
        case .abs, .sign, .relu, .clip: numericTypes
        case .neg: signedTypes
        default: floatTypes
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, self.types)
        let kernel = try UnaryKernel(kind: self.kind, count: x.count)(x.dtype)
        return OpPlan(outputs: [x], kernel: kernel, inPlace: 0)
    }
}

/// Applies `f` to `count` elements of input 0 into output 0 (which may be the same buffer).
@inline(__always)
func mapElements<T, U>(_ io: IO, _ count: Int, _ f: (T) -> U) {
    let x = io.input(0).assumingMemoryBound(to: T.self)
    let y = io.output(0).assumingMemoryBound(to: U.self)
    Parallel.forEach(count, minimumPerThread: Parallel.elementGrain) { range in
        for index in range { y[index] = f(x[index]) }
    }
}

/// A C kernel over `count` floats, split across threads for large counts.
@inline(__always)
func mapFloats(
    _ io: IO,
    _ count: Int,
    _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int64) -> Void
) {
    let (x, y) = (io.f32(0), io.outF32(0))
    Parallel.forEach(count, minimumPerThread: Parallel.elementGrain) { range in
        kernel(x + range.lowerBound, y + range.lowerBound, Int64(range.count))
    }
}

private struct UnaryKernel: NumericVisitor {
    var kind: UnaryOp.Kind
    var count: Int

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let count = self.count
        switch self.kind {
        case .abs: return { io in mapElements(io, count) { (x: T) in x < T.zero ? T.minus(T.zero, x) : x } }
        case .neg: return { io in mapElements(io, count) { (x: T) in T.minus(T.zero, x) } }
        case .sign:
            return { io in
                mapElements(io, count) { (x: T) in x > T.zero ? T.one : (x < T.zero ? T.minus(T.zero, T.one) : x) }
            }
        case .relu: return { io in mapElements(io, count) { (x: T) in x < T.zero ? T.zero : x } }
        case .clip(let low, let high):
            let (lo, hi) = (T(double: max(low, T.lowest.double)), T(double: min(high, T.highest.double)))
            // When min > max every value becomes max, as the specification says.
            return { io in
                mapElements(io, count) { (x: T) in
                    let raised = x < lo ? lo : x
                    return raised > hi ? hi : raised
                }
            }
        default:
            guard let float = T.self as? any FloatScalar.Type else {
                throw EngineError(.unsupportedOperator, "\(self.kind) needs floating-point input")
            }
            return Self.floatKernel(float, self.kind, count)
        }
    }

    private static func floatKernel<T: FloatScalar>(_ type: T.Type, _ kind: UnaryOp.Kind, _ count: Int) -> Kernel {
        switch kind {
        case .sqrt: return { io in mapElements(io, count) { (x: T) in x.squareRoot() } }
        case .exp: return { io in mapElements(io, count) { (x: T) in T.exponential(x) } }
        case .log: return { io in mapElements(io, count) { (x: T) in T.logarithm(x) } }
        case .reciprocal: return { io in mapElements(io, count) { (x: T) in 1 / x } }
        case .floor: return { io in mapElements(io, count) { (x: T) in x.rounded(.down) } }
        case .ceil: return { io in mapElements(io, count) { (x: T) in x.rounded(.up) } }
        case .round: return { io in mapElements(io, count) { (x: T) in x.rounded(.toNearestOrEven) } }
        case .sin: return { io in mapElements(io, count) { (x: T) in T.sine(x) } }
        case .cos: return { io in mapElements(io, count) { (x: T) in T.cosine(x) } }
        case .tan: return { io in mapElements(io, count) { (x: T) in T.tangent(x) } }
        case .asin: return { io in mapElements(io, count) { (x: T) in T.arcsine(x) } }
        case .acos: return { io in mapElements(io, count) { (x: T) in T.arccosine(x) } }
        case .atan: return { io in mapElements(io, count) { (x: T) in T.arctangent(x) } }
        case .sinh: return { io in mapElements(io, count) { (x: T) in T.hyperbolicSine(x) } }
        case .cosh: return { io in mapElements(io, count) { (x: T) in T.hyperbolicCosine(x) } }
        case .asinh: return { io in mapElements(io, count) { (x: T) in T.areaSine(x) } }
        case .acosh: return { io in mapElements(io, count) { (x: T) in T.areaCosine(x) } }
        case .atanh: return { io in mapElements(io, count) { (x: T) in T.areaTangent(x) } }
        case .erf:
            if T.self == Float.self { return { io in mapFloats(io, count, sy_erf) } }
            return { io in mapElements(io, count) { (x: T) in T.errorFunction(x) } }
        case .tanh: return { io in mapElements(io, count) { (x: T) in T.hyperbolicTangent(x) } }
        case .sigmoid:
            return { io in
                mapElements(io, count) { (x: T) in
                    x >= 0 ? 1 / (1 + T.exponential(-x)) : T.exponential(x) / (1 + T.exponential(x))
                }
            }
        case .softsign: return { io in mapElements(io, count) { (x: T) in x / (1 + Swift.abs(x)) } }
        case .softplus:
            // log(1 + e^x) without overflow for large x.
            return { io in
                mapElements(io, count) { (x: T) in
                    x > 0 ? x + T.logOnePlus(T.exponential(-x)) : T.logOnePlus(T.exponential(x))
                }
            }
        case .mish:
            return { io in
                mapElements(io, count) { (x: T) in
                    let softplus = x > 0 ? x + T.logOnePlus(T.exponential(-x)) : T.logOnePlus(T.exponential(x))
                    return x * T.hyperbolicTangent(softplus)
                }
            }
        case .hardSwish:
            return { io in mapElements(io, count) { (x: T) in x * Swift.max(0, Swift.min(1, x / 6 + 0.5)) } }
        case .hardSigmoid(let alpha, let beta):
            let (a, b) = (T(alpha), T(beta))
            return { io in mapElements(io, count) { (x: T) in Swift.max(0, Swift.min(1, a * x + b)) } }
        case .elu(let alpha):
            let a = T(alpha)
            return { io in mapElements(io, count) { (x: T) in x < 0 ? a * (T.exponential(x) - 1) : x } }
        case .celu(let alpha):
            let a = T(alpha)
            return { io in
                mapElements(io, count) { (x: T) in Swift.max(0, x) + Swift.min(0, a * (T.exponential(x / a) - 1)) }
            }
        case .selu(let alpha, let gamma):
            let (a, g) = (T(alpha), T(gamma))
            return { io in
                mapElements(io, count) { (x: T) in x <= 0 ? g * (a * T.exponential(x) - a) : g * x }
            }
        case .thresholdedRelu(let alpha):
            let a = T(alpha)
            return { io in mapElements(io, count) { (x: T) in x > a ? x : 0 } }
        case .leakyRelu(let alpha):
            let a = T(alpha)
            return { io in mapElements(io, count) { (x: T) in x < 0 ? x * a : x } }
        case .gelu(let approximate):
            if approximate {
                let c = T(0.7978845608028654)  // √(2/π)
                return { io in
                    mapElements(io, count) { (x: T) in
                        x * 0.5 * (1 + T.hyperbolicTangent(c * (x + 0.044715 * x * x * x)))
                    }
                }
            }
            if T.self == Float.self { return { io in mapFloats(io, count, sy_gelu) } }
            let r = T(0.7071067811865476)  // 1/√2
            return { io in mapElements(io, count) { (x: T) in x * 0.5 * (1 + T.errorFunction(x * r)) } }
        case .shrink(let bias, let lambda):
            let (b, l) = (T(bias), T(lambda))
            return { io in mapElements(io, count) { (x: T) in x < -l ? x + b : (x > l ? x - b : 0) } }
        case .swish(let alpha):
            let a = T(alpha)
            return { io in mapElements(io, count) { (x: T) in x / (1 + T.exponential(-a * x)) } }
        default:
            return { _ in }
        }
    }
}

/// IsNaN and IsInf: a bool per element.
struct FloatPredicateOp: Operator {
    enum Kind: Sendable {
        case isNaN
        case isInf(positive: Bool, negative: Bool)
    }
    var kind: Kind

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let output = ValueType(dtype: .bool, shape: x.shape)
        let (count, kind) = (x.count, self.kind)
        func kernel<T: FloatScalar>(_ type: T.Type) -> Kernel {
            switch kind {
            case .isNaN: return { io in mapElements(io, count) { (x: T) in x.isNaN } }
            case .isInf(let positive, let negative):
                return { io in
                    mapElements(io, count) { (x: T) in x.isInfinite && ((x > 0 && positive) || (x < 0 && negative)) }
                }
            }
        }
        return OpPlan(outputs: [output], kernel: x.dtype == .float32 ? kernel(Float.self) : kernel(Double.self))
    }
}

/// Not (bool) and BitwiseNot (integers).
struct NotOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.bool, .uint8, .int8, .int32, .int64])
        let count = x.count
        let kernel: Kernel
        switch x.dtype {
        case .bool: kernel = { io in mapElements(io, count) { (x: UInt8) -> UInt8 in x == 0 ? 1 : 0 } }
        case .uint8: kernel = { io in mapElements(io, count) { (x: UInt8) in ~x } }
        case .int8: kernel = { io in mapElements(io, count) { (x: Int8) in ~x } }
        case .int32: kernel = { io in mapElements(io, count) { (x: Int32) in ~x } }
        default: kernel = { io in mapElements(io, count) { (x: Int64) in ~x } }
        }
        return OpPlan(outputs: [x], kernel: kernel, inPlace: 0)
    }
}
