import SwitchyardTensor

/// How two inputs broadcast to an output: sizes, strides and the fast cases.
struct BroadcastPair: Sendable {
    var shape: [Int]
    var count: Int
    var aCount: Int
    var bCount: Int
    var aStrides: [Int]
    var bStrides: [Int]
    /// b repeats along a's leading dimensions (a bias row, a per-feature scale).
    var bIsSuffix: Bool

    init?(_ a: [Int], _ b: [Int]) {
        guard let shape = broadcastShapes(a, b) else { return nil }
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.aCount = a.reduce(1, *)
        self.bCount = b.reduce(1, *)
        self.aStrides = broadcastStrides(a, to: shape)
        self.bStrides = broadcastStrides(b, to: shape)
        self.bIsSuffix =
            self.aCount == self.count && self.bCount > 0 && self.count % self.bCount == 0
            && Array(shape.suffix(b.count)) == b && b.count <= shape.count
    }
}

/// `y[i] = f(a[i], b[i])` over the broadcast of two inputs, with loops for the common layouts; large outputs are
/// split across threads.
@inline(__always)
func broadcastBinary<A, B, C>(
    _ a: UnsafePointer<A>,
    _ b: UnsafePointer<B>,
    _ y: UnsafeMutablePointer<C>,
    _ plan: BroadcastPair,
    _ f: (A, B) -> C
) {
    let count = plan.count
    if count == 0 { return }
    let grain = Parallel.elementGrain
    if plan.aCount == count && plan.bCount == count {
        Parallel.forEach(count, minimumPerThread: grain) { range in
            for index in range { y[index] = f(a[index], b[index]) }
        }
    } else if plan.bCount == 1 && plan.aCount == count {
        let scalar = b[0]
        Parallel.forEach(count, minimumPerThread: grain) { range in
            for index in range { y[index] = f(a[index], scalar) }
        }
    } else if plan.aCount == 1 && plan.bCount == count {
        let scalar = a[0]
        Parallel.forEach(count, minimumPerThread: grain) { range in
            for index in range { y[index] = f(scalar, b[index]) }
        }
    } else if plan.bIsSuffix {
        let bCount = plan.bCount
        Parallel.forEach(count / bCount, minimumPerThread: max(1, grain / bCount)) { rows in
            for row in rows {
                let offset = row * bCount
                for index in 0..<bCount { y[offset + index] = f(a[offset + index], b[index]) }
            }
        }
    } else {
        // Split along the first axis longer than 1 (attention's heads for a mask add), each share broadcasting the
        // axes after it.
        let axis = plan.shape.firstIndex { $0 > 1 } ?? 0
        let length = plan.shape.isEmpty ? 1 : plan.shape[axis]
        let inner = Array(plan.shape.dropFirst(axis + 1))
        let (aInner, bInner) = (Array(plan.aStrides.dropFirst(axis + 1)), Array(plan.bStrides.dropFirst(axis + 1)))
        let (aStep, bStep) = plan.shape.isEmpty ? (0, 0) : (plan.aStrides[axis], plan.bStrides[axis])
        let span = inner.reduce(1, *)
        Parallel.forEach(length, minimumPerThread: max(1, grain / max(span, 1))) { range in
            for position in range {
                let (aBase, bBase, yBase) = (position * aStep, position * bStep, position * span)
                forEachBroadcast(shape: inner, aStrides: aInner, bStrides: bInner) {
                    out,
                    ai,
                    bi,
                    inner,
                    aStep,
                    bStep in
                    for index in 0..<inner {
                        y[yBase + out + index] = f(a[aBase + ai + index * aStep], b[bBase + bi + index * bStep])
                    }
                }
            }
        }
    }
}

/// Calls `body` for each output element of a broadcast of several inputs with every input's element offset.
func forEachBroadcast(shape: [Int], strides: [[Int]], _ body: (_ position: Int, _ offsets: [Int]) -> Void) {
    let count = shape.reduce(1, *)
    if count == 0 { return }
    let rank = shape.count
    var offsets = [Int](repeating: 0, count: strides.count)
    if rank == 0 {
        body(0, offsets)
        return
    }
    var index = [Int](repeating: 0, count: rank)
    for position in 0..<count {
        body(position, offsets)
        var axis = rank - 1
        while axis >= 0 {
            index[axis] += 1
            for input in strides.indices { offsets[input] += strides[input][axis] }
            if index[axis] < shape[axis] { break }
            for input in strides.indices { offsets[input] -= strides[input][axis] * shape[axis] }
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Add, Sub, Mul, Div, Mod, Pow, BitShift, the bitwise ops and PRelu: two inputs, NumPy broadcasting.
struct BinaryOp: Operator {
    enum Kind: Sendable {
        case add, sub, mul, div
        case mod(fmod: Bool)
        case max, min, pow, prelu
        case shiftLeft, shiftRight, bitAnd, bitOr, bitXor
    }
    var kind: Kind

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, numericTypes)
        let b = try context.input(1, numericTypes)
        switch self.kind {
        case .pow: break  // the exponent may have another type
        default:
            guard a.dtype == b.dtype else {
                throw context.error("inputs are \(a.dtype) and \(b.dtype); they must match")
            }
        }
        guard let pair = BroadcastPair(a.shape, b.shape) else {
            throw context.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        if case .prelu = self.kind, pair.shape != a.shape {
            throw context.error("slope \(b.shape) does not broadcast to X \(a.shape)")
        }
        let kernel: Kernel
        switch self.kind {
        case .pow: kernel = try PowKernel(pair: pair, exponent: b.dtype)(a.dtype)
        case .shiftLeft, .shiftRight, .bitAnd, .bitOr, .bitXor:
            kernel = try BitKernel(kind: self.kind, pair: pair)(a.dtype)
        default: kernel = try ArithmeticKernel(kind: self.kind, pair: pair)(a.dtype)
        }
        let inPlace: Int? = a.shape == pair.shape ? 0 : (b.shape == pair.shape && a.dtype == b.dtype ? 1 : nil)
        return OpPlan(outputs: [ValueType(dtype: a.dtype, shape: pair.shape)], kernel: kernel, inPlace: inPlace)
    }
}

private struct ArithmeticKernel: NumericVisitor {
    var kind: BinaryOp.Kind
    var pair: BroadcastPair

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let pair = self.pair
        @inline(__always) func make(_ f: @escaping @Sendable (T, T) -> T) -> Kernel {
            { io in
                broadcastBinary(
                    io.input(0).assumingMemoryBound(to: T.self),
                    io.input(1).assumingMemoryBound(to: T.self),
                    io.output(0).assumingMemoryBound(to: T.self),
                    pair,
                    f
                )
            }
        }
        switch self.kind {
        case .add:
            return { io in
                broadcastBinary(
                    io.input(0).assumingMemoryBound(to: T.self),
                    io.input(1).assumingMemoryBound(to: T.self),
                    io.output(0).assumingMemoryBound(to: T.self),
                    pair,
                    T.plus
                )
            }
        case .sub:
            return { io in
                broadcastBinary(
                    io.input(0).assumingMemoryBound(to: T.self),
                    io.input(1).assumingMemoryBound(to: T.self),
                    io.output(0).assumingMemoryBound(to: T.self),
                    pair,
                    T.minus
                )
            }
        case .mul:
            return { io in
                broadcastBinary(
                    io.input(0).assumingMemoryBound(to: T.self),
                    io.input(1).assumingMemoryBound(to: T.self),
                    io.output(0).assumingMemoryBound(to: T.self),
                    pair,
                    T.times
                )
            }
        case .div:
            return { io in
                broadcastBinary(
                    io.input(0).assumingMemoryBound(to: T.self),
                    io.input(1).assumingMemoryBound(to: T.self),
                    io.output(0).assumingMemoryBound(to: T.self),
                    pair,
                    T.divided
                )
            }
        case .mod(let fmod):
            return make { T.remainder($0, $1, fmod: fmod) }
        case .max: return make { a, b in a.isNaNValue || b.isNaNValue ? (a.isNaNValue ? a : b) : Swift.max(a, b) }
        case .min: return make { a, b in a.isNaNValue || b.isNaNValue ? (a.isNaNValue ? a : b) : Swift.min(a, b) }
        case .prelu: return make { x, slope in x < T.zero ? T.times(x, slope) : x }
        default: return { _ in }
        }
    }
}

private struct BitKernel: NumericVisitor {
    var kind: BinaryOp.Kind
    var pair: BroadcastPair

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        guard let integer = T.self as? any IntegerScalar.Type else {
            throw EngineError(.invalidModel, "bit operations need integer inputs")
        }
        return Self.kernel(integer, self.kind, self.pair)
    }

    private static func kernel<T: IntegerScalar>(
        _ type: T.Type,
        _ kind: BinaryOp.Kind,
        _ pair: BroadcastPair
    )
        -> Kernel
    {
        let f: @Sendable (T, T) -> T
        switch kind {
        // A shift by a negative amount or by the width or more moves every bit out (as an unsigned count would):
        // zero, or for a right shift of a negative value its sign in every bit.
        case .shiftLeft: f = { a, b in b < 0 || b >= T.bitWidth ? 0 : a << b }
        case .shiftRight: f = { a, b in b < 0 || b >= T.bitWidth ? (a < 0 ? ~(0 as T) : 0) : a >> b }
        case .bitAnd: f = { $0 & $1 }
        case .bitOr: f = { $0 | $1 }
        default: f = { $0 ^ $1 }
        }
        return { io in
            broadcastBinary(
                io.input(0).assumingMemoryBound(to: T.self),
                io.input(1).assumingMemoryBound(to: T.self),
                io.output(0).assumingMemoryBound(to: T.self),
                pair,
                f
            )
        }
    }
}

/// Pow: the base's type for the result; the exponent may be any numeric type.
private struct PowKernel: NumericVisitor {
    var pair: BroadcastPair
    var exponent: DType

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let (pair, exponent) = (self.pair, self.exponent)
        if T.self == Float.self && exponent == .float32 {
            return { io in
                broadcastBinary(io.f32(0), io.f32(1), io.outF32(0), pair) { (x: Float, y: Float) in
                    y == 2 ? x * x : Float.power(x, y)
                }
            }
        }
        return { io in
            let b = io.input(1)
            let wide = UnsafeMutablePointer<Double>.allocate(capacity: max(pair.bCount, 1))
            defer { wide.deallocate() }
            for index in 0..<pair.bCount {
                wide[index] =
                    exponent.isFloatingPoint ? loadDouble(b, index, exponent) : Double(loadInteger(b, index, exponent))
            }
            broadcastBinary(
                io.input(0).assumingMemoryBound(to: T.self),
                wide,
                io.output(0).assumingMemoryBound(to: T.self),
                pair
            ) {
                (x: T, y: Double) in T(double: Double.power(x.double, y))
            }
        }
    }
}

/// Equal, Less, Greater, LessOrEqual, GreaterOrEqual: a bool per broadcast element.
struct CompareOp: Operator {
    enum Kind: Sendable { case equal, less, greater, lessOrEqual, greaterOrEqual }
    var kind: Kind
    /// Equal compares strings (byte for byte).
    var acceptsStrings: Bool { self.kind == .equal }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, numericTypes.union(self.kind == .equal ? [.bool, .bytes] : [.bool]))
        let b = try context.input(1)
        guard a.dtype == b.dtype else { throw context.error("inputs are \(a.dtype) and \(b.dtype); they must match") }
        guard let pair = BroadcastPair(a.shape, b.shape) else {
            throw context.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        if a.dtype == .bytes {
            return OpPlan(
                outputs: [ValueType(dtype: .bool, shape: pair.shape)],
                kernel: { io in
                    broadcastBinary(
                        io.input(0).assumingMemoryBound(to: UnsafeRawPointer?.self),
                        io.input(1).assumingMemoryBound(to: UnsafeRawPointer?.self),
                        io.output(0).assumingMemoryBound(to: Bool.self),
                        pair,
                        StringElements.equal
                    )
                }
            )
        }
        let kernel = try CompareKernel(kind: self.kind, pair: pair)(a.dtype)
        return OpPlan(outputs: [ValueType(dtype: .bool, shape: pair.shape)], kernel: kernel)
    }
}

private struct CompareKernel: NumericVisitor {
    var kind: CompareOp.Kind
    var pair: BroadcastPair

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let pair = self.pair
        let f: @Sendable (T, T) -> Bool
        switch self.kind {
        case .equal: f = { $0 == $1 }
        case .less: f = { $0 < $1 }
        case .greater: f = { $0 > $1 }
        case .lessOrEqual: f = { $0 <= $1 }
        case .greaterOrEqual: f = { $0 >= $1 }
        }
        return { io in
            broadcastBinary(
                io.input(0).assumingMemoryBound(to: T.self),
                io.input(1).assumingMemoryBound(to: T.self),
                io.output(0).assumingMemoryBound(to: Bool.self),
                pair,
                f
            )
        }
    }
}

/// And, Or, Xor on bools.
struct LogicalOp: Operator {
    enum Kind: Sendable { case and, or, xor }
    var kind: Kind

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, [.bool])
        let b = try context.input(1, [.bool])
        guard let pair = BroadcastPair(a.shape, b.shape) else {
            throw context.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let kind = self.kind
        return OpPlan(
            outputs: [ValueType(dtype: .bool, shape: pair.shape)],
            kernel: { io in
                let (x, y, out) = (
                    io.input(0).assumingMemoryBound(to: UInt8.self), io.input(1).assumingMemoryBound(to: UInt8.self),
                    io.output(0).assumingMemoryBound(to: UInt8.self)
                )
                switch kind {
                case .and: broadcastBinary(x, y, out, pair) { $0 != 0 && $1 != 0 ? 1 : 0 }
                case .or: broadcastBinary(x, y, out, pair) { $0 != 0 || $1 != 0 ? 1 : 0 }
                case .xor: broadcastBinary(x, y, out, pair) { ($0 != 0) != ($1 != 0) ? 1 : 0 }
                }
            }
        )
    }
}

/// Max, Min, Sum and Mean of any number of inputs, broadcast together.
struct VariadicOp: Operator {
    enum Kind: Sendable { case max, min, sum, mean }
    var kind: Kind

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let first = try context.input(0, numericTypes)
        var shape = first.shape
        var shapes: [[Int]] = []
        for index in context.inputs.indices {
            let input = try context.input(index)
            guard input.dtype == first.dtype else {
                throw context.error("input \(index) is \(input.dtype), input 0 is \(first.dtype)")
            }
            guard let next = broadcastShapes(shape, input.shape) else {
                throw context.error("input \(index) \(input.shape) does not broadcast with \(shape)")
            }
            shape = next
            shapes.append(input.shape)
        }
        let kernel = try VariadicKernel(kind: self.kind, shapes: shapes, shape: shape)(first.dtype)
        return OpPlan(outputs: [ValueType(dtype: first.dtype, shape: shape)], kernel: kernel)
    }
}

private struct VariadicKernel: NumericVisitor {
    var kind: VariadicOp.Kind
    var shapes: [[Int]]
    var shape: [Int]

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> Kernel {
        let (kind, shape, shapes) = (self.kind, self.shape, self.shapes)
        let strides = shapes.map { broadcastStrides($0, to: shape) }
        let count = shape.reduce(1, *)
        let f: @Sendable (T, T) -> T
        switch kind {
        case .max: f = { a, b in a.isNaNValue || b.isNaNValue ? (a.isNaNValue ? a : b) : Swift.max(a, b) }
        case .min: f = { a, b in a.isNaNValue || b.isNaNValue ? (a.isNaNValue ? a : b) : Swift.min(a, b) }
        case .sum, .mean: f = T.plus
        }
        return { io in
            let y = io.output(0).assumingMemoryBound(to: T.self)
            for input in shapes.indices {
                let x = io.input(input).assumingMemoryBound(to: T.self)
                forEachOffset(shape, strides[input]) { position, offset in
                    y[position] = input == 0 ? x[offset] : f(y[position], x[offset])
                }
            }
            if case .mean = kind {
                let n = T(double: Double(shapes.count))
                for index in 0..<count { y[index] = T.divided(y[index], n) }
            }
        }
    }
}

/// Where(condition, X, Y), all three broadcast together.
struct WhereOp: Operator {
    var acceptsStrings: Bool { true }
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let condition = try context.input(0, [.bool])
        let x = try context.input(1)
        let y = try context.input(2)
        guard x.dtype == y.dtype else {
            throw context.error("X is \(x.dtype) and Y is \(y.dtype); they must match")
        }
        let width = x.dtype.elementSize
        guard let partial = broadcastShapes(condition.shape, x.shape), let shape = broadcastShapes(partial, y.shape)
        else {
            throw context.error("shapes \(condition.shape), \(x.shape) and \(y.shape) do not broadcast")
        }
        let strides = [condition.shape, x.shape, y.shape].map { broadcastStrides($0, to: shape) }
        let sameShapes = condition.shape == shape && x.shape == shape && y.shape == shape
        let count = shape.reduce(1, *)
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let c = io.input(0).assumingMemoryBound(to: UInt8.self)
                let (a, b, out) = (io.input(1), io.input(2), io.output(0))
                if sameShapes {
                    for index in 0..<count {
                        let source = c[index] != 0 ? a : b
                        (out + index * width).copyMemory(from: source + index * width, byteCount: width)
                    }
                    return
                }
                forEachBroadcast(shape: shape, strides: strides) { position, offsets in
                    let source = c[offsets[0]] != 0 ? a + offsets[1] * width : b + offsets[2] * width
                    (out + position * width).copyMemory(from: source, byteCount: width)
                }
            }
        )
    }
}
