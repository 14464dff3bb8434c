import SwitchyardTensor

/// A control-flow body (If's branches, Loop's and Scan's `body`): a graph of its own whose inputs are the
/// declared ones followed by the enclosing-scope values it reads, which the node receives as extra inputs.
struct Subgraph: Sendable {
    var graph: Graph
    /// The declared inputs' element types (`nil` where the file leaves them to the values passed).
    var declared: [DType?]
    /// For each enclosing-scope value the body reads: the node input that carries it.
    var capturedInputs: [Int]
    /// The body's name for messages.
    var what: String
    /// Each output's declared shape when every dimension is fixed: an empty stack's element shape.
    var fixedOutputShapes: [[Int]?] = []

    var declaredCount: Int { self.declared.count }
    var outputCount: Int { self.graph.outputs.count }

    /// No iteration ran: an empty stack of output `index`, of the element shape the body declares ([0] when
    /// the body leaves it open).
    func emptyStack(_ index: Int) -> Constant {
        let shape = [0] + (self.fixedOutputShapes.indices.contains(index) ? self.fixedOutputShapes[index] ?? [] : [])
        let dtype = self.graph.outputs[index].dtype ?? .float32
        return Constant(type: ValueType(dtype: dtype, shape: shape), buffer: AlignedBuffer(count: 1))
    }

    /// Runs the body on `declared` values and the node's inputs (`node`, every present one known).
    func run(_ declared: [Constant], node: [Constant?]) throws(EngineError) -> [Constant] {
        guard declared.count == self.declaredCount else {
            throw EngineError(
                .invalidModel,
                "\(self.what) declares \(self.declaredCount) inputs; the node passes \(declared.count)"
            )
        }
        var graph = self.graph
        var values = declared
        for (index, value) in declared.enumerated() {
            if let type = self.declared[index], type != value.type.dtype,
                !(value.type.dtype == .float32 && (type == .float16 || type == .bfloat16))
            {
                throw EngineError(
                    .shapeMismatch,
                    "\(self.what): input '\(graph.inputs[index].name)' is declared \(type); it is given "
                        + "\(value.type.dtype)"
                )
            }
            graph.inputs[index].dtype = value.type.dtype
        }
        for (offset, position) in self.capturedInputs.enumerated() {
            guard position < node.count, let value = node[position] else {
                throw EngineError(.invalidModel, "\(self.what) reads an enclosing-scope value that is not given")
            }
            graph.inputs[self.declaredCount + offset].dtype = value.type.dtype
            values.append(value)
        }
        do {
            return try ExecutionPlan.evaluateEagerly(graph: graph, inputs: values)
        } catch {
            throw EngineError(error.code, "\(self.what): \(error.message)", cause: error.cause)
        }
    }
}

/// If, Loop and Scan. Each runs when all its inputs are known: a condition or trip count folded at planning time
/// runs then, one that depends on the request runs node by node (``ExecutionPlan/runEagerly(graph:inputs:)``),
/// since the outputs' shapes follow the branch taken or the number of iterations.
enum ControlFlow {
    static let operators: Set<String> = ["If", "Loop", "Scan"]

    /// More iterations than a served model plausibly needs: a loop without a bound fails instead of hanging.
    static let maxIterations = 1 << 22

    static func make(
        _ attributes: Attributes,
        bodies: [String: Subgraph],
        declaredInputs: Int
    ) throws(EngineError) -> any Operator {
        func body(_ name: String) throws(EngineError) -> Subgraph {
            guard let body = bodies[name] else { throw attributes.error("graph attribute '\(name)' is missing") }
            return body
        }
        switch attributes.opType {
        case "If":
            return IfOp(thenBranch: try body("then_branch"), elseBranch: try body("else_branch"))
        case "Loop":
            return try LoopOp(body: try body("body"), declaredInputs: declaredInputs, attributes)
        default:
            return try ScanOp(body: try body("body"), declaredInputs: declaredInputs, attributes)
        }
    }

    /// Every input of the node, `nil` where omitted; asks for the request's data when one is not known yet.
    static func values(_ context: PlanContext) throws(EngineError) -> [Constant?] {
        var values: [Constant?] = []
        for index in context.inputs.indices {
            values.append(try context.optionalConstant(index, "\(context.opType)'s input \(index)"))
        }
        return values
    }

    /// The plan of a node whose results are computed: their types, and a kernel that writes them.
    static func plan(_ results: [Constant], _ context: PlanContext) throws(EngineError) -> OpPlan {
        guard results.count >= context.outputCount else {
            throw context.error("has \(context.outputCount) outputs; its body makes \(results.count)", .invalidModel)
        }
        let kept = Array(results.prefix(context.outputCount))
        return OpPlan(
            outputs: kept.map(\.type),
            kernel: { io in
                for (index, value) in kept.enumerated() where io.outs[index] >= 0 && value.type.byteCount > 0 {
                    io.output(index).copyMemory(from: value.buffer.pointer, byteCount: value.type.byteCount)
                }
            }
        )
    }

    /// A scalar (or one-element) value as a truth value.
    static func truth(_ value: Constant, _ what: String, _ context: PlanContext) throws(EngineError) -> Bool {
        guard value.type.count == 1 else {
            throw context.error("\(what) must hold one element; it has shape \(value.type.shape)")
        }
        guard value.type.dtype == .bool else { throw context.error("\(what) is \(value.type.dtype); expected bool") }
        return value.buffer.pointer.load(as: UInt8.self) != 0
    }

    /// `slices` (all of one type) stacked along a new axis `axis` of the result, in order.
    static func stack(
        _ slices: [Constant],
        axis: Int,
        _ what: String,
        _ context: PlanContext
    ) throws(EngineError) -> Constant {
        let first = slices[0].type
        for slice in slices where slice.type != first {
            throw context.error("\(what) changes from \(first) to \(slice.type) between iterations")
        }
        var shape = first.shape
        shape.insert(slices.count, at: axis)
        let width = first.dtype.elementSize
        let outer = first.shape.prefix(axis).reduce(1, *)
        let inner = first.shape.suffix(from: axis).reduce(1, *) * width
        let buffer = AlignedBuffer(count: max(outer * inner * slices.count, 1))
        for (position, slice) in slices.enumerated() {
            for o in 0..<outer where inner > 0 {
                (buffer.pointer + (o * slices.count + position) * inner)
                    .copyMemory(from: slice.buffer.pointer + o * inner, byteCount: inner)
            }
        }
        return Constant(type: ValueType(dtype: first.dtype, shape: shape), buffer: buffer)
    }

    /// Element `index` of `value` along `axis` (the axis removed).
    static func slice(_ value: Constant, axis: Int, index: Int) -> Constant {
        var shape = value.type.shape
        let count = shape.remove(at: axis)
        let width = value.type.dtype.elementSize
        let outer = shape.prefix(axis).reduce(1, *)
        let inner = shape.suffix(from: axis).reduce(1, *) * width
        let buffer = AlignedBuffer(count: max(outer * inner, 1))
        for o in 0..<outer where inner > 0 {
            (buffer.pointer + o * inner).copyMemory(
                from: value.buffer.pointer + (o * count + index) * inner,
                byteCount: inner
            )
        }
        return Constant(type: ValueType(dtype: value.type.dtype, shape: shape), buffer: buffer)
    }
}

/// If: the outputs of `then_branch` when the condition holds, else of `else_branch`.
struct IfOp: Operator {
    let thenBranch: Subgraph
    let elseBranch: Subgraph

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let condition = try context.input(0)
        guard condition.dtype == .bool else {
            throw context.error("the condition is \(condition.dtype); expected bool")
        }
        guard condition.count == 1 else {
            throw context.error("the condition must hold one element; it has shape \(condition.shape)")
        }
        let values = try ControlFlow.values(context)
        let branch = try ControlFlow.truth(values[0]!, "the condition", context) ? self.thenBranch : self.elseBranch
        return try ControlFlow.plan(try branch.run([], node: values), context)
    }
}

/// Loop: runs `body` while the trip count and the condition allow, carrying N values from one iteration to the
/// next and stacking K per-iteration outputs along a new first axis.
struct LoopOp: Operator {
    let body: Subgraph
    let carried: Int
    let scans: Int

    init(body: Subgraph, declaredInputs: Int, _ attributes: Attributes) throws(EngineError) {
        guard declaredInputs >= 2 else {
            throw attributes.error("needs the inputs M and cond (either may be empty)")
        }
        self.carried = declaredInputs - 2
        guard body.declaredCount == self.carried + 2 else {
            throw attributes.error(
                "its body takes \(body.declaredCount) inputs; it must take 2 + the \(self.carried) loop-carried values"
            )
        }
        guard body.outputCount >= self.carried + 1 else {
            throw attributes.error(
                "its body makes \(body.outputCount) outputs; it must make the condition and \(self.carried) values"
            )
        }
        self.body = body
        self.scans = body.outputCount - 1 - self.carried
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        if context.has(0) {
            let trips = try context.input(0)
            guard trips.dtype == .int64, trips.count == 1 else {
                throw context.error("the trip count M must be one int64; it is \(trips)")
            }
        }
        if context.has(1) {
            let condition = try context.input(1)
            guard condition.dtype == .bool, condition.count == 1 else {
                throw context.error("the condition must be one bool; it is \(condition); expected bool")
            }
        }
        let values = try ControlFlow.values(context)
        let limit = values[0].map { Int($0.buffer.pointer.load(as: Int64.self)) }
        let conditional = values[1] != nil
        var keepGoing =
            try values[1].map { value throws(EngineError) in
                try ControlFlow.truth(value, "the condition", context)
            } ?? true
        var condition = values[1] ?? Constant([true], shape: [])
        var state: [Constant] = []
        for index in 0..<self.carried {
            guard let value = values[2 + index] else {
                throw context.error("loop-carried input \(2 + index) is empty", .invalidModel)
            }
            state.append(value)
        }
        var collected = [[Constant]](repeating: [], count: self.scans)
        var iteration = 0
        while keepGoing && iteration < (limit ?? Int.max) {
            guard iteration < ControlFlow.maxIterations else {
                throw context.error(
                    "stopped after \(ControlFlow.maxIterations) iterations: neither the trip count nor the condition "
                        + "ended the loop",
                    .invalidInput
                )
            }
            let outputs = try self.body.run(
                [Constant([Int64(iteration)], shape: []), condition] + state,
                node: values
            )
            condition = outputs[0]
            if conditional { keepGoing = try ControlFlow.truth(condition, "the body's condition", context) }
            state = Array(outputs[1...self.carried])
            for index in 0..<self.scans { collected[index].append(outputs[1 + self.carried + index]) }
            iteration += 1
        }
        var results = state
        for (index, slices) in collected.enumerated() {
            if slices.isEmpty {
                results.append(self.body.emptyStack(1 + self.carried + index))
            } else {
                results.append(try ControlFlow.stack(slices, axis: 0, "scan output \(index)", context))
            }
        }
        return try ControlFlow.plan(results, context)
    }
}

/// Scan: runs `body` once per element of M scan inputs along their scan axes, carrying N state values and
/// stacking K outputs. Opset 8's form has a batch axis first and an optional `sequence_lens`.
struct ScanOp: Operator {
    let body: Subgraph
    let states: Int
    let inputs: Int
    let outputs: Int
    let inputAxes: [Int]
    let inputReversed: [Bool]
    let outputAxes: [Int]
    let outputReversed: [Bool]
    let batched: Bool

    init(body: Subgraph, declaredInputs: Int, _ attributes: Attributes) throws(EngineError) {
        self.batched = attributes.version < 9
        let m = try attributes.int("num_scan_inputs", -1)
        let explicit = declaredInputs - (self.batched ? 1 : 0)
        guard m >= 1, m <= explicit else {
            throw attributes.error("num_scan_inputs must be between 1 and the \(explicit) inputs; it is \(m)")
        }
        self.inputs = m
        self.states = explicit - m
        guard body.declaredCount == explicit else {
            throw attributes.error("its body takes \(body.declaredCount) inputs; the node gives \(explicit)")
        }
        guard body.outputCount >= self.states else {
            throw attributes.error("its body makes \(body.outputCount) outputs, fewer than its \(self.states) states")
        }
        self.outputs = body.outputCount - self.states
        func flags(_ name: String, _ count: Int) throws(EngineError) -> [Int] {
            let values = try attributes.ints(name) ?? [Int](repeating: 0, count: count)
            guard values.count == count else {
                throw attributes.error("attribute '\(name)' has \(values.count) entries; it needs \(count)")
            }
            return values
        }
        let directions = try flags(self.batched ? "directions" : "scan_input_directions", m)
        let outputDirections =
            self.batched ? [Int](repeating: 0, count: self.outputs) : try flags("scan_output_directions", self.outputs)
        for flag in directions + outputDirections where flag != 0 && flag != 1 {
            throw attributes.error("a direction must be 0 (forward) or 1 (reverse); it is \(flag)")
        }
        self.inputReversed = directions.map { $0 == 1 }
        self.outputReversed = outputDirections.map { $0 == 1 }
        self.inputAxes = self.batched ? [Int](repeating: 0, count: m) : try flags("scan_input_axes", m)
        self.outputAxes =
            self.batched ? [Int](repeating: 0, count: self.outputs) : try flags("scan_output_axes", self.outputs)
        self.body = body
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let values = try ControlFlow.values(context)
        let first = self.batched ? 1 : 0
        var explicit: [Constant] = []
        for index in first..<(first + self.states + self.inputs) {
            guard let value = values[index] else { throw context.error("input \(index) is empty", .invalidModel) }
            explicit.append(value)
        }
        guard self.batched else {
            return try ControlFlow.plan(try self.scan(explicit, lengths: nil, values, context), context)
        }
        // Opset 8: every input has the batch first; each batch entry is scanned along its axis 0 on its own.
        let batch = explicit[0].type.shape.first ?? 0
        for value in explicit where value.type.shape.first != batch || value.type.shape.isEmpty {
            throw context.error("every input needs the batch size \(batch) first; one has shape \(value.type.shape)")
        }
        var lengths: [Int]? = nil
        if let given = values[0] {
            guard given.type.dtype == .int32, given.type.count == batch else {
                throw context.error("sequence_lens must be int32 [\(batch)]; it is \(given.type)")
            }
            lengths = given.values(Int32.self).map { Int($0) }
        }
        var perBatch: [[Constant]] = []
        for entry in 0..<batch {
            let row = explicit.map { ControlFlow.slice($0, axis: 0, index: entry) }
            perBatch.append(try self.scan(row, lengths: lengths.map { [$0[entry]] }, values, context))
        }
        var results: [Constant] = []
        for index in 0..<(self.states + self.outputs) {
            results.append(try ControlFlow.stack(perBatch.map { $0[index] }, axis: 0, "output \(index)", context))
        }
        return try ControlFlow.plan(results, context)
    }

    /// One scan: states then scan inputs in, final states then stacked outputs out.
    private func scan(
        _ explicit: [Constant],
        lengths: [Int]?,
        _ values: [Constant?],
        _ context: PlanContext
    ) throws(EngineError) -> [Constant] {
        var state = Array(explicit.prefix(self.states))
        let sequences = Array(explicit.suffix(self.inputs))
        var axes: [Int] = []
        var length: Int? = nil
        for (index, sequence) in sequences.enumerated() {
            let axis = try normalizeAxis(self.inputAxes[index], rank: sequence.type.shape.count, context)
            guard !sequence.type.shape.isEmpty else { throw context.error("scan input \(index) is a scalar") }
            let count = sequence.type.shape[axis]
            if let length, length != count {
                throw context.error("scan inputs differ in length along their scan axes (\(length) and \(count))")
            }
            length = count
            axes.append(axis)
        }
        let total = length ?? 0
        let steps = min(lengths?.first ?? total, total)
        guard steps >= 0 else { throw context.error("a sequence length is negative") }
        var collected = [[Constant]](repeating: [], count: self.outputs)
        for step in 0..<steps {
            let elements = sequences.enumerated().map { index, sequence in
                ControlFlow.slice(
                    sequence,
                    axis: axes[index],
                    index: self.inputReversed[index] ? total - 1 - step : step
                )
            }
            let outputs = try self.body.run(state + elements, node: values)
            state = Array(outputs.prefix(self.states))
            for index in 0..<self.outputs { collected[index].append(outputs[self.states + index]) }
        }
        var results = state
        for (index, var slices) in collected.enumerated() {
            guard let sample = slices.first else {
                results.append(self.body.emptyStack(self.states + index))
                continue
            }
            if steps < total {  // opset 8: a shorter sequence's outputs are padded with zeros
                let zero = Constant(type: sample.type, buffer: AlignedBuffer(count: max(sample.type.byteCount, 1)))
                slices += [Constant](repeating: zero, count: total - steps)
            }
            if self.outputReversed[index] { slices.reverse() }
            let axis = try normalizeAxis(self.outputAxes[index], rank: sample.type.shape.count + 1, context)
            results.append(try ControlFlow.stack(slices, axis: axis, "scan output \(index)", context))
        }
        return results
    }
}

/// Optional, OptionalHasElement and OptionalGetElement on tensors: the engine's values are tensors, so an optional
/// is a tensor input that is present or omitted. An empty Optional (no input) is refused: nothing could hold it.
struct OptionalOp: Operator {
    enum Kind { case wrap, hasElement, getElement }
    let kind: Kind

    var acceptsStrings: Bool { true }
    /// HasElement looks only at whether its input is there.
    var readsInputData: Bool { self.kind != .hasElement }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        switch self.kind {
        case .hasElement:
            let present = context.has(0)
            return OpPlan(
                outputs: [ValueType(dtype: .bool, shape: [])],
                kernel: { io in io.output(0).storeBytes(of: present ? 1 : 0, as: UInt8.self) }
            )
        case .wrap, .getElement:
            guard context.has(0) else {
                throw context.error(
                    self.kind == .wrap
                        ? "an empty optional (no input) is not supported: the engine's values are tensors"
                        : "the optional has no element",
                    .unsupportedOperator
                )
            }
            return aliasPlan(try context.input(0))
        }
    }
}
