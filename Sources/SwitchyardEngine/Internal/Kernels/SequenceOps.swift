import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// HannWindow, HammingWindow and BlackmanWindow of the length in input 0 (periodic or symmetric).
struct WindowOp: Operator {
    enum Kind: Sendable { case hann, hamming, blackman }
    var kind: Kind
    var periodic: Bool
    var dtype: DType

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let size = Int(try scalarInput(context, 0, "the window size"))
        guard size >= 0, size <= 1 << 28 else { throw context.error("window size \(size) is out of range") }
        let denominator = Double(self.periodic ? size : size - 1)
        let (kind, dtype) = (self.kind, self.dtype)
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [size])],
            kernel: { io in
                for n in 0..<size {
                    let angle = 2 * Double.pi * Double(n) / denominator
                    let value: Double
                    switch kind {
                    case .hann: value = 0.5 - 0.5 * cos(angle)
                    case .hamming: value = 25.0 / 46 - 21.0 / 46 * cos(angle)
                    case .blackman: value = 0.42 - 0.5 * cos(angle) + 0.08 * cos(2 * angle)
                    }
                    if dtype.isFloatingPoint {
                        store(double: value, io.output(0), n, dtype)
                    } else {
                        store(integer: Int64(value), io.output(0), n, dtype)
                    }
                }
            })
    }
}

/// LRN: each value divided by (bias + α/size · Σ x² over `size` neighbouring channels)^β.
struct LRNOp: Operator {
    var size: Int
    var alpha: Float
    var beta: Float
    var bias: Float

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count >= 2, self.size >= 1 else { throw context.error("expected N×C×... and size ≥ 1") }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let plane = x.shape.dropFirst(2).reduce(1, *)
        let (size, alpha, beta, bias) = (self.size, self.alpha, self.beta, self.bias)
        let before = (size - 1) / 2
        let after = size - 1 - before
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                for n in 0..<batch {
                    for c in 0..<channels {
                        for p in 0..<plane {
                            var sum: Float = 0
                            for i in max(0, c - before)...min(channels - 1, c + after) {
                                let v = input[(n * channels + i) * plane + p]
                                sum += v * v
                            }
                            let at = (n * channels + c) * plane + p
                            y[at] = input[at] / powf(bias + alpha / Float(size) * sum, beta)
                        }
                    }
                }
            })
    }
}

/// MeanVarianceNormalization: (x − mean) / (√variance + 1e-9) over `axes`, as the function body computes.
struct MeanVarianceNormOp: Operator {
    var axes: [Int]

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let rank = x.shape.count
        var reduced = Set<Int>()
        for axis in self.axes { reduced.insert(try normalizeAxis(axis, rank: rank, context)) }
        let strides = contiguousStrides(x.shape)
        let kept = (0..<rank).filter { !reduced.contains($0) }
        let over = (0..<rank).filter { reduced.contains($0) }
        let layout = ReduceLayout(
            keptShape: kept.map { x.shape[$0] }, keptStrides: kept.map { strides[$0] },
            reducedShape: over.map { x.shape[$0] }, reducedStrides: over.map { strides[$0] })
        let (dtype, n) = (x.dtype, Double(max(layout.reducedCount, 1)))
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                forEachOffset(layout.keptShape, layout.keptStrides) { _, base in
                    var sum = 0.0
                    var squares = 0.0
                    forEachOffset(layout.reducedShape, layout.reducedStrides) { _, offset in
                        let v = loadDouble(source, base + offset, dtype)
                        sum += v
                        squares += v * v
                    }
                    let mean = sum / n
                    let deviation = max(squares / n - mean * mean, 0).squareRoot() + 1e-9
                    forEachOffset(layout.reducedShape, layout.reducedStrides) { _, offset in
                        store(double: (loadDouble(source, base + offset, dtype) - mean) / deviation, target, base + offset, dtype)
                    }
                }
            })
    }
}

/// ReverseSequence: the first `sequence_lens[b]` steps of each batch entry reversed along the time axis.
struct ReverseSequenceOp: Operator {
    var batchAxis: Int
    var timeAxis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        _ = try context.input(1, [.int64, .int32])
        guard x.shape.count >= 2, Set([self.batchAxis, self.timeAxis]) == Set([0, 1]) else {
            throw context.error("batch_axis and time_axis must be 0 and 1")
        }
        let strides = contiguousStrides(x.shape)
        let (batchAxis, timeAxis, shape) = (self.batchAxis, self.timeAxis, x.shape)
        let width = x.dtype.byteWidth ?? 1
        let wide = context.inputs[1]!.dtype == .int64
        let inner = x.shape.dropFirst(2).reduce(1, *) * width
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for b in 0..<shape[batchAxis] {
                    let length = min(max(loadIndex(io.input(1), b, wide: wide), 0), shape[timeAxis])
                    for t in 0..<shape[timeAxis] {
                        let from = t < length ? length - 1 - t : t
                        let to = b * strides[batchAxis] + t * strides[timeAxis]
                        let at = b * strides[batchAxis] + from * strides[timeAxis]
                        (target + to * width).copyMemory(from: source + at * width, byteCount: inner)
                    }
                }
            })
    }
}

/// CenterCropPad: each listed axis cropped or zero-padded to the target size around its centre.
struct CenterCropPadOp: Operator {
    var axes: [Int]?

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let target = try integerInput(context, 1, "CenterCropPad's shape")
        let rank = x.shape.count
        let axes = try (self.axes ?? Array(0..<rank)).map { value throws(EngineError) in
            try normalizeAxis(value, rank: rank, context)
        }
        guard target.count == axes.count, target.allSatisfy({ $0 >= 0 }) else {
            throw context.error("shape \(target) must give one size per axis")
        }
        var shape = x.shape
        var offsets = [Int](repeating: 0, count: rank)  // output index − input index per axis
        for (index, axis) in axes.enumerated() {
            let (dim, size) = (x.shape[axis], target[index])
            shape[axis] = size
            offsets[axis] = size >= dim ? (size - dim) / 2 : -((dim - size) / 2)
        }
        let inStrides = contiguousStrides(x.shape)
        let width = x.dtype.byteWidth ?? 1
        let (inShape, outShape, shifts) = (x.shape, shape, offsets)
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let (shape, offsets) = (outShape, shifts)
                let (source, output) = (io.input(0), io.output(0))
                var position = 0
                forEachIndex(shape) { index in
                    var at = 0
                    var inside = true
                    for axis in 0..<rank {
                        let i = index[axis] - offsets[axis]
                        if i < 0 || i >= inShape[axis] {
                            inside = false
                            break
                        }
                        at += i * inStrides[axis]
                    }
                    if inside {
                        (output + position * width).copyMemory(from: source + at * width, byteCount: width)
                    } else {
                        (output + position * width).initializeMemory(as: UInt8.self, repeating: 0, count: width)
                    }
                    position += 1
                }
            })
    }
}

/// SwiGLU: a · sigmoid(α·a) · b for two inputs of the same shape.
struct SwiGLUOp: Operator {
    var alpha: Float

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, floatTypes)
        let b = try context.input(1, [a.dtype])
        guard a.shape == b.shape else { throw context.error("A \(a.shape) and B \(b.shape) must have the same shape") }
        let (count, alpha, dtype) = (a.count, Double(self.alpha), a.dtype)
        return OpPlan(
            outputs: [a],
            kernel: { io in
                for index in 0..<count {
                    let x = loadDouble(io.input(0), index, dtype)
                    let gate = dtype == .float32 ? Double(Float(1 / (1 + exp(-alpha * x)))) : 1 / (1 + exp(-alpha * x))
                    store(double: x * gate * loadDouble(io.input(1), index, dtype), io.output(0), index, dtype)
                }
            })
    }
}

/// RotaryEmbedding (opset 23): rotates the first `rotary_embedding_dim` features of each head by the cached
/// cos and sin of its position, in halves or interleaved pairs.
struct RotaryEmbeddingOp: Operator {
    var interleaved: Bool
    var rotaryDim: Int
    var heads: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let cosine = try context.input(1, [x.dtype])
        _ = try context.input(2, [x.dtype])
        let rank = x.shape.count
        guard rank == 3 || rank == 4 else { throw context.error("input must be 3-D or 4-D") }
        let batch = x.shape[0]
        let (heads, sequence, headSize): (Int, Int, Int)
        if rank == 4 {
            (heads, sequence, headSize) = (x.shape[1], x.shape[2], x.shape[3])
        } else {
            guard self.heads > 0, x.shape[2] % self.heads == 0 else { throw context.error("3-D input needs num_heads") }
            (heads, sequence, headSize) = (self.heads, x.shape[1], x.shape[2] / self.heads)
        }
        let rotary = self.rotaryDim == 0 ? headSize : self.rotaryDim
        let half = rotary / 2
        guard rotary <= headSize, cosine.shape.last == half else {
            throw context.error("the caches' last dimension must be rotary_embedding_dim / 2 = \(half)")
        }
        let hasPositions = context.has(3)
        if hasPositions { _ = try context.input(3, [.int64]) }
        let (interleaved, dtype) = (self.interleaved, x.dtype)
        return OpPlan(
            outputs: [x],
            kernel: { io throws(EngineError) in
                let (source, target) = (io.input(0), io.output(0))
                for b in 0..<batch {
                    for s in 0..<sequence {
                        var row = b * sequence + s
                        if hasPositions {
                            row = Int(loadInteger(io.input(3), b * sequence + s, .int64))
                            guard row >= 0 && row < cosine.shape[0] else {
                                throw EngineError(.invalidInput, "position id \(row) is outside the caches")
                            }
                        }
                        for h in 0..<heads {
                            let base = rank == 4 ? ((b * heads + h) * sequence + s) * headSize : (b * sequence + s) * heads * headSize + h * headSize
                            for d in 0..<headSize where d >= rotary {
                                store(double: loadDouble(source, base + d, dtype), target, base + d, dtype)
                            }
                            for i in 0..<half {
                                let c = loadDouble(io.input(1), row * half + i, dtype)
                                let sn = loadDouble(io.input(2), row * half + i, dtype)
                                let (first, second) = interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + half + i)
                                let (x1, x2) = (loadDouble(source, first, dtype), loadDouble(source, second, dtype))
                                store(double: c * x1 - sn * x2, target, first, dtype)
                                store(double: sn * x1 + c * x2, target, second, dtype)
                            }
                        }
                    }
                }
            })
    }
}
