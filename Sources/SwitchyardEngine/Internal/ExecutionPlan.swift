import SwitchyardTensor
import Synchronization

/// Everything needed to run the graph for one set of input shapes: kernels in order, each value's
/// place in one arena, and a pool of arenas so concurrent inferences never share buffers and a
/// request allocates nothing but its outputs.
final class ExecutionPlan: Sendable {
    /// One kernel call. Its value ids point into the plan's `operands`, so that running a step copies no array
    /// (a retain and release per array per step were a fifth of a small MLP's call).
    struct Step: @unchecked Sendable {
        var kernel: Kernel
        var ins: UnsafeBufferPointer<Int>
        var outs: UnsafeBufferPointer<Int>
        var scratchOffset: Int
    }

    enum Place: Sendable, Equatable {
        case unused
        case constant(Int)  // index into `constants`
        case input(Int)  // graph input index
        case arena(Int)  // byte offset
    }

    let steps: [Step]
    /// Where each value lives; aliases resolved to their root.
    let places: [Place]
    let constants: [Constant]
    let arenaSize: Int
    /// Per graph input: its value id and the arena offset where it is staged when the caller's bytes
    /// are not aligned for the element type (string inputs: where their element pointers go, always).
    let inputs: [(value: Int, staging: Int, bytes: Int, strings: Bool)]
    let inputAliases: [(value: Int, root: Int)]
    let outputTypes: [ValueType]
    /// Per graph output: its value, where it starts in the one storage a run's outputs share, its bytes, and
    /// whether it holds strings (made apart); then that storage's size.
    private let outputPlaces: [(value: Int, offset: Int, bytes: Int, strings: Bool)]
    private let outputBytes: Int
    /// The steps' value ids, input ids then output ids per step.
    private let operands: AlignedBuffer
    private let pool = Mutex<[Arena]>([])

    /// Builds the plan: shape inference, early evaluation of nodes whose inputs are all known, buffer
    /// assignment by liveness with in-place reuse.
    init(graph: Graph, inputShapes: [[Int]]) throws(EngineError) {
        let valueCount = graph.valueNames.count
        var types = [ValueType?](repeating: nil, count: valueCount)
        var known: [Int: Constant] = graph.constants
        for (id, constant) in graph.constants { types[id] = constant.type }
        for (index, input) in graph.inputs.enumerated() {
            let shape = inputShapes[index]
            guard let count = checkedProduct(shape), count.multipliedReportingOverflow(by: 8).overflow == false,
                count * 8 <= maxPlannedBytes
            else { throw EngineError(.invalidInput, "input '\(input.name)' of shape \(shape) is too large to plan") }
            types[input.value] = ValueType(dtype: input.dtype, shape: shape)
        }

        struct Pending {
            var node: Node
            var plan: OpPlan
        }
        var pending: [Pending] = []
        let scratchSlots = SlotTable(count: valueCount)
        for (position, node) in graph.nodes.enumerated() {
            let plan: OpPlan
            do {
                plan = try Self.plan(node, graph: graph, types: &types, known: known)
            } catch  where error.needsRuntimeValue {
                throw EngineError(error.code, error.message, cause: RuntimeValueNeeded(node: position))
            }
            let isStatic = !node.op.readsInputData || node.inputs.allSatisfy { $0 == nil || known[$0!] != nil }
            if isStatic {
                try Self.evaluate(node, plan, types: types, known: &known, slots: scratchSlots)
            } else {
                pending.append(Pending(node: node, plan: plan))
            }
        }
        let outputTypes = try Self.outputTypes(graph, types)

        // Liveness: the step after which each value is no longer read.
        let outputSet = Set(graph.outputs.map(\.value))
        var lastUse = [Int](repeating: -1, count: valueCount)
        for (step, entry) in pending.enumerated() {
            for input in entry.node.inputs.compactMap({ $0 }) { lastUse[input] = step }
            for output in entry.node.outputs.compactMap({ $0 }) where lastUse[output] < step { lastUse[output] = step }
        }
        for value in outputSet { lastUse[value] = Int.max }

        // Roots: aliases and in-place outputs share their input's buffer.
        var constantList: [Constant] = []
        var places = [Place](repeating: .unused, count: valueCount)
        for (id, constant) in known {
            places[id] = .constant(constantList.count)
            constantList.append(constant)
        }
        for (index, input) in graph.inputs.enumerated() { places[input.value] = .input(index) }
        var root = Array(0..<valueCount)
        var rootLastUse = lastUse
        for (step, entry) in pending.enumerated() {
            guard let out = entry.node.outputs.first ?? nil else { continue }
            var shared: Int? = nil
            if let alias = entry.plan.alias, let input = entry.node.inputs[alias] {
                shared = root[input]
            } else if let position = entry.plan.inPlace, position < entry.node.inputs.count,
                let input = entry.node.inputs[position]
            {
                let candidate = root[input]
                let othersShare = entry.node.inputs.enumerated().contains {
                    $0.offset != position && $0.element.map { root[$0] } == candidate
                }
                if case .unused = places[candidate], !outputSet.contains(candidate), rootLastUse[candidate] == step,
                    types[candidate]?.byteCount == types[out]?.byteCount, !othersShare
                {
                    shared = candidate
                }
            }
            if let shared {
                root[out] = shared
                rootLastUse[shared] = max(rootLastUse[shared], lastUse[out])
            }
        }

        // Offsets: first fit over a free list, in step order. Staging space for inputs whose bytes arrive
        // misaligned comes first and stays reserved.
        var allocator = OffsetAllocator()
        var inputs: [(value: Int, staging: Int, bytes: Int, strings: Bool)] = []
        for input in graph.inputs {
            let bytes = types[input.value]!.byteCount
            inputs.append((input.value, allocator.allocate(bytes), bytes, input.dtype == .bytes))
        }
        var offsets: [Int: Int] = [:]
        let operandCount = pending.reduce(0) { $0 + $1.node.inputs.count + $1.node.outputs.count }
        let operands = AlignedBuffer(count: operandCount * MemoryLayout<Int>.stride)
        var operand = operands.pointer.bindMemory(to: Int.self, capacity: operandCount)
        /// Copies `ids` (-1 for an omitted value) into `operands`.
        func place(_ ids: [Int?]) -> UnsafeBufferPointer<Int> {
            let start = operand
            for id in ids {
                operand.initialize(to: id ?? -1)
                operand += 1
            }
            return UnsafeBufferPointer(start: start, count: ids.count)
        }
        var steps: [Step] = []
        var releaseAt: [Int: [Int]] = [:]  // step -> roots
        for (step, entry) in pending.enumerated() {
            for output in entry.node.outputs.compactMap({ $0 }) where root[output] == output {
                let size = types[output]!.byteCount
                offsets[output] = allocator.allocate(size)
                let end = rootLastUse[output] == Int.max ? Int.max : max(rootLastUse[output], step)
                releaseAt[end, default: []].append(output)
            }
            var scratchOffset = 0
            if entry.plan.scratch > 0 { scratchOffset = allocator.allocate(entry.plan.scratch) }
            steps.append(
                Step(
                    kernel: entry.plan.kernel,
                    ins: place(entry.node.inputs),
                    outs: place(entry.node.outputs),
                    scratchOffset: scratchOffset
                )
            )
            if entry.plan.scratch > 0 { allocator.release(scratchOffset, entry.plan.scratch) }
            for value in releaseAt[step] ?? [] { allocator.release(offsets[value]!, types[value]!.byteCount) }
        }
        var inputAliases: [(value: Int, root: Int)] = []
        for value in 0..<valueCount where types[value] != nil {
            let base = root[value]
            if base != value {
                switch places[base] {
                case .input: inputAliases.append((value, base))
                case .constant(let index): places[value] = .constant(index)
                default: break
                }
                if let offset = offsets[base] { places[value] = .arena(offset) }
            } else if case .unused = places[value], let offset = offsets[value] {
                places[value] = .arena(offset)
            }
        }
        guard allocator.high <= maxPlannedBytes else {
            throw EngineError(
                .invalidInput,
                "the plan needs \(allocator.high >> 20) MiB of buffers, over the \(maxPlannedBytes >> 30) GiB limit"
            )
        }
        self.steps = steps
        self.operands = operands
        self.places = places
        self.constants = constantList
        self.arenaSize = allocator.high
        self.inputs = inputs
        self.inputAliases = inputAliases
        self.outputTypes = outputTypes
        var outputPlaces: [(value: Int, offset: Int, bytes: Int, strings: Bool)] = []
        var outputBytes = 0
        for (output, type) in zip(graph.outputs, outputTypes) {
            let strings = type.dtype == .bytes
            outputPlaces.append((output.value, outputBytes, type.byteCount, strings))
            if !strings { outputBytes += alignUp(type.byteCount) }
        }
        self.outputPlaces = outputPlaces
        self.outputBytes = outputBytes
    }

    /// Plans one node on its inputs' types (and data, where known) and records its outputs' types.
    private static func plan(
        _ node: Node,
        graph: Graph,
        types: inout [ValueType?],
        known: [Int: Constant]
    )
        throws(EngineError) -> OpPlan
    {
        let context = PlanContext(
            node: node.name,
            opType: node.opType,
            inputs: node.inputs.map { $0.flatMap { types[$0] } },
            constants: node.inputs.map { $0.flatMap { known[$0] } },
            outputCount: node.outputs.count
        )
        let refusal = "string tensors are not supported by this operator"
        if !node.op.acceptsStrings && context.inputs.contains(where: { $0?.dtype == .bytes }) {
            throw context.error(refusal, .unsupportedOperator)
        }
        let plan = try node.op.plan(context)
        if !node.op.acceptsStrings && plan.outputs.contains(where: { $0.dtype == .bytes }) {
            throw context.error(refusal, .unsupportedOperator)
        }
        guard plan.outputs.count >= node.outputs.count else {
            throw context.error(
                "has \(node.outputs.count) outputs; at most \(plan.outputs.count) are supported",
                .unsupportedOperator
            )
        }
        for type in plan.outputs {
            guard let count = checkedProduct(type.shape), count <= maxPlannedBytes / 8, plan.scratch <= maxPlannedBytes
            else {
                throw context.error("output shape \(type.shape) is too large (over \(maxPlannedBytes >> 30) GiB)")
            }
        }
        for (position, output) in node.outputs.enumerated() {
            guard let output else { continue }
            let type = plan.outputs[position]
            if let declared = graph.declaredTypes[output], declared != type.dtype {
                throw context.error(
                    "output '\(graph.name(output))' is declared \(declared) in value_info but computes \(type.dtype)"
                )
            }
            types[output] = type
        }
        return plan
    }

    /// The graph outputs' types, checked against what the file declares.
    private static func outputTypes(_ graph: Graph, _ types: [ValueType?]) throws(EngineError) -> [ValueType] {
        var outputTypes: [ValueType] = []
        for output in graph.outputs {
            guard let type = types[output.value] else {
                throw EngineError(.invalidModel, "graph output '\(output.name)' is never computed")
            }
            if let dtype = output.dtype, dtype != type.dtype {
                throw EngineError(
                    .shapeMismatch,
                    "graph output '\(output.name)' is declared \(dtype) but computes \(type.dtype)"
                )
            }
            if let dims = output.dims {
                // A batch dimension declared as 1 on a graph with a dynamic batch is a converter's slip (onnxmltools
                // writes [1] for LightGBM labels); onnxruntime only warns, so the batch follows the inputs here.
                let batched = graph.inputs.contains { $0.dims.first == .some(nil) }
                let agrees =
                    dims.count == type.shape.count
                    && zip(dims, type.shape).enumerated().allSatisfy { axis, pair in
                        pair.0 == nil || pair.0 == pair.1 || (axis == 0 && batched && pair.0 == 1)
                    }
                guard agrees else {
                    let declared = "[" + dims.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]"
                    throw EngineError(
                        .shapeMismatch,
                        "graph output '\(output.name)' is declared \(declared) but computes \(type.shape)"
                    )
                }
            }
            outputTypes.append(type)
        }
        return outputTypes
    }

    /// Runs a node whose inputs are all known now, storing its outputs as constants.
    private static func evaluate(
        _ node: Node,
        _ plan: OpPlan,
        types: [ValueType?],
        known: inout [Int: Constant],
        slots: SlotTable
    ) throws(EngineError) {
        for input in node.inputs.compactMap({ $0 }) {
            if let constant = known[input] { slots.pointer[input] = constant.buffer.pointer }
        }
        // String outputs may point at the inputs' strings, the operator's (labels) or new ones: their heap keeps
        // all of them alive.
        let strings = StringHeap()
        if node.outputs.contains(where: { $0.flatMap { types[$0] }?.dtype == .bytes }) {
            strings.keep(node.op)
            for input in node.inputs.compactMap({ $0 }) {
                if let heap = known[input]?.strings { strings.keep(heap) }
            }
        }
        var produced: [(Int, Constant)] = []
        for (position, output) in node.outputs.enumerated() {
            guard let output, let type = types[output] else { continue }
            if position == 0, let alias = plan.alias, let input = node.inputs[alias], let source = known[input] {
                produced.append((output, Constant(type: type, buffer: source.buffer, strings: source.strings)))
                slots.pointer[output] = source.buffer.pointer
            } else {
                let buffer = AlignedBuffer(count: type.byteCount)
                if type.dtype == .bytes {
                    for index in 0..<type.count { StringElements.set(buffer.pointer, index, StringElements.empty) }
                }
                produced.append(
                    (output, Constant(type: type, buffer: buffer, strings: type.dtype == .bytes ? strings : nil))
                )
                slots.pointer[output] = buffer.pointer
            }
        }
        let scratch = AlignedBuffer(count: plan.scratch)
        let ins = node.inputs.map { $0 ?? -1 }
        let outs = node.outputs.map { $0 ?? -1 }
        try ins.withUnsafeBufferPointer { ins throws(EngineError) in
            try outs.withUnsafeBufferPointer { outs throws(EngineError) in
                try plan.kernel(
                    IO(slots: slots.pointer, ins: ins, outs: outs, scratch: scratch.pointer, strings: strings)
                )
            }
        }
        withExtendedLifetime((scratch, strings)) {}
        for (id, constant) in produced { known[id] = constant }
    }

    /// Runs the graph node by node, each planned on its inputs' data: the path for shapes that depend on a
    /// request's values (a Reshape to a computed shape, NonZero). A value is freed after its last reader.
    static func runEagerly(
        graph: Graph,
        inputs: [(shape: [Int], data: ByteView)]
    ) throws(EngineError) -> (
        types: [ValueType], storages: [ByteStorage]
    ) {
        var values: [Constant] = []
        for (index, input) in graph.inputs.enumerated() {
            let type = ValueType(dtype: input.dtype, shape: inputs[index].shape)
            let data = inputs[index].data
            if input.dtype == .bytes {
                let buffer = AlignedBuffer(count: type.byteCount)
                let indexed = data.withUnsafeBytes {
                    StringElements.index(wire: $0, count: type.count, into: buffer.pointer)
                }
                guard indexed else { throw EngineError(.invalidInput, "input '\(input.name)' holds malformed strings") }
                let heap = StringHeap()
                heap.keep(data.storage)
                values.append(Constant(type: type, buffer: buffer, strings: heap))
            } else {
                let buffer = data.withUnsafeBytes { AlignedBuffer(copying: $0) }
                values.append(Constant(type: type, buffer: buffer))
            }
        }
        let results = try Self.evaluateEagerly(graph: graph, inputs: values)
        var storages: [ByteStorage] = []
        for constant in results {
            let bytes = constant.type.byteCount
            if constant.type.dtype == .bytes {
                storages.append(StringElements.wire(constant.buffer.pointer, count: constant.type.count))
                continue
            }
            storages.append(
                ByteStorage(count: bytes) { target in
                    if bytes > 0 { target.baseAddress!.copyMemory(from: constant.buffer.pointer, byteCount: bytes) }
                }
            )
        }
        return (results.map(\.type), storages)
    }

    /// Runs the graph node by node on input values (one per graph input, of the graph's types) and returns
    /// its outputs: the eager path of ``runEagerly(graph:inputs:)`` and the way control flow runs a subgraph.
    static func evaluateEagerly(graph: Graph, inputs: [Constant]) throws(EngineError) -> [Constant] {
        let valueCount = graph.valueNames.count
        var types = [ValueType?](repeating: nil, count: valueCount)
        var known: [Int: Constant] = graph.constants
        for (id, constant) in graph.constants { types[id] = constant.type }
        for (index, input) in graph.inputs.enumerated() {
            known[input.value] = inputs[index]
            types[input.value] = inputs[index].type
        }
        let keep = Set(graph.outputs.map(\.value))
        var lastUse = [Int](repeating: -1, count: valueCount)
        for (step, node) in graph.nodes.enumerated() {
            for input in node.inputs.compactMap({ $0 }) { lastUse[input] = step }
        }
        let slots = SlotTable(count: valueCount)
        for (step, node) in graph.nodes.enumerated() {
            let plan = try Self.plan(node, graph: graph, types: &types, known: known)
            try Self.evaluate(node, plan, types: types, known: &known, slots: slots)
            for value in (node.inputs + node.outputs).compactMap({ $0 })
            where lastUse[value] <= step && !keep.contains(value) {
                known[value] = nil
            }
        }
        _ = try Self.outputTypes(graph, types)
        var results: [Constant] = []
        for output in graph.outputs {
            guard let constant = known[output.value] else {
                throw EngineError(.invalidModel, "graph output '\(output.name)' is never computed")
            }
            results.append(constant)
        }
        return results
    }

    /// Runs the plan on the inputs' bytes; returns one view per graph output (all but string outputs in one storage).
    func run(_ inputs: [ByteView]) throws(EngineError) -> [ByteView] {
        var results: [ByteView] = []
        results.reserveCapacity(self.outputPlaces.count)
        try inputs.withUnsafeBufferPointer { inputs throws(EngineError) in
            try self.run(inputs) { _, view in results.append(view) }
        }
        return results
    }

    /// Runs the plan on the inputs' bytes, handing each graph output's view to `output` in graph order (all but
    /// string outputs share one storage).
    func run(
        _ inputs: UnsafeBufferPointer<ByteView>,
        output: (Int, ByteView) throws(EngineError) -> Void
    ) throws(EngineError) {
        let arena = self.pool.withLock { $0.popLast() } ?? Arena(plan: self)
        defer {
            arena.strings.reset()
            self.pool.withLock { $0.append(arena) }
        }
        let slots = arena.slots
        for (index, input) in self.inputs.enumerated() {
            let view = inputs[index]
            let pointer = view.withUnsafeBytes { $0.baseAddress }
            if input.strings {
                let staging = arena.buffer.pointer + input.staging
                let indexed = view.withUnsafeBytes {
                    StringElements.index(wire: $0, count: input.bytes / 8, into: staging)
                }
                guard indexed else { throw EngineError(.invalidInput, "input \(index) holds malformed strings") }
                slots[input.value] = staging
            } else if let pointer, Int(bitPattern: pointer) % 8 == 0 {
                slots[input.value] = UnsafeMutableRawPointer(mutating: pointer)  // kernels never write graph inputs
            } else {
                let staging = arena.buffer.pointer + input.staging
                view.withUnsafeBytes { raw in
                    if raw.count > 0 { staging.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                }
                slots[input.value] = staging
            }
        }
        for alias in self.inputAliases { slots[alias.value] = slots[alias.root] }
        let scratchBase = arena.buffer.pointer
        let strings = arena.strings
        // Steps are read in place (a copy of each would retain and release its kernel's context).
        try self.steps.withUnsafeBufferPointer { steps throws(EngineError) in
            for index in steps.indices {
                try steps[index].kernel(
                    IO(
                        slots: slots,
                        ins: steps[index].ins,
                        outs: steps[index].outs,
                        scratch: scratchBase + steps[index].scratchOffset,
                        strings: strings
                    )
                )
            }
        }
        let storage = ByteStorage(uninitializedCount: self.outputBytes) { target in
            for place in self.outputPlaces where !place.strings && place.bytes > 0 {
                (target.baseAddress! + place.offset).copyMemory(from: slots[place.value], byteCount: place.bytes)
            }
        }
        for (index, place) in self.outputPlaces.enumerated() {
            // Strings may point into the inputs, which the caller keeps alive until this returns.
            let view =
                place.strings
                ? ByteView(storage: StringElements.wire(UnsafeRawPointer(slots[place.value]), count: place.bytes / 8))
                : ByteView(storage: storage, offset: place.offset, count: place.bytes)
            try output(index, view)
        }
    }

    /// Number of arenas made so far (for tests of reuse).
    var pooledArenas: Int { self.pool.withLock { $0.count } }
}

/// One inference's memory: the arena and the table of every value's address in it.
final class Arena: @unchecked Sendable {
    let buffer: AlignedBuffer
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Strings the kernels make during one run; emptied when the run ends.
    let strings = StringHeap()
    private let count: Int

    init(plan: ExecutionPlan) {
        self.buffer = AlignedBuffer(count: plan.arenaSize)
        self.count = max(plan.places.count, 1)
        self.slots = .allocate(capacity: self.count)
        self.slots.initialize(repeating: self.buffer.pointer, count: self.count)
        for (value, place) in plan.places.enumerated() {
            switch place {
            case .constant(let index): self.slots[value] = plan.constants[index].buffer.pointer
            case .arena(let offset): self.slots[value] = self.buffer.pointer + offset
            case .unused, .input: break
            }
        }
    }

    deinit { self.slots.deallocate() }
}

/// A table of value addresses for evaluating nodes outside an arena.
final class SlotTable {
    let pointer: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let placeholder = AlignedBuffer(count: 64)

    init(count: Int) {
        self.pointer = .allocate(capacity: max(count, 1))
        self.pointer.initialize(repeating: self.placeholder.pointer, count: max(count, 1))
    }

    deinit { self.pointer.deallocate() }
}

/// First-fit allocation of byte ranges with coalescing, to lay out an arena.
struct OffsetAllocator {
    private var free: [(offset: Int, size: Int)] = []
    private(set) var high = 0

    mutating func allocate(_ bytes: Int) -> Int {
        let size = alignUp(max(bytes, 1))
        if let index = self.free.firstIndex(where: { $0.size >= size }) {
            let block = self.free[index]
            if block.size == size {
                self.free.remove(at: index)
            } else {
                self.free[index] = (block.offset + size, block.size - size)
            }
            return block.offset
        }
        // Grow, starting inside a free block at the end if there is one.
        if let last = self.free.last, last.offset + last.size == self.high {
            self.free.removeLast()
            self.high = last.offset + size
            return last.offset
        }
        let offset = self.high
        self.high += size
        return offset
    }

    mutating func release(_ offset: Int, _ bytes: Int) {
        let size = alignUp(max(bytes, 1))
        let index = self.free.firstIndex { $0.offset > offset } ?? self.free.count
        self.free.insert((offset, size), at: index)
        if index + 1 < self.free.count, self.free[index].offset + self.free[index].size == self.free[index + 1].offset {
            self.free[index].size += self.free[index + 1].size
            self.free.remove(at: index + 1)
        }
        if index > 0, self.free[index - 1].offset + self.free[index - 1].size == self.free[index].offset {
            self.free[index - 1].size += self.free[index].size
            self.free.remove(at: index)
        }
    }
}
