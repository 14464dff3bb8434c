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
            let raised = value < low ? low : value
            data[index] = raised > high ? high : raised  // min > max gives max, as the specification says
        }
    }
}

/// Adds a row vector to every row, then applies the activations: the GEMM epilogue.
func epilogue(
    _ data: UnsafeMutablePointer<Float>,
    rows: Int,
    columns: Int,
    bias: UnsafePointer<Float>?,
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
            ? .clip(
                try attributes.float("min", -Float.greatestFiniteMagnitude),
                try attributes.float("max", .greatestFiniteMagnitude)
            )
            : nil
    }

    /// The same function for inputs other than f32 (the fused path is f32 only).
    private func otherTypeKind(_ context: PlanContext) throws(EngineError) -> UnaryOp.Kind {
        switch self.fixed {
        case .relu?: return .relu
        case .leakyRelu(let alpha)?: return .leakyRelu(alpha)
        case .sigmoid?: return .sigmoid
        case .tanh?: return .tanh
        case .clip(let low, let high)?: return .clip(Double(low), Double(high))
        case nil:
            var bounds = [-Double.infinity, Double.infinity]
            for index in [1, 2] where context.has(index) {
                let constant = try context.constant(index, index == 1 ? "Clip's min" : "Clip's max")
                guard constant.type.count == 1 else { throw context.error("Clip's bounds must be scalars") }
                let dtype = constant.type.dtype
                bounds[index - 1] =
                    dtype.isFloatingPoint
                    ? loadDouble(constant.buffer.pointer, 0, dtype)
                    : Double(loadInteger(constant.buffer.pointer, 0, dtype))
            }
            return .clip(bounds[0], bounds[1])
        }
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
        let input = try context.input(0)
        if input.dtype != .float32 { return try UnaryOp(kind: try self.otherTypeKind(context)).plan(context) }
        let activation = try self.activation(context)
        let count = input.count
        return OpPlan(
            outputs: [input],
            kernel: { io in
                let output = io.outF32(0)
                if UnsafeRawPointer(output) != io.input(0) { output.update(from: io.f32(0), count: count) }
                apply(activation, output, count)
            },
            inPlace: 0
        )
    }
}

/// Walks an output shape row by row (the last dimension is the inner loop), giving each row's start
/// offsets in the output and two broadcast inputs, and the inputs' inner strides.
func forEachBroadcast(
    shape: [Int],
    aStrides: [Int],
    bStrides: [Int],
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
