#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The score transforms of the ai.onnx.ml operators, in single precision and in the same order of operations as
// onnxruntime, so that probabilities agree to rounding and labels exactly.

@inline(__always)
func mlLogistic(_ value: Float) -> Float {
    let v = 1 / (1 + expf(-abs(value)))
    return value < 0 ? 1 - v : v
}

/// The inverse error function's approximation onnxruntime uses (Winitzki, a = 0.147).
@inline(__always)
func mlErfInv(_ value: Float) -> Float {
    let sign: Float = value < 0 ? -1 : 1
    let x = (1 - value) * (1 + value)
    let log = logf(x)
    let v = 2 / (Float.pi * 0.147) + 0.5 * log
    let v2 = 1 / Float(0.147) * log
    let v3 = -v + (v * v - v2).squareRoot()
    return sign * v3.squareRoot()
}

@inline(__always)
func mlProbit(_ value: Float) -> Float { Float(2).squareRoot() * mlErfInv(2 * value - 1) }

/// Softmax over `count` floats in place.
func mlSoftmax(_ values: UnsafeMutablePointer<Float>, _ count: Int) {
    var largest = -Float.greatestFiniteMagnitude
    for index in 0..<count where values[index] > largest { largest = values[index] }
    var sum: Float = 0
    for index in 0..<count {
        values[index] = expf(values[index] - largest)
        sum += values[index]
    }
    for index in 0..<count { values[index] /= sum }
}

/// Softmax that leaves zero scores at (nearly) zero: a class no tree voted for keeps no probability.
func mlSoftmaxZero(_ values: UnsafeMutablePointer<Float>, _ count: Int) {
    var largest = -Float.greatestFiniteMagnitude
    for index in 0..<count where values[index] > largest { largest = values[index] }
    let scale = expf(-largest)
    var sum: Float = 0
    for index in 0..<count {
        let value = values[index]
        if value > 0.0000001 || value < -0.0000001 {
            values[index] = expf(value - largest)
            sum += values[index]
        } else {
            values[index] = value * scale
        }
    }
    for index in 0..<count { values[index] /= sum }
}

/// Applies a post transform to a row of two or more scores.
func mlTransform(_ transform: PostTransform, _ values: UnsafeMutablePointer<Float>, _ count: Int) {
    switch transform {
    case .none: break
    case .logistic: for index in 0..<count { values[index] = mlLogistic(values[index]) }
    case .probit: for index in 0..<count { values[index] = mlProbit(values[index]) }
    case .softmax: mlSoftmax(values, count)
    case .softmaxZero: mlSoftmaxZero(values, count)
    }
}
