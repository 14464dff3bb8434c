import SwitchyardTensor

/// The reduce family: axes from the attribute (before the version that made them an input) or input 1,
/// `keepdims`, and `noop_with_empty_axes`.
struct ReduceOp: Operator {
    enum Kind: Sendable { case sum, mean, max, min, prod, l1, l2, logSum, logSumExp, sumSquare }
    var kind: Kind
    var keepDims: Bool
    var attributeAxes: [Int]?
    var noopWithEmptyAxes: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes.union([.bool]))
        let rank = x.shape.count
        var axes = self.attributeAxes
        if axes == nil, context.has(1) { axes = try integerInput(context, 1, "axes") }
        if axes?.isEmpty ?? true {
            if self.noopWithEmptyAxes { return OpPlan(outputs: [x], kernel: { _ in }, alias: 0) }
            axes = Array(0..<rank)
        }
        var reduced = Set<Int>()
        for axis in axes! { reduced.insert(try normalizeAxis(axis, rank: rank, context)) }
        var shape: [Int] = []
        for axis in 0..<rank {
            if reduced.contains(axis) {
                if self.keepDims { shape.append(1) }
            } else {
                shape.append(x.shape[axis])
            }
        }
        let strides = contiguousStrides(x.shape)
        let keptAxes = (0..<rank).filter { !reduced.contains($0) }
        let reducedAxes = (0..<rank).filter { reduced.contains($0) }
        let layout = ReduceLayout(
            keptShape: keptAxes.map { x.shape[$0] },
            keptStrides: keptAxes.map { strides[$0] },
            reducedShape: reducedAxes.map { x.shape[$0] },
            reducedStrides: reducedAxes.map { strides[$0] }
        )
        let kernel = try ReduceKernel(kind: self.kind, layout: layout)(x.dtype == .bool ? .uint8 : x.dtype)
        return OpPlan(outputs: [ValueType(dtype: x.dtype, shape: shape)], kernel: kernel)
    }
}

/// Kept and reduced axes of a reduction as two strided views.
struct ReduceLayout: Sendable {
    var keptShape: [Int]
    var keptStrides: [Int]
    var reducedShape: [Int]
    var reducedStrides: [Int]

    var reducedCount: Int { self.reducedShape.reduce(1, *) }
    /// The reduced elements are one contiguous run after each kept offset.
    var reducedIsContiguous: Bool {
        var expected = 1
        for axis in stride(from: self.reducedShape.count - 1, through: 0, by: -1) {
            if self.reducedShape[axis] != 1 && self.reducedStrides[axis] != expected { return false }
            expected *= self.reducedShape[axis]
        }
        return true
    }
}

private struct ReduceKernel: NumericVisitor {
    var kind: ReduceOp.Kind
    var layout: ReduceLayout

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let (kind, layout) = (self.kind, self.layout)
        let n = layout.reducedCount
        let contiguous = layout.reducedIsContiguous
        return { io in
            let x = io.input(0).assumingMemoryBound(to: T.self)
            let y = io.output(0).assumingMemoryBound(to: T.self)
            forEachOffset(layout.keptShape, layout.keptStrides) { position, base in
                let start = x + base
                y[position] = Self.reduce(kind, n) { body in
                    if contiguous {
                        for index in 0..<n { body(start[index]) }
                    } else {
                        forEachOffset(layout.reducedShape, layout.reducedStrides) { _, offset in body(start[offset]) }
                    }
                }
            }
        }
    }

    /// Reduces the values `each` yields; accumulation is in Double for floats, wrapping for integers.
    @inline(__always)
    private static func reduce<T: NumericScalar>(_ kind: ReduceOp.Kind, _ n: Int, _ each: ((T) -> Void) -> Void) -> T {
        switch kind {
        case .max:
            var best = T.lowest
            var sawNaN = false
            each { value in
                if value.isNaNValue { sawNaN = true } else if value > best { best = value }
            }
            return sawNaN ? T(double: .nan) : best
        case .min:
            var best = T.highest
            var sawNaN = false
            each { value in
                if value.isNaNValue { sawNaN = true } else if value < best { best = value }
            }
            return sawNaN ? T(double: .nan) : best
        case .prod:
            var product = T.one
            each { product = T.times(product, $0) }
            return product
        case .logSumExp:
            var values: [Double] = []
            values.reserveCapacity(n)
            each { values.append($0.double) }
            guard let largest = values.max(), largest.isFinite else {
                return T(double: values.isEmpty ? -.infinity : values.reduce(0, +))
            }
            var sum = 0.0
            for value in values { sum += Double.exponential(value - largest) }
            return T(double: largest + Double.logarithm(sum))
        default:
            if T.self == Int64.self || T.self == Int32.self {
                var total = T.zero
                each { value in
                    switch kind {
                    case .l1: total = T.plus(total, value < T.zero ? T.minus(T.zero, value) : value)
                    case .sumSquare, .l2: total = T.plus(total, T.times(value, value))
                    default: total = T.plus(total, value)
                    }
                }
                switch kind {
                case .mean: return n == 0 ? T.zero : T.divided(total, T(double: Double(n)))
                case .l2: return T(double: total.double.squareRoot())
                case .logSum: return T(double: Double.logarithm(total.double))
                default: return total
                }
            }
            var total = 0.0
            each { value in
                let v = value.double
                switch kind {
                case .l1: total += Swift.abs(v)
                case .sumSquare, .l2: total += v * v
                default: total += v
                }
            }
            switch kind {
            case .mean: return T(double: n == 0 ? .nan : total / Double(n))
            case .l2: return T(double: total.squareRoot())
            case .logSum: return T(double: Double.logarithm(total))
            default: return T(double: total)
            }
        }
    }
}

/// LayerNormalization (17), RMSNormalization (23): normalize over the axes from `axis` on, then scale (and shift).
struct LayerNormOp: Operator {
    var axis: Int
    var epsilon: Float
    var rms: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let scale = try context.input(1, [x.dtype])
        let rank = x.shape.count
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        let outer = x.shape.prefix(axis).reduce(1, *)
        let inner = x.shape.suffix(from: axis).reduce(1, *)
        let normalized = Array(x.shape.suffix(from: axis))
        func strides(_ index: Int) throws(EngineError) -> [Int]? {
            guard context.has(index) else { return nil }
            let type = try context.input(index, [x.dtype])
            guard let shape = broadcastShapes(normalized, type.shape), shape == normalized else {
                throw context.error("input \(index) \(type.shape) does not broadcast to \(normalized)")
            }
            return broadcastStrides(type.shape, to: normalized)
        }
        _ = scale
        let scaleStrides = try strides(1)!
        let biasStrides = self.rms ? nil : try strides(2)
        var statsShape = Array(x.shape.prefix(axis)) + Array(repeating: 1, count: rank - axis)
        if rank == 0 { statsShape = [] }
        let outputs = [x, ValueType(dtype: x.dtype, shape: statsShape), ValueType(dtype: x.dtype, shape: statsShape)]
        let (epsilon, rms) = (Double(self.epsilon), self.rms)
        let scaleIsDense = scaleStrides == contiguousStrides(normalized)
        let biasIsDense = biasStrides == nil || biasStrides! == contiguousStrides(normalized)
        func kernel<T: FloatScalar>(_ type: T.Type) -> Kernel {
            { io in
                let input = io.input(0).assumingMemoryBound(to: T.self)
                let y = io.output(0).assumingMemoryBound(to: T.self)
                let gamma = io.input(1).assumingMemoryBound(to: T.self)
                let beta = biasStrides == nil ? nil : io.input(2).assumingMemoryBound(to: T.self)
                // Scale and bias spread to one row.
                var scaleRow = [T](repeating: 0, count: inner)
                var biasRow = [T](repeating: 0, count: inner)
                if !scaleIsDense || !biasIsDense {
                    forEachOffset(normalized, scaleStrides) { position, offset in scaleRow[position] = gamma[offset] }
                    if let beta, let biasStrides {
                        forEachOffset(normalized, biasStrides) { position, offset in biasRow[position] = beta[offset] }
                    }
                }
                let mean = io.outs.count > 1 && io.outs[1] >= 0 ? io.output(1).assumingMemoryBound(to: T.self) : nil
                let invStd = io.outs.count > 2 && io.outs[2] >= 0 ? io.output(2).assumingMemoryBound(to: T.self) : nil
                scaleRow.withUnsafeBufferPointer { scaleBuffer in
                    biasRow.withUnsafeBufferPointer { biasBuffer in
                        let g = scaleIsDense ? gamma : scaleBuffer.baseAddress!
                        let b = biasIsDense ? beta : biasBuffer.baseAddress!
                        let grain = max(1, Parallel.elementGrain / max(inner, 1))
                        Parallel.forEach(outer, minimumPerThread: grain) { rows in
                            for row in rows {
                                let line = input + row * inner
                                let out = y + row * inner
                                var sum = 0.0
                                var squares = 0.0
                                for index in 0..<inner {
                                    let value = line[index].double
                                    sum += value
                                    squares += value * value
                                }
                                let mu = rms ? 0 : sum / Double(inner)
                                let variance = rms ? squares / Double(inner) : max(squares / Double(inner) - mu * mu, 0)
                                let inverse = 1 / (variance + epsilon).squareRoot()
                                let (m, s) = (T(mu), T(inverse))
                                if let b {
                                    for index in 0..<inner { out[index] = (line[index] - m) * s * g[index] + b[index] }
                                } else {
                                    for index in 0..<inner { out[index] = (line[index] - m) * s * g[index] }
                                }
                                mean?[row] = m
                                invStd?[row] = s
                            }
                        }
                    }
                }
            }
        }
        return OpPlan(outputs: outputs, kernel: x.dtype == .float32 ? kernel(Float.self) : kernel(Double.self))
    }
}

/// InstanceNormalization and GroupNormalization: normalize each (image, group) over its channels' planes.
struct GroupNormOp: Operator {
    /// `nil` for InstanceNormalization (one group per channel).
    var groups: Int?
    var epsilon: Float
    /// GroupNormalization before opset 21 takes one scale and bias per group, later per channel.
    var perGroupParameters: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        guard x.shape.count >= 2 else { throw context.error("expected N×C×..., got \(x.shape)") }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let groups = self.groups ?? channels
        guard groups >= 1, channels % groups == 0 else {
            throw context.error("\(channels) channels do not split into \(groups) groups")
        }
        let parameterCount = self.perGroupParameters ? groups : channels
        for index in [1, 2] {
            let type = try context.input(index, [x.dtype])
            guard type.count == parameterCount else {
                throw context.error("input \(index) has \(type.count) values, expected \(parameterCount)")
            }
        }
        let plane = x.shape.dropFirst(2).reduce(1, *)
        let perGroup = channels / groups
        let (epsilon, perGroupParameters) = (Double(self.epsilon), self.perGroupParameters)
        func kernel<T: FloatScalar>(_ type: T.Type) -> Kernel {
            { io in
                let input = io.input(0).assumingMemoryBound(to: T.self)
                let y = io.output(0).assumingMemoryBound(to: T.self)
                let scale = io.input(1).assumingMemoryBound(to: T.self)
                let bias = io.input(2).assumingMemoryBound(to: T.self)
                let span = perGroup * plane
                for image in 0..<batch {
                    for group in 0..<groups {
                        let start = (image * channels + group * perGroup) * plane
                        var sum = 0.0
                        for index in 0..<span { sum += input[start + index].double }
                        let mean = sum / Double(max(span, 1))
                        var squares = 0.0
                        for index in 0..<span {
                            let d = input[start + index].double - mean
                            squares += d * d
                        }
                        let inverse = 1 / (squares / Double(max(span, 1)) + epsilon).squareRoot()
                        for channel in 0..<perGroup {
                            let parameter = perGroupParameters ? group : group * perGroup + channel
                            let a = scale[parameter].double * inverse
                            let b = bias[parameter].double - mean * a
                            let (ta, tb) = (T(a), T(b))
                            let offset = start + channel * plane
                            for index in 0..<plane { y[offset + index] = input[offset + index] * ta + tb }
                        }
                    }
                }
            }
        }
        return OpPlan(outputs: [x], kernel: x.dtype == .float32 ? kernel(Float.self) : kernel(Double.self), inPlace: 0)
    }
}

/// LpNormalization (p = 1 or 2) and MeanVarianceNormalization share the strided-row walk.
struct LpNormOp: Operator {
    var axis: Int
    var p: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        guard self.p == 1 || self.p == 2 else { throw context.error("p must be 1 or 2") }
        let axis = try normalizeAxis(self.axis, rank: x.shape.count, context)
        let outer = x.shape.prefix(axis).reduce(1, *)
        let length = x.shape[axis]
        let inner = x.shape.suffix(from: axis + 1).reduce(1, *)
        let p = self.p
        func kernel<T: FloatScalar>(_ type: T.Type) -> Kernel {
            { io in
                let input = io.input(0).assumingMemoryBound(to: T.self)
                let y = io.output(0).assumingMemoryBound(to: T.self)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * length * inner + i
                        var norm = 0.0
                        for k in 0..<length {
                            let v = input[base + k * inner].double
                            norm += p == 1 ? Swift.abs(v) : v * v
                        }
                        if p == 2 { norm = norm.squareRoot() }
                        for k in 0..<length {
                            y[base + k * inner] = norm == 0 ? 0 : T(input[base + k * inner].double / norm)
                        }
                    }
                }
            }
        }
        return OpPlan(outputs: [x], kernel: x.dtype == .float32 ? kernel(Float.self) : kernel(Double.self))
    }
}

/// CumSum along the axis in input 1, optionally exclusive and reversed.
struct CumSumOp: Operator {
    var exclusive: Bool
    var reverse: Bool
    var product = false

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        let axis = try normalizeAxis(Int(try scalarInput(context, 1, "the axis")), rank: x.shape.count, context)
        let outer = x.shape.prefix(axis).reduce(1, *)
        let length = x.shape[axis]
        let inner = x.shape.suffix(from: axis + 1).reduce(1, *)
        let kernel = try CumulativeKernel(
            outer: outer,
            length: length,
            inner: inner,
            exclusive: self.exclusive,
            reverse: self.reverse,
            product: self.product
        )(x.dtype)
        return OpPlan(outputs: [x], kernel: kernel)
    }
}

private struct CumulativeKernel: NumericVisitor {
    var outer: Int
    var length: Int
    var inner: Int
    var exclusive: Bool
    var reverse: Bool
    var product: Bool

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let me = self
        return { io in
            let x = io.input(0).assumingMemoryBound(to: T.self)
            let y = io.output(0).assumingMemoryBound(to: T.self)
            for o in 0..<me.outer {
                for i in 0..<me.inner {
                    var running = me.product ? T.one : T.zero
                    for step in 0..<me.length {
                        let k = me.reverse ? me.length - 1 - step : step
                        let offset = (o * me.length + k) * me.inner + i
                        let value = x[offset]
                        if me.exclusive { y[offset] = running }
                        running = me.product ? T.times(running, value) : T.plus(running, value)
                        if !me.exclusive { y[offset] = running }
                    }
                }
            }
        }
    }
}

/// TopK: the k largest (or smallest) along an axis with their int64 indices; ties keep the lower index first.
struct TopKOp: Operator {
    var axis: Int
    var largest: Bool
    var sorted: Bool
    var attributeK: Int?

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        let axis = try normalizeAxis(self.axis, rank: x.shape.count, context)
        var k = self.attributeK ?? 0
        if self.attributeK == nil { k = Int(try scalarInput(context, 1, "TopK's k")) }
        let length = x.shape[axis]
        guard k >= 0 && k <= length else { throw context.error("k = \(k) is outside 0...\(length)") }
        var shape = x.shape
        shape[axis] = k
        let outer = x.shape.prefix(axis).reduce(1, *)
        let inner = x.shape.suffix(from: axis + 1).reduce(1, *)
        let largest = self.largest
        let kernel = try TopKKernel(outer: outer, length: length, inner: inner, k: k, largest: largest)(x.dtype)
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape), ValueType(dtype: .int64, shape: shape)],
            kernel: kernel
        )
    }
}

private struct TopKKernel: NumericVisitor {
    var outer: Int
    var length: Int
    var inner: Int
    var k: Int
    var largest: Bool

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let me = self
        return { io in
            let x = io.input(0).assumingMemoryBound(to: T.self)
            let values = io.output(0).assumingMemoryBound(to: T.self)
            let indices = io.output(1).assumingMemoryBound(to: Int64.self)
            var order = [Int](repeating: 0, count: me.length)
            for o in 0..<me.outer {
                for i in 0..<me.inner {
                    let base = o * me.length * me.inner + i
                    for index in 0..<me.length { order[index] = index }
                    order.sort { a, b in
                        let (va, vb) = (x[base + a * me.inner], x[base + b * me.inner])
                        if va.isNaNValue != vb.isNaNValue { return me.largest ? va.isNaNValue : vb.isNaNValue }
                        if va == vb || (va.isNaNValue && vb.isNaNValue) { return a < b }
                        return me.largest ? va > vb : va < vb
                    }
                    for rank in 0..<me.k {
                        let target = (o * me.k + rank) * me.inner + i
                        values[target] = x[base + order[rank] * me.inner]
                        indices[target] = Int64(order[rank])
                    }
                }
            }
        }
    }
}

/// Hardmax: one at the first maximum of each row (the input flattened to 2-D at `axis` before opset 13).
struct HardmaxOp: Operator {
    var axis: Int
    var coerce2D: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let axis = try normalizeAxis(self.axis, rank: x.shape.count, context)
        let outer = x.shape.prefix(axis).reduce(1, *)
        let length = self.coerce2D ? x.shape.suffix(from: axis).reduce(1, *) : x.shape[axis]
        let inner = self.coerce2D ? 1 : x.shape.suffix(from: axis + 1).reduce(1, *)
        let dtype = x.dtype
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * length * inner + i
                        var best = 0
                        var value = -Double.infinity
                        for k in 0..<length {
                            let v = loadDouble(source, base + k * inner, dtype)
                            if v > value {
                                value = v
                                best = k
                            }
                        }
                        for k in 0..<length { store(double: k == best ? 1 : 0, target, base + k * inner, dtype) }
                    }
                }
            }
        )
    }
}
