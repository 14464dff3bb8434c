import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Discrete Fourier transforms in doubles, straight from the definition: O(n²) per signal, which the lengths
/// of audio front ends (a few hundred points per frame) afford.
enum Fourier {
    /// The n-point transform of `count` complex values at `value(t)` (zero beyond them; truncated past n):
    /// unnormalized, with e^(−2πi kt/n) forward and e^(+2πi kt/n) inverse.
    static func transform(
        count: Int,
        n: Int,
        inverse: Bool,
        bins: Int,
        _ value: (Int) -> (Double, Double)
    ) -> [(Double, Double)] {
        let used = min(count, n)
        let signal = (0..<used).map(value)
        let sign = inverse ? 1.0 : -1.0
        var result = [(Double, Double)](repeating: (0, 0), count: bins)
        for k in 0..<bins {
            var (re, im) = (0.0, 0.0)
            for t in 0..<used {
                let angle = sign * 2 * Double.pi * Double((k * t) % n) / Double(n)
                let (c, s) = (cos(angle), sin(angle))
                re += signal[t].0 * c - signal[t].1 * s
                im += signal[t].0 * s + signal[t].1 * c
            }
            result[k] = (re, im)
        }
        return result
    }

    /// The real n-point signal whose one-sided spectrum is `count` values at `value(k)` (NumPy's irfft: the imaginary
    /// parts of the zero and Nyquist bins are ignored), normalized by 1/n.
    static func inverseReal(count: Int, n: Int, _ value: (Int) -> (Double, Double)) -> [Double] {
        let half = n / 2 + 1
        var spectrum = [(Double, Double)](repeating: (0, 0), count: n)
        for k in 0..<min(count, half) { spectrum[k] = value(k) }
        spectrum[0].1 = 0
        if n % 2 == 0 { spectrum[n / 2].1 = 0 }
        for k in 1..<max(n - n / 2, 1) { spectrum[n - k] = (spectrum[k].0, -spectrum[k].1) }
        let full = Self.transform(count: n, n: n, inverse: true, bins: n) { spectrum[$0] }
        return full.map { $0.0 / Double(n) }
    }
}

/// DFT: the transform along one axis of real ([..., 1]) or complex ([..., 2]) signals, forward or inverse, full or
/// one-sided, zero-padded or truncated to `dft_length`. Opset 17 names the axis in an attribute (default 1),
/// opset 20 in input 2 (default −2).
struct DFTOp: Operator {
    let attributeAxis: Int?
    let inverse: Bool
    let onesided: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        self.attributeAxis = attributes.version < 20 ? try attributes.int("axis", 1) : nil
        if attributes.version >= 20 && attributes.has("axis") {
            throw attributes.error("opset 20's DFT takes the axis as input 2, not an attribute")
        }
        self.inverse = try attributes.int("inverse", 0) != 0
        self.onesided = try attributes.int("onesided", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let rank = x.shape.count
        guard rank >= 2, let parts = x.shape.last, parts == 1 || parts == 2 else {
            throw context.error("the input must be [..., 1] (real) or [..., 2] (complex); it is \(x.shape)")
        }
        var axis = self.attributeAxis ?? -2
        if self.attributeAxis == nil, let given = try context.optionalConstant(2, "DFT's axis") {
            guard given.type.count == 1, let value = given.integers?.first else {
                throw context.error("axis must be one integer; it is \(given.type)")
            }
            axis = value
        }
        axis = try normalizeAxis(axis, rank: rank, context)
        guard axis < rank - 1 else { throw context.error("the axis may not be the last (real/imaginary) axis") }
        let length = x.shape[axis]
        var n = self.inverse && self.onesided ? 2 * (length - 1) : length
        if let given = try context.optionalConstant(1, "DFT's dft_length") {
            guard given.type.count == 1, let value = given.integers?.first else {
                throw context.error("dft_length must be one integer; it is \(given.type)")
            }
            n = value
        }
        guard n >= 1 else { throw context.error("the transform length must be positive; it is \(n)") }
        var shape = x.shape
        let realOutput = self.inverse && self.onesided
        shape[axis] = !self.inverse && self.onesided ? n / 2 + 1 : n
        shape[rank - 1] = realOutput ? 1 : 2
        let outer = x.shape.prefix(axis).reduce(1, *)
        let inner = x.shape[(axis + 1)..<(rank - 1)].reduce(1, *)
        let (outLength, dtype, inverse, points) = (shape[axis], x.dtype, self.inverse, n)
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: shape)],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for o in 0..<outer {
                    for i in 0..<inner {
                        func value(_ t: Int) -> (Double, Double) {
                            let base = ((o * length + t) * inner + i) * parts
                            return (
                                loadDouble(source, base, dtype), parts == 2 ? loadDouble(source, base + 1, dtype) : 0
                            )
                        }
                        let out = { (t: Int) in ((o * outLength + t) * inner + i) * (realOutput ? 1 : 2) }
                        if realOutput {
                            let signal = Fourier.inverseReal(count: length, n: points, value)
                            for (t, v) in signal.enumerated() { store(double: v, target, out(t), dtype) }
                            continue
                        }
                        let result = Fourier.transform(
                            count: length,
                            n: points,
                            inverse: inverse,
                            bins: outLength,
                            value
                        )
                        let scale = inverse ? 1 / Double(points) : 1
                        for (k, v) in result.enumerated() {
                            store(double: v.0 * scale, target, out(k), dtype)
                            store(double: v.1 * scale, target, out(k) + 1, dtype)
                        }
                    }
                }
            }
        )
    }
}

/// STFT: windowed frames of [batch, length, 1 or 2] signals every `frame_step` samples, each transformed
/// (one-sided by default) into [batch, frames, bins, 2].
struct STFTOp: Operator {
    let onesided: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        self.onesided = try attributes.int("onesided", 1) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        guard x.shape.count == 3, x.shape[2] == 1 || x.shape[2] == 2 else {
            throw context.error("the signal must be [batch, length, 1 or 2]; it is \(x.shape)")
        }
        let (batch, length, parts) = (x.shape[0], x.shape[1], x.shape[2])
        func integer(_ index: Int, _ name: String) throws(EngineError) -> Int? {
            guard let given = try context.optionalConstant(index, name) else { return nil }
            guard given.type.count == 1, let value = given.integers?.first else {
                throw context.error("\(name) must be one integer; it is \(given.type)")
            }
            return value
        }
        guard let step = try integer(1, "frame_step"), step >= 1 else {
            throw context.error("frame_step must be given and positive")
        }
        var windowLength: Int? = nil
        if context.has(2) {
            let window = try context.input(2, [x.dtype])
            guard window.shape.count == 1 else { throw context.error("the window must be 1-D; it is \(window.shape)") }
            windowLength = window.shape[0]
        }
        let frameLength = try integer(3, "frame_length") ?? windowLength ?? length
        guard frameLength >= 1, frameLength <= length else {
            throw context.error("frame_length \(frameLength) must be within 1...\(length) (the signal's length)")
        }
        if let windowLength, windowLength != frameLength {
            throw context.error("the window has \(windowLength) values; frame_length is \(frameLength)")
        }
        let frames = 1 + (length - frameLength) / step
        let bins = self.onesided ? frameLength / 2 + 1 : frameLength
        let dtype = x.dtype
        let windowed = windowLength != nil
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [batch, frames, bins, 2])],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                let window = (0..<frameLength).map { windowed ? loadDouble(io.input(2), $0, dtype) : 1 }
                for b in 0..<batch {
                    for frame in 0..<frames {
                        let result = Fourier.transform(count: frameLength, n: frameLength, inverse: false, bins: bins) {
                            let base = (b * length + frame * step + $0) * parts
                            let w = window[$0]
                            return (
                                loadDouble(source, base, dtype) * w,
                                parts == 2 ? loadDouble(source, base + 1, dtype) * w : 0
                            )
                        }
                        for (k, v) in result.enumerated() {
                            let out = ((b * frames + frame) * bins + k) * 2
                            store(double: v.0, target, out, dtype)
                            store(double: v.1, target, out + 1, dtype)
                        }
                    }
                }
            }
        )
    }
}

/// MelWeightMatrix: [dft_length/2 + 1, num_mel_bins] triangular filters spaced evenly on the mel scale between the
/// edge frequencies, to turn a one-sided spectrum into mel bands (the reference's integer bin rounding).
struct MelWeightMatrixOp: Operator {
    let dtype: DType

    init(_ attributes: Attributes) throws(EngineError) {
        let code = try attributes.int("output_datatype", 1)
        switch code {
        case 1, 10, 16: self.dtype = .float32  // float16 and bfloat16 compute in f32 like the rest of the graph
        case 11: self.dtype = .float64
        default: throw attributes.error("output_datatype \(code) is not a floating-point type the engine has")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        func scalar(_ index: Int, _ name: String) throws(EngineError) -> Double {
            try scalarInput(context, index, "MelWeightMatrix's \(name)")
        }
        let counts = (try scalar(0, "num_mel_bins"), try scalar(1, "dft_length"), try scalar(2, "sample_rate"))
        let (lower, upper) = (try scalar(3, "lower_edge_hertz"), try scalar(4, "upper_edge_hertz"))
        guard counts.0 >= 1, counts.0 < 65536, counts.1 >= 1, counts.1 < 16_777_216, counts.2 >= 1, counts.2 < 4e9,
            lower >= 0, upper > lower, upper < 1e12
        else {
            throw context.error(
                "needs num_mel_bins, dft_length and sample_rate ≥ 1 and 0 ≤ lower_edge_hertz < upper_edge_hertz"
            )
        }
        let (bands, length, rate) = (Int(counts.0), Int(counts.1), Int(counts.2))
        let spectrum = length / 2 + 1
        let mel = { (hertz: Double) in 2595 * log1p(hertz / 700) / log(10.0) }
        let (low, high) = (mel(lower), mel(upper))
        let step = (high - low) / Double(bands + 2)
        let edges = (0..<(bands + 2)).map { index -> Int in
            let hertz = 700 * expm1((Double(index) * step + low) / 2595 * log(10.0))
            return Int((Double(length + 1) * hertz / Double(rate)).rounded(.down))
        }
        var weights = [Double](repeating: 0, count: spectrum * bands)
        for band in 0..<bands {
            let (left, center, right) = (edges[band], edges[band + 1], edges[band + 2])
            guard left >= 0, center < spectrum, right <= spectrum else {
                throw context.error(
                    "the mel filters reach past the spectrum's \(spectrum) bins (upper_edge_hertz too high)"
                )
            }
            if center == left {
                weights[center * bands + band] = 1
            } else {
                for bin in left...center {
                    weights[bin * bands + band] = Double(bin - left) / Double(center - left)
                }
            }
            if right > center {
                for bin in center..<right {
                    weights[bin * bands + band] = Double(right - bin) / Double(right - center)
                }
            }
        }
        let dtype = self.dtype
        let values = weights
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [spectrum, bands])],
            kernel: { io in
                for (index, value) in values.enumerated() { store(double: value, io.output(0), index, dtype) }
            }
        )
    }
}
