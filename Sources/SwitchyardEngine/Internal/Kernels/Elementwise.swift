import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An elementwise activation; a list of them forms the epilogue of a fused GEMM or Conv.
enum Activation: Sendable, Equatable {
    case relu
    case leakyRelu(Float)
    case sigmoid
    case tanh
    case clip(Float, Float)

    var name: String {
        switch self {
        case .relu: "Relu"
        case .leakyRelu: "LeakyRelu"
        case .sigmoid: "Sigmoid"
        case .tanh: "Tanh"
        case .clip: "Clip"
        }
    }
}

/// Applies `activation` to `count` floats in place. One tight loop per kind so the compiler vectorizes it.
@inline(__always)
func apply(_ activation: Activation, _ data: UnsafeMutablePointer<Float>, _ count: Int) {
    switch activation {
    case .relu:
        for index in 0..<count { data[index] = max(data[index], 0) }  // max(NaN, 0) keeps NaN like onnxruntime
    case .leakyRelu(let alpha):
        for index in 0..<count {
            let value = data[index]
            data[index] = value < 0 ? value * alpha : value
        }
    case .sigmoid:
        for index in 0..<count {
            let value = data[index]
            // Split by sign so exp never overflows.
            if value >= 0 {
                data[index] = 1 / (1 + expf(-value))
            } else {
                let e = expf(value)
                data[index] = e / (1 + e)
            }
        }
    case .tanh:
        for index in 0..<count { data[index] = tanhf(data[index]) }
    case .clip(let low, let high):
        for index in 0..<count {
            let value = data[index]
            data[index] = value < low ? low : (value > high ? high : value)
        }
    }
}

/// Adds a row vector to every row, then applies the activations: the GEMM epilogue.
func epilogue(
    _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, bias: UnsafePointer<Float>?,
    activations: [Activation]
) {
    if let bias {
        if activations.count == 1, activations[0] == .relu {
            for row in 0..<rows {
                let line = data + row * columns
                for column in 0..<columns { line[column] = max(line[column] + bias[column], 0) }
            }
            return
        }
        for row in 0..<rows {
            let line = data + row * columns
            for column in 0..<columns { line[column] += bias[column] }
        }
    }
    for activation in activations { apply(activation, data, rows * columns) }
}

/// Relu, LeakyRelu, Sigmoid, Tanh and Clip (whose bounds are inputs since opset 11).
struct ActivationOp: Operator {
    /// `nil` for Clip, whose bounds are read from constant inputs at plan time.
    var fixed: Activation?

    init(fixed: Activation?) { self.fixed = fixed }

    /// Clip: bounds are attributes before opset 11 and optional inputs from 11 on.
    init(clip attributes: Attributes) throws(EngineError) {
        self.fixed =
            attributes.version < 11
            ? .clip(try attributes.float("min", -Float.greatestFiniteMagnitude), try attributes.float("max", .greatestFiniteMagnitude))
            : nil
    }

    func activation(_ context: PlanContext) throws(EngineError) -> Activation {
        if let fixed { return fixed }
        var low = -Float.infinity
        var high = Float.infinity
        for (index, name) in [(1, "min"), (2, "max")] where context.has(index) {
            let constant = try context.constant(index, "Clip's \(name)")
            guard let values = constant.floats, values.count == 1 else {
                throw context.error("Clip's \(name) must be a float scalar")
            }
            if index == 1 { low = values[0] } else { high = values[0] }
        }
        return .clip(low, high)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let input = try context.input(0, [.float32])
        let activation = try self.activation(context)
        let count = input.count
        return OpPlan(
            outputs: [input],
            kernel: { io in
                let output = io.outF32(0)
                if UnsafeRawPointer(output) != io.input(0) { output.update(from: io.f32(0), count: count) }
                apply(activation, output, count)
            }, inPlace: 0)
    }
}

/// Add, Sub, Mul and Div with ONNX multidirectional broadcasting, on float32, int64 and int32.
struct BinaryOp: Operator {
    enum Kind: Sendable { case add, sub, mul, div }
    var kind: Kind

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, [.float32, .int64, .int32])
        let b = try context.input(1)
        guard a.dtype == b.dtype else { throw context.error("inputs are \(a.dtype) and \(b.dtype); they must match") }
        guard let shape = broadcastShapes(a.shape, b.shape) else {
            throw context.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let output = ValueType(dtype: a.dtype, shape: shape)
        let kernel: Kernel
        switch a.dtype {
        case .float32: kernel = Self.kernel(Float.self, self.kind, a.shape, b.shape, shape)
        case .int64: kernel = Self.kernel(Int64.self, self.kind, a.shape, b.shape, shape)
        default: kernel = Self.kernel(Int32.self, self.kind, a.shape, b.shape, shape)
        }
        let inPlace: Int? = a.shape == shape ? 0 : (b.shape == shape ? 1 : nil)
        return OpPlan(outputs: [output], kernel: kernel, inPlace: inPlace)
    }

    private static func kernel<T: BinaryArithmetic>(
        _ type: T.Type, _ kind: Kind, _ aShape: [Int], _ bShape: [Int], _ shape: [Int]
    ) -> Kernel {
        let count = shape.reduce(1, *)
        let aCount = aShape.reduce(1, *)
        let bCount = bShape.reduce(1, *)
        let aStrides = broadcastStrides(aShape, to: shape)
        let bStrides = broadcastStrides(bShape, to: shape)
        // b repeats along the leading dimensions of a (a bias row, a per-feature scale).
        let bIsSuffix =
            aCount == count && bCount > 0 && count % bCount == 0 && Array(shape.suffix(bShape.count)) == bShape
            && bShape.count <= shape.count
        return { io in
            let a = io.input(0).assumingMemoryBound(to: T.self)
            let b = io.input(1).assumingMemoryBound(to: T.self)
            let y = io.output(0).assumingMemoryBound(to: T.self)
            if count == 0 { return }
            if aCount == count && bCount == count {
                for index in 0..<count { y[index] = T.combine(kind, a[index], b[index]) }
            } else if bCount == 1 && aCount == count {
                let scalar = b[0]
                for index in 0..<count { y[index] = T.combine(kind, a[index], scalar) }
            } else if aCount == 1 && bCount == count {
                let scalar = a[0]
                for index in 0..<count { y[index] = T.combine(kind, scalar, b[index]) }
            } else if bIsSuffix {
                var offset = 0
                while offset < count {
                    for index in 0..<bCount { y[offset + index] = T.combine(kind, a[offset + index], b[index]) }
                    offset += bCount
                }
            } else {
                forEachBroadcast(shape: shape, aStrides: aStrides, bStrides: bStrides) {
                    out, ai, bi, inner, aStep, bStep in
                    for index in 0..<inner {
                        y[out + index] = T.combine(kind, a[ai + index * aStep], b[bi + index * bStep])
                    }
                }
            }
        }
    }
}

/// Walks an output shape row by row (the last dimension is the inner loop), giving each row's start
/// offsets in the output and two broadcast inputs, and the inputs' inner strides.
func forEachBroadcast(
    shape: [Int], aStrides: [Int], bStrides: [Int],
    _ body: (_ out: Int, _ a: Int, _ b: Int, _ inner: Int, _ aStep: Int, _ bStep: Int) -> Void
) {
    let rank = shape.count
    if rank == 0 {
        body(0, 0, 0, 1, 0, 0)
        return
    }
    let inner = shape[rank - 1]
    let outer = shape.dropLast().reduce(1, *)
    var index = [Int](repeating: 0, count: rank - 1)
    var aOffset = 0
    var bOffset = 0
    for row in 0..<outer {
        body(row * inner, aOffset, bOffset, inner, aStrides[rank - 1], bStrides[rank - 1])
        var dim = rank - 2
        while dim >= 0 {
            index[dim] += 1
            aOffset += aStrides[dim]
            bOffset += bStrides[dim]
            if index[dim] < shape[dim] { break }
            aOffset -= aStrides[dim] * shape[dim]
            bOffset -= bStrides[dim] * shape[dim]
            index[dim] = 0
            dim -= 1
        }
    }
}

/// The arithmetic the binary ops need, without traps (integer division by zero gives 0, overflow wraps).
protocol BinaryArithmetic: TensorScalar {
    static func combine(_ kind: BinaryOp.Kind, _ a: Self, _ b: Self) -> Self
}

extension Float: BinaryArithmetic {
    @inline(__always) static func combine(_ kind: BinaryOp.Kind, _ a: Float, _ b: Float) -> Float {
        switch kind {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        }
    }
}

extension Int64: BinaryArithmetic {
    @inline(__always) static func combine(_ kind: BinaryOp.Kind, _ a: Int64, _ b: Int64) -> Int64 {
        switch kind {
        case .add: a &+ b
        case .sub: a &- b
        case .mul: a &* b
        case .div: b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
        }
    }
}

extension Int32: BinaryArithmetic {
    @inline(__always) static func combine(_ kind: BinaryOp.Kind, _ a: Int32, _ b: Int32) -> Int32 {
        switch kind {
        case .add: a &+ b
        case .sub: a &- b
        case .mul: a &* b
        case .div: b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue
        }
    }
}
