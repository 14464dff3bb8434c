import SwitchyardTensor

/// Keeps CNN images channels-last (NHWC) between the layers that run on oneDNN, decided once at load: a value is
/// stored channels-last when the node making it and every node reading it can work on that layout (2-D convolutions
/// with held weights, max pooling, global average pooling, and elementwise operators whose other inputs are
/// scalars). Values keep their logical NCHW shapes in the plan, so shape inference and buffer planning are
/// unchanged; only the bytes are ordered N, H, W, C. Graph inputs and outputs, and values any other operator reads,
/// stay NCHW: a layer reads and writes NCHW at the edges of such a region itself, and the per-layer moves between
/// NCHW and oneDNN's layout inside it go away (mobilenet_v2: 52 convolutions, each moved in and out before).
enum ChannelsLast {
    /// Elementwise operators (with ONNX broadcasting) that may run on channels-last images as they are: their
    /// inputs' shapes are permuted to the stored order, so broadcasting between two such images stays correct.
    static let elementwise: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu",
        "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus", "Abs", "Neg", "Exp", "Sqrt",
    ]

    private enum Kind { case convolution, maxPool, globalAveragePool, elementwise }

    static func apply(_ graph: inout Graph) {
        guard OneDNN.isUsable else { return }
        var kinds: [Int: Kind] = [:]
        for (index, node) in graph.nodes.enumerated() where node.domain.isEmpty {
            let singleOutput = node.outputs.count == 1 || node.outputs.dropFirst().allSatisfy { $0 == nil }
            guard singleOutput, node.outputs.first.flatMap({ $0 }) != nil else { continue }
            switch node.op {
            case let conv as ConvOp where conv.weights?.type.shape.count == 4:
                kinds[index] = .convolution
            case let select as PoolSelectOp where select.fast?.isMax == true && node.outputs.count == 1:
                kinds[index] = .maxPool
            case is GlobalAveragePoolOp:
                kinds[index] = .globalAveragePool
            default:
                if Self.elementwise.contains(node.opType) { kinds[index] = .elementwise }
            }
        }
        guard kinds.values.contains(.convolution) else { return }
        var producer: [Int: Int] = [:]
        var readers: [Int: [(node: Int, position: Int)]] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for case let (position, value?) in node.inputs.enumerated() {
                readers[value, default: []].append((index, position))
            }
            for case let value? in node.outputs { producer[value] = index }
        }
        let graphOutputs = Set(graph.outputs.map(\.value))
        var members = Set(kinds.keys)
        var layout = Set<Int>()  // values stored channels-last
        while true {
            // A value is channels-last when its maker and every reader are members and read it as an image.
            layout = []
            for member in members where kinds[member] != .globalAveragePool {
                guard let value = graph.nodes[member].outputs[0], !graphOutputs.contains(value),
                    let reads = readers[value], !reads.isEmpty
                else { continue }
                let accepted = reads.allSatisfy { read in
                    guard members.contains(read.node), let kind = kinds[read.node] else { return false }
                    return kind == .elementwise || read.position == 0
                }
                if accepted { layout.insert(value) }
            }
            var dropped: [Int] = []
            for member in members {
                let node = graph.nodes[member]
                let input = node.inputs.first.flatMap { $0 }
                let output = node.outputs[0]!
                let keeps: Bool
                switch kinds[member]! {
                case .convolution:
                    keeps = input.map(layout.contains) == true || layout.contains(output)
                case .maxPool:
                    keeps = input.map(layout.contains) == true && layout.contains(output)
                case .globalAveragePool:
                    keeps = input.map(layout.contains) == true
                case .elementwise:
                    let inputsFit = node.inputs.allSatisfy { value in
                        guard let value else { return true }
                        return layout.contains(value) || graph.constants[value]?.type.count == 1
                    }
                    keeps =
                        inputsFit && node.inputs.contains { $0.map(layout.contains) == true }
                        && layout.contains(output)
                }
                if !keeps { dropped.append(member) }
            }
            if dropped.isEmpty { break }
            members.subtract(dropped)
        }
        for member in members {
            let node = graph.nodes[member]
            let input = node.inputs.first.flatMap { $0 }.map(layout.contains) == true
            switch node.op {
            case var conv as ConvOp:
                conv.sourceChannelsLast = input
                conv.resultChannelsLast = layout.contains(node.outputs[0]!)
                graph.nodes[member].op = conv
            case let select as PoolSelectOp:
                guard var pool = select.fast else { continue }
                pool.channelsLast = true
                graph.nodes[member].op = pool
            case var pool as GlobalAveragePoolOp:
                pool.channelsLast = true
                graph.nodes[member].op = pool
            default:
                graph.nodes[member].op = ChannelsLastElementwise(inner: node.op)
            }
        }
    }

    /// [N, C, H, W] → [N, H, W, C]: the order a channels-last image's bytes are in.
    static func stored(_ shape: [Int]) -> [Int] {
        shape.count == 4 ? [shape[0], shape[2], shape[3], shape[1]] : shape
    }

    /// [N, H, W, C] → [N, C, H, W].
    static func logical(_ shape: [Int]) -> [Int] {
        shape.count == 4 ? [shape[0], shape[3], shape[1], shape[2]] : shape
    }

    /// Runs an NCHW plan on channels-last images: the inputs at `images` (their logical NCHW shapes given) are moved
    /// to NCHW in scratch first, and output 0 is made in scratch and moved to channels-last when `result` is set.
    /// For a layer whose channels-last path oneDNN refused (a rare geometry): correct, as slow as the moves.
    static func transposing(_ plan: OpPlan, images: [Int: [Int]], result: Bool) -> OpPlan {
        let moved = images.sorted { $0.key < $1.key }
        var offsets: [Int: Int] = [:]
        var bytes = 0
        for (position, shape) in moved {
            offsets[position] = bytes
            bytes += alignUp(shape.reduce(1, *) * MemoryLayout<Float>.size)
        }
        let outputShape = plan.outputs[0].shape
        let resultOffset = bytes
        if result { bytes += alignUp(outputShape.reduce(1, *) * MemoryLayout<Float>.size) }
        let (inner, own, places) = (plan.kernel, bytes, offsets)
        var wrapped = plan
        wrapped.inPlace = nil
        wrapped.alias = nil
        wrapped.scratch = bytes + plan.scratch
        wrapped.kernel = { io throws(EngineError) in
            let count = io.ins.count + io.outs.count
            try withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: max(count, 1)) {
                slots throws(EngineError) in
                try withUnsafeTemporaryAllocation(of: Int.self, capacity: max(count, 1)) { ids throws(EngineError) in
                    // The inner kernel's value ids: position p of the inputs is slot p, outputs follow.
                    for position in io.ins.indices {
                        guard io.has(position) else {
                            ids[position] = -1
                            continue
                        }
                        if let offset = places[position], let shape = images[position] {
                            let target = io.scratch + offset
                            Self.toPlanar(io.f32(position), shape, into: target.assumingMemoryBound(to: Float.self))
                            slots[position] = target
                        } else {
                            slots[position] = UnsafeMutableRawPointer(mutating: io.input(position))
                        }
                        ids[position] = position
                    }
                    for position in io.outs.indices {
                        let slot = io.ins.count + position
                        slots[slot] = position == 0 && result ? io.scratch + resultOffset : io.output(position)
                        ids[slot] = slot
                    }
                    let all = UnsafeBufferPointer(ids)
                    try inner(
                        IO(
                            slots: slots.baseAddress!,
                            ins: UnsafeBufferPointer(rebasing: all[..<io.ins.count]),
                            outs: UnsafeBufferPointer(rebasing: all[io.ins.count..<count]),
                            scratch: io.scratch + own,
                            strings: io.strings
                        )
                    )
                }
            }
            if result {
                Self.toChannelsLast(
                    (io.scratch + resultOffset).assumingMemoryBound(to: Float.self),
                    outputShape,
                    into: io.outF32(0)
                )
            }
        }
        return wrapped
    }

    /// A channels-last image of logical shape [N, C, H, W] into NCHW.
    static func toPlanar(_ source: UnsafePointer<Float>, _ shape: [Int], into target: UnsafeMutablePointer<Float>) {
        let (channels, pixels) = (shape[1], shape[2] * shape[3])
        for image in 0..<shape[0] {
            let offset = image * channels * pixels
            transposeMatrix(source + offset, rows: pixels, columns: channels, into: target + offset)
        }
    }

    /// An NCHW image of shape [N, C, H, W] into channels-last.
    static func toChannelsLast(
        _ source: UnsafePointer<Float>,
        _ shape: [Int],
        into target: UnsafeMutablePointer<Float>
    ) {
        let (channels, pixels) = (shape[1], shape[2] * shape[3])
        for image in 0..<shape[0] {
            let offset = image * channels * pixels
            transposeMatrix(source + offset, rows: channels, columns: pixels, into: target + offset)
        }
    }
}

/// An elementwise operator on channels-last images: planned on the stored order of its inputs' shapes, so its
/// kernel (and broadcasting) runs over the bytes as they are; its output is channels-last too.
struct ChannelsLastElementwise: Operator {
    var inner: any Operator

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        var stored = context
        stored.inputs = context.inputs.map { type in
            type.map { ValueType(dtype: $0.dtype, shape: ChannelsLast.stored($0.shape)) }
        }
        var plan = try self.inner.plan(stored)
        plan.outputs = plan.outputs.map { ValueType(dtype: $0.dtype, shape: ChannelsLast.logical($0.shape)) }
        return plan
    }
}

/// `target[c][r] = source[r][c]` for a rows × columns matrix, in tiles that stay in cache.
func transposeMatrix(
    _ source: UnsafePointer<Float>,
    rows: Int,
    columns: Int,
    into target: UnsafeMutablePointer<Float>
) {
    let tile = 16
    var r0 = 0
    while r0 < rows {
        let r1 = min(r0 + tile, rows)
        var c0 = 0
        while c0 < columns {
            let c1 = min(c0 + tile, columns)
            for r in r0..<r1 {
                let row = source + r * columns
                for c in c0..<c1 { target[c * rows + r] = row[c] }
            }
            c0 = c1
        }
        r0 = r1
    }
}
