import SwitchyardTensor

/// The pointers one step of a plan works on: a table of every value's buffer, the step's value ids,
/// its scratch space, and the heap for strings it makes.
struct IO {
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Value ids of the inputs and outputs (-1 for an omitted one), held by the plan.
    let ins: UnsafeBufferPointer<Int>
    let outs: UnsafeBufferPointer<Int>
    let scratch: UnsafeMutableRawPointer
    /// Where a kernel puts strings it makes (``StringHeap``); it lives as long as the step's outputs.
    unowned(unsafe) let strings: StringHeap

    @inline(__always) func input(_ index: Int) -> UnsafeRawPointer { UnsafeRawPointer(self.slots[self.ins[index]]) }
    @inline(__always) func output(_ index: Int) -> UnsafeMutableRawPointer { self.slots[self.outs[index]] }
    @inline(__always) func f32(_ index: Int) -> UnsafePointer<Float> {
        self.input(index).assumingMemoryBound(to: Float.self)
    }
    @inline(__always) func outF32(_ index: Int) -> UnsafeMutablePointer<Float> {
        self.output(index).assumingMemoryBound(to: Float.self)
    }
    /// Whether input `index` is present (an omitted optional input has id -1).
    @inline(__always) func has(_ index: Int) -> Bool { index < self.ins.count && self.ins[index] >= 0 }
}

typealias Kernel = @Sendable (IO) throws(EngineError) -> Void

/// What an operator decided for concrete input types: output types and how to compute them.
struct OpPlan {
    var outputs: [ValueType]
    var kernel: Kernel
    /// Output 0 is input `alias`'s bytes unchanged (Reshape, Flatten, Identity): no kernel runs.
    var alias: Int? = nil
    /// Output 0 may be written over input `inPlace` when that input dies here (elementwise ops).
    var inPlace: Int? = nil
    /// Bytes of scratch the kernel needs while it runs (im2col).
    var scratch: Int = 0
}

/// What a node sees while it is planned: its inputs' types and, for constant inputs, their data.
struct PlanContext {
    var node: String
    var opType: String
    /// `nil` where an optional input is omitted.
    var inputs: [ValueType?]
    var constants: [Constant?]
    /// How many outputs the node names (Split makes one per output).
    var outputCount: Int = 1

    func error(_ message: String, _ code: EngineError.Code = .shapeMismatch) -> EngineError {
        EngineError(code, "node '\(self.node)' (\(self.opType)): \(message)")
    }

    /// Input `index`, which must be present.
    func input(_ index: Int) throws(EngineError) -> ValueType {
        guard index < self.inputs.count, let type = self.inputs[index] else {
            throw self.error("input \(index) is required", .invalidModel)
        }
        return type
    }

    func has(_ index: Int) -> Bool { index < self.inputs.count && self.inputs[index] != nil }

    /// Requires input `index` to have one of `dtypes`.
    func input(_ index: Int, _ dtypes: Set<DType>) throws(EngineError) -> ValueType {
        let type = try self.input(index)
        guard dtypes.contains(type.dtype) else {
            let names = dtypes.map(\.name).sorted().joined(separator: " or ")
            throw self.error("input \(index) is \(type.dtype), expected \(names)", .shapeMismatch)
        }
        return type
    }

    /// The data of input `index`, which the node needs to decide its output shapes (a Reshape's shape,
    /// Slice's starts). When it is not known at planning time the error says so, and the model runs such
    /// shapes node by node with every value known (``ExecutionPlan/runEagerly(graph:inputs:)``).
    func constant(_ index: Int, _ what: String) throws(EngineError) -> Constant {
        guard index < self.constants.count, let constant = self.constants[index] else {
            throw EngineError(
                .unsupportedModel,
                "node '\(self.node)' (\(self.opType)): \(what) depends on the request's data",
                cause: RuntimeValueNeeded()
            )
        }
        return constant
    }

    /// The data of optional input `index` when it is present, else `nil`.
    func optionalConstant(_ index: Int, _ what: String) throws(EngineError) -> Constant? {
        guard self.has(index) else { return nil }
        return try self.constant(index, what)
    }
}

/// Marks a planning error caused by a value known only when a request runs (see ``PlanContext/constant(_:_:)``).
struct RuntimeValueNeeded: Error {
    /// The position in its graph of the node that needed it, once the planner has seen it.
    var node: Int? = nil
}

extension EngineError {
    /// Whether planning stopped only because a shape depends on a request's data.
    var needsRuntimeValue: Bool { self.cause is RuntimeValueNeeded }

    /// The position of the first node whose shapes depend on a request's data, when planning stopped there.
    var runtimeValueNode: Int? { (self.cause as? RuntimeValueNeeded)?.node }
}

/// An ONNX operator with its attributes decoded.
protocol Operator: Sendable {
    /// Whether it reads input data; `false` for ops that look only at types (Shape), which lets the
    /// planner evaluate them early.
    var readsInputData: Bool { get }
    /// Whether it takes or makes string tensors: the planner refuses strings for operators that do not say so,
    /// since a string element is a pointer (``StringHeap``) that only string-aware kernels may follow or make.
    var acceptsStrings: Bool { get }
    /// Decides output types and the kernel for concrete input types.
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan
}

extension Operator {
    var readsInputData: Bool { true }
    var acceptsStrings: Bool { false }
}

/// Normalizes a possibly negative axis against a rank.
func normalizeAxis(_ axis: Int, rank: Int, _ context: PlanContext) throws(EngineError) -> Int {
    let value = axis < 0 ? axis + rank : axis
    guard value >= 0 && value < max(rank, 1) else {
        throw context.error("axis \(axis) is out of range for rank \(rank)")
    }
    return value
}

/// ONNX multidirectional broadcasting of two shapes.
func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for index in 0..<rank {
        let x = index < rank - a.count ? 1 : a[index - (rank - a.count)]
        let y = index < rank - b.count ? 1 : b[index - (rank - b.count)]
        if x == y || y == 1 { result[index] = x } else if x == 1 { result[index] = y } else { return nil }
    }
    return result
}

/// Row-major strides of a shape, with zero strides where `shape` is broadcast up to `target`.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let offset = target.count - shape.count
    var strides = [Int](repeating: 0, count: target.count)
    var running = 1
    for index in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[index + offset] = shape[index] == 1 && target[index + offset] != 1 ? 0 : running
        running *= shape[index]
    }
    return strides
}

func product(_ dims: ArraySlice<Int>) -> Int { dims.reduce(1, *) }

/// The product of `dims`, or `nil` when it overflows (shapes from files and requests are untrusted).
func checkedProduct(_ dims: some Sequence<Int>) -> Int? {
    var total = 1
    for dim in dims {
        guard dim >= 0 else { return nil }
        let (next, overflow) = total.multipliedReportingOverflow(by: dim)
        if overflow { return nil }
        total = next
    }
    return total
}

/// The largest tensor or arena the engine will plan (8 GiB): a bigger one is an error, not a crash.
let maxPlannedBytes = 1 << 33
