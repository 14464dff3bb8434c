public import SwitchyardTensor
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A loaded ONNX model, ready to run: graph checked, operators built, shapes inferred, fused.
///
/// `run` is synchronous and CPU-bound; it is safe to call from many threads or tasks at once (each
/// inference takes its own arena from a pool). Execution plans are made once per distinct set of
/// input shapes (so once per batch size) and cached.
public final class Model: Sendable {
    /// Where the model came from (a path or a name), used in messages.
    public let source: String
    /// The inputs the caller provides.
    public let inputs: [TensorInfo]
    /// The outputs, in graph order; dynamic dimensions are `nil`.
    public let outputs: [TensorInfo]
    /// Opsets, producer, operators and parameter count.
    public let summary: ModelSummary
    /// The largest batch `run` accepts (`1` when the graph only works for batch 1), or `nil` for no limit.
    public let maxBatchSize: Int?

    /// The graph as planned (after fusion); internal for tests that check which steps a model became.
    let graph: Graph
    private let options: ModelOptions
    private let plans = Mutex<PlanCache>(PlanCache())

    /// Loads a model file.
    /// - Parameters:
    ///   - path: the `.onnx` file.
    ///   - options: fusion, plan cache size, batch limit.
    /// - Throws: `EngineError` with `.io`, `.invalidModel`, `.unsupportedOperator`, `.unsupportedModel` or
    ///   `.shapeMismatch`; the message names the file and what is wrong.
    public convenience init(contentsOf path: String, options: ModelOptions = ModelOptions()) throws(EngineError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            let isDirectory = (try? FileManager.default.contentsOfDirectory(atPath: path)) != nil
            let reason = !exists ? "no such file" : (isDirectory ? "it is a directory" : "it cannot be read")
            throw EngineError(.io, "\(path): cannot read the model: \(reason)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try self.init(bytes: [UInt8](data), source: path, directory: directory, options: options)
    }

    /// Loads a model from the bytes of an `.onnx` file.
    /// - Parameters:
    ///   - bytes: the serialized `ModelProto`.
    ///   - source: a name for messages.
    ///   - directory: the model's folder, where tensors saved as external data are read; `nil` refuses them.
    ///   - options: fusion, plan cache size, batch limit.
    /// - Throws: `EngineError` as for ``init(contentsOf:options:)``.
    public init(
        bytes: [UInt8],
        source: String = "model",
        directory: String? = nil,
        options: ModelOptions = ModelOptions()
    ) throws(EngineError) {
        _ = BLAS.defaults  // the thread team takes over from OpenBLAS's own threads before any kernel runs
        var graph = try GraphLoader.load(bytes: bytes, source: source, directory: directory)
        var operators: [String: Int] = [:]
        for node in graph.nodes {
            operators[node.domain.isEmpty ? node.opType : "\(node.domain).\(node.opType)", default: 0] += 1
        }
        let nodeCount = graph.nodes.count + 0
        let parameterCount = graph.constants.values.reduce(0) { $0 + $1.type.count }
        HalfPrecision.widen(&graph)
        if options.fuse {
            Fusion.fuseDynamicQuantizedLinear(&graph)
            Fusion.fuseDynamicQuantizedConv(&graph, oneDNN: options.oneDNNConvolution)
            Fusion.fuseQuantizedConv(&graph, oneDNN: options.oneDNNConvolution)
            Fusion.fuseQuantizedMatMul(&graph)
            Fusion.fuseQuantizedLookup(&graph)
            Fusion.apply(&graph)
            Fusion.pretransposeWeights(&graph)
        }
        PackedWeights.adopt(&graph, convolutions: options.oneDNNConvolution, gemm: options.oneDNNMatMul)
        if options.oneDNNConvolution && options.channelsLast { ChannelsLast.apply(&graph) }
        self.source = source
        self.graph = graph
        self.options = options
        self.inputs = graph.inputs.map { TensorInfo(name: $0.name, dtype: $0.dtype, dims: $0.dims) }

        // Plan once at batch 1 and 2 now, so a broken graph fails at load, not at the first request,
        // and so the outputs' dynamic dimensions are known. Other dynamic dimensions (a sequence length)
        // are planned at 1: an operator that cannot run fails the load, a shape that may suit other sizes
        // is left to the request.
        var outputs = graph.outputs.map { TensorInfo(name: $0.name, dtype: $0.dtype ?? .float32, dims: $0.dims ?? []) }
        var maxBatch = options.maxBatchSize
        var planned = graph.nodes.count
        let plannable = graph.inputs.allSatisfy { $0.dims.dropFirst().allSatisfy { $0 != nil } }
        func shapes(_ batch: Int) -> [[Int]] {
            graph.inputs.map { input in input.dims.enumerated().map { $0.element ?? ($0.offset == 0 ? batch : 1) } }
        }
        do {
            let one = try ExecutionPlan(graph: graph, inputShapes: shapes(1))
            planned = one.steps.count
            let batched = graph.inputs.contains { $0.dims.first == .some(nil) }
            var two: ExecutionPlan? = nil
            if batched && plannable {
                do { two = try ExecutionPlan(graph: graph, inputShapes: shapes(2)) } catch { maxBatch = 1 }
            }
            if plannable {
                outputs = zip(graph.outputs, one.outputTypes).enumerated().map { index, pair in
                    let dims: [Int?] = pair.1.shape.enumerated().map { axis, dim in
                        guard let two, axis < two.outputTypes[index].shape.count else { return dim }
                        return two.outputTypes[index].shape[axis] == dim ? dim : nil
                    }
                    return TensorInfo(name: pair.0.name, dtype: pair.1.dtype, dims: dims)
                }
            } else {
                outputs = zip(graph.outputs, one.outputTypes).map { output, type in
                    TensorInfo(name: output.name, dtype: type.dtype, dims: output.dims ?? type.shape.map { _ in nil })
                }
            }
            self.plans.withLock { cache in
                cache.insert(.planned(one), for: shapes(1), capacity: options.planCacheCapacity)
                if let two { cache.insert(.planned(two), for: shapes(2), capacity: options.planCacheCapacity) }
            }
        } catch  where error.needsRuntimeValue {
            // Shapes follow the request's data: such requests run node by node.
        } catch  where !plannable && error.code != .unsupportedOperator {
            // Perhaps only the guessed dimensions do not fit: the request's own shapes decide.
        } catch {
            throw EngineError(error.code, "\(source): \(error.message)", cause: error.cause)
        }
        self.outputs = outputs
        self.maxBatchSize = maxBatch
        self.summary = ModelSummary(
            opsetVersion: graph.opsetVersion,
            mlOpsetVersion: graph.mlOpsetVersion,
            irVersion: graph.irVersion,
            producer: graph.producer,
            operators: operators,
            nodeCount: nodeCount,
            plannedNodeCount: planned,
            parameterCount: parameterCount
        )
    }

    /// Runs one inference.
    /// - Parameters:
    ///   - inputs: one tensor per model input, by name; the first dimension is the batch.
    ///   - outputNames: the outputs wanted, in this order; `nil` for all, in graph order.
    /// - Returns: the outputs, each in fresh storage.
    /// - Throws: `EngineError` `.invalidInput` for a missing, unknown, wrongly typed or wrongly shaped
    ///   input or a batch over the limit; `.notFound` for an unknown output name.
    public func run(_ inputs: [NamedTensor], outputNames: [String]? = nil) throws(EngineError) -> [NamedTensor] {
        // The inputs' positions in `inputs` and their aligned bytes, in the model's input order, live on the stack:
        // a call of a small model allocates only its outputs and the array that returns them.
        let count = max(self.inputs.count, 1)
        return try withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { positions throws(EngineError) in
            try withUnsafeTemporaryAllocation(of: ByteView.self, capacity: count) { data throws(EngineError) in
                let checked = try self.check(inputs, positions: positions, data: data)
                defer { _ = data.prefix(checked).deinitialize() }
                return try self.run(inputs, positions: positions, data: UnsafeBufferPointer(data), outputNames)
            }
        }
    }

    private func run(
        _ inputs: [NamedTensor],
        positions: UnsafeMutableBufferPointer<Int>,
        data: UnsafeBufferPointer<ByteView>,
        _ outputNames: [String]?
    ) throws(EngineError) -> [NamedTensor] {
        let entry = try self.plan { index in inputs[positions[index]].tensor.shape.dims }
        var results: [NamedTensor] = []
        results.reserveCapacity(outputNames?.count ?? self.outputs.count)
        if case .planned(let plan) = entry, outputNames == nil {
            let types = plan.outputTypes
            try plan.run(data) { index, view throws(EngineError) in
                results.append(try self.output(index, types[index], view))
            }
            return results
        }
        let types: [ValueType]
        var views: [ByteView] = []
        let shaped = self.inputs.indices.map { (shape: inputs[positions[$0]].tensor.shape.dims, data: data[$0]) }
        switch entry {
        case .planned(let plan):
            types = plan.outputTypes
            try plan.run(data) { _, view in views.append(view) }
        case .split(let plan):
            do {
                let storages: [ByteStorage]
                (types, storages) = try plan.run(shaped)
                views = storages.map { ByteView(storage: $0) }
            } catch {
                throw EngineError(.invalidInput, "the inputs do not fit the graph: \(error.message)", cause: error)
            }
        case .eager:
            do {
                let storages: [ByteStorage]
                (types, storages) = try ExecutionPlan.runEagerly(graph: self.graph, inputs: shaped)
                views = storages.map { ByteView(storage: $0) }
            } catch {
                throw EngineError(.invalidInput, "the inputs do not fit the graph: \(error.message)", cause: error)
            }
        }
        guard let outputNames else {
            for index in self.outputs.indices { results.append(try self.output(index, types[index], views[index])) }
            return results
        }
        for name in outputNames {
            guard let index = self.outputs.firstIndex(where: { $0.name == name }) else {
                let known = self.outputs.map(\.name).joined(separator: ", ")
                throw EngineError(.notFound, "the model has no output '\(name)' (outputs: \(known))")
            }
            var tensor = try self.output(index, types[index], views[index])
            tensor.name = name
            results.append(tensor)
        }
        return results
    }

    /// Output `index` as a named tensor.
    private func output(_ index: Int, _ type: ValueType, _ view: ByteView) throws(EngineError) -> NamedTensor {
        let name = self.outputs[index].name
        do {
            return NamedTensor(name, try Tensor(dtype: type.dtype, shape: Shape(type.shape), data: view))
        } catch {
            throw EngineError(.invalidModel, "output '\(name)' could not be formed: \(error.message)")
        }
    }

    /// Runs zero-filled inputs at each batch size so plans, arenas and OpenBLAS's buffers exist before
    /// the first real request.
    /// - Parameter batchSizes: the batch sizes to prepare (sizes over ``maxBatchSize`` are skipped).
    /// - Throws: `EngineError` when the model cannot run at one of the sizes.
    public func warmUp(batchSizes: [Int] = [1]) throws(EngineError) {
        for batch in batchSizes where batch >= 1 && batch <= (self.maxBatchSize ?? Int.max) {
            var tensors: [NamedTensor] = []
            for input in self.inputs {
                // unknown sizes: nothing to warm
                guard input.dims.dropFirst().allSatisfy({ $0 != nil }) else { return }
                let dims = input.dims.enumerated().map { $0.offset == 0 ? ($0.element ?? batch) : $0.element! }
                // A string element is its u32 length: zeros are empty strings.
                let bytes = dims.reduce(1, *) * (input.dtype.byteWidth ?? 4)
                let storage = ByteStorage(count: bytes) { _ in }
                do {
                    tensors.append(
                        NamedTensor(
                            input.name,
                            try Tensor(dtype: input.dtype, shape: Shape(dims), data: ByteView(storage: storage))
                        )
                    )
                } catch {
                    throw EngineError(.invalidInput, error.message)
                }
            }
            _ = try self.run(tensors)
        }
    }

    /// How many nodes run as planned kernels for inputs of `shapes` (the rest, whose shapes depend on the request's
    /// data, are planned node by node per request), or `nil` before a request of those shapes has run.
    func plannedNodeCount(for shapes: [[Int]]) -> Int? {
        switch self.plans.withLock({ $0.plans[shapes] }) {
        case .planned(let plan): plan.steps.count
        case .split(let plan): plan.plannedNodeCount
        case .eager: 0
        case nil: nil
        }
    }

    /// The number of execution plans currently cached.
    public var cachedPlanCount: Int { self.plans.withLock { $0.plans.count } }

    /// The plan for inputs whose shapes `shape` gives by input index.
    private func plan(shape dims: (Int) -> [Int]) throws(EngineError) -> PlanCache.Entry {
        let count = self.inputs.count
        if let plan = self.plans.withLock({ $0.latest(count: count, dims) }) { return plan }
        return try self.plan(for: (0..<count).map(dims))
    }

    private func plan(for shapes: [[Int]]) throws(EngineError) -> PlanCache.Entry {
        if let plan = self.plans.withLock({ $0.lookup(shapes) }) { return plan }
        let plan: PlanCache.Entry
        do {
            plan = .planned(try ExecutionPlan(graph: self.graph, inputShapes: shapes))
        } catch  where error.needsRuntimeValue {
            // The nodes before the first data-dependent one are planned once; the rest runs node by node.
            do {
                let index = self.options.planStaticPrefix ? error.runtimeValueNode : nil
                let split = try index.flatMap { index throws(EngineError) in
                    try SplitPlan(graph: self.graph, inputShapes: shapes, at: index)
                }
                plan = split.map { .split($0) } ?? .eager
            } catch {
                plan = .eager
            }
        } catch {
            let text = zip(self.inputs, shapes).map { "\($0.name) \($1)" }.joined(separator: ", ")
            throw EngineError(
                .invalidInput,
                "inputs of shape \(text) do not fit the graph: \(error.message)",
                cause: error
            )
        }
        self.plans.withLock { $0.insert(plan, for: shapes, capacity: self.options.planCacheCapacity) }
        return plan
    }

    /// Checks the inputs against the model; writes, in the model's input order, each one's position in `tensors` and
    /// its bytes (aligned) to `positions` and `data` (initializing it). Returns how many views it initialized (all, when
    /// it does not throw).
    private func check(
        _ tensors: [NamedTensor],
        positions: UnsafeMutableBufferPointer<Int>,
        data: UnsafeMutableBufferPointer<ByteView>
    ) throws(EngineError) -> Int {
        // Elements are read in place: copying a NamedTensor or a TensorInfo to look at one field retained and released
        // every reference it holds, which was a tenth of a small model's call.
        try tensors.withUnsafeBufferPointer { tensors throws(EngineError) in
            try self.inputs.withUnsafeBufferPointer { inputs throws(EngineError) in
                try self.check(tensors, inputs, positions: positions, data: data)
            }
        }
    }

    private func check(
        _ tensors: UnsafeBufferPointer<NamedTensor>,
        _ inputs: UnsafeBufferPointer<TensorInfo>,
        positions: UnsafeMutableBufferPointer<Int>,
        data: UnsafeMutableBufferPointer<ByteView>
    ) throws(EngineError) -> Int {
        for index in tensors.indices where !inputs.contains(where: { $0.name == tensors[index].name }) {
            let known = inputs.map(\.name).joined(separator: ", ")
            throw EngineError(.invalidInput, "the model has no input '\(tensors[index].name)' (inputs: \(known))")
        }
        var initialized = 0
        defer { if initialized < inputs.count { _ = data.prefix(initialized).deinitialize() } }
        for position in inputs.indices {
            var first: Int? = nil
            var count = 0
            for index in tensors.indices where tensors[index].name == inputs[position].name {
                first = first ?? index
                count += 1
            }
            guard let first, count == 1 else {
                throw EngineError(
                    .invalidInput,
                    count == 0
                        ? "input '\(inputs[position].name)' is missing"
                        : "input '\(inputs[position].name)' is given \(count) times"
                )
            }
            let dtype = tensors[first].tensor.dtype
            guard dtype == inputs[position].dtype else {
                throw EngineError(
                    .invalidInput,
                    "input '\(inputs[position].name)' is \(dtype); the model needs \(inputs[position].dtype)"
                )
            }
            let rank = tensors[first].tensor.shape.rank
            guard rank == inputs[position].dims.count else {
                let shape = tensors[first].tensor.shape
                throw EngineError(
                    .invalidInput,
                    "input '\(inputs[position].name)' has rank \(rank) \(shape); the model needs rank \(inputs[position].dims.count) \(inputs[position].shapeText)"
                )
            }
            for axis in 0..<rank {
                let dim = inputs[position].dims[axis]
                let given = tensors[first].tensor.shape[axis]
                if let dim, given != dim {
                    let what = axis == rank - 1 && axis > 0 ? " (features)" : ""
                    throw EngineError(
                        .invalidInput,
                        "input '\(inputs[position].name)' dimension \(axis)\(what) is \(given); the model needs \(dim) \(inputs[position].shapeText)"
                    )
                }
            }
            if rank > 0, inputs[position].dims[0] == nil {
                let batch = tensors[first].tensor.shape[0]
                guard batch >= 1 else {
                    throw EngineError(.invalidInput, "input '\(inputs[position].name)' has an empty batch")
                }
                if let limit = self.maxBatchSize, batch > limit {
                    throw EngineError(
                        .invalidInput,
                        "input '\(inputs[position].name)' has batch \(batch); the limit is \(limit)"
                    )
                }
            }
            // kernels read typed elements in place: views of a received frame are copied when they are not aligned
            positions[position] = first
            data.initializeElement(at: position, to: tensors[first].tensor.data.aligned())
            initialized += 1
        }
        return initialized
    }
}

/// The plans of one model by input shapes, least recently used first out.
struct PlanCache {
    /// How requests of one set of shapes run.
    enum Entry {
        /// A plan made once: kernels in order over one arena.
        case planned(ExecutionPlan)
        /// Planned up to the first node whose shapes depend on the request's data, node by node from there.
        case split(SplitPlan)
        /// Node by node with every value known, because shapes depend on the request's data from the start.
        case eager
    }

    var plans: [[[Int]]: Entry] = [:]
    var order: [[[Int]]] = []
    /// The plan of `order.last`: a run of requests of one shape compares shapes instead of hashing them.
    private var latestEntry: Entry? = nil

    /// The most recently used plan when its shapes are those `dims` gives for inputs 0..<count.
    func latest(count: Int, _ dims: (Int) -> [Int]) -> Entry? {
        guard let latest = self.latestEntry, let shapes = self.order.last, shapes.count == count else { return nil }
        for index in 0..<count where shapes[index] != dims(index) { return nil }
        return latest
    }

    mutating func lookup(_ shapes: [[Int]]) -> Entry? {
        if let latest = self.latestEntry, self.order.last == shapes { return latest }
        guard let plan = self.plans[shapes] else { return nil }
        if let index = self.order.firstIndex(of: shapes) {
            self.order.remove(at: index)
            self.order.append(shapes)
        }
        self.latestEntry = plan
        return plan
    }

    mutating func insert(_ plan: Entry, for shapes: [[Int]], capacity: Int) {
        if self.plans[shapes] == nil { self.order.append(shapes) }
        self.plans[shapes] = plan
        while self.order.count > max(capacity, 1) { self.plans[self.order.removeFirst()] = nil }
        self.latestEntry = self.order.last.flatMap { self.plans[$0] }
    }
}
