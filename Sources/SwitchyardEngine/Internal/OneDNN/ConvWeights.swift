import CInt8GEMM
import Synchronization
import SwitchyardTensor

/// A 2-D convolution's constant weights, held once: taken from the graph at load as ONNX stores them
/// (O, I/group, kH, kW), then kept only in the layout oneDNN's kernels chose, each further layout (another batch
/// size may choose one) reordered from the first. When a plan cannot use oneDNN the ONNX layout is made again.
final class ConvWeights: Sendable {
    /// The weights' ONNX type (f32, [O, I/group, kH, kW]).
    let type: ValueType
    private struct State: @unchecked Sendable {
        var plain: AlignedBuffer?
        var layouts: [(descriptor: DNNLDescriptor, buffer: AlignedBuffer)] = []
    }
    private let state: Mutex<State>

    init(_ constant: Constant) {
        self.type = constant.type
        self.state = Mutex(State(plain: constant.buffer))
    }

    /// The weights in `descriptor`'s layout (`dims`: oneDNN's logical dimensions of the weights), made once.
    func buffer(for descriptor: DNNLDescriptor, dims: [Int], what: String) throws(EngineError) -> AlignedBuffer {
        let result: Result<AlignedBuffer, EngineError> = self.state.withLock { state in
            if let found = state.layouts.first(where: { $0.descriptor.sameLayout(as: descriptor) }) {
                return .success(found.buffer)
            }
            do throws(EngineError) {
                let target = try Self.reorder(state, into: descriptor, dims: dims, what: what)
                state.layouts.append((descriptor, target))
                state.plain = nil
                return .success(target)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The weights as ONNX stores them, for a plan that does not run on oneDNN.
    func plain(dims: [Int], what: String) throws(EngineError) -> AlignedBuffer {
        let result: Result<AlignedBuffer, EngineError> = self.state.withLock { state in
            if let plain = state.plain { return .success(plain) }
            do throws(EngineError) {
                let layout = try DNNLDescriptor(dims, layout: .plain)
                let plain = try Self.reorder(state, into: layout, dims: dims, what: what)
                state.plain = plain
                return .success(plain)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func reorder(
        _ state: State,
        into descriptor: DNNLDescriptor,
        dims: [Int],
        what: String
    )
        throws(EngineError) -> AlignedBuffer
    {
        let source: (DNNLDescriptor, AlignedBuffer)
        if let plain = state.plain {
            source = (try DNNLDescriptor(dims, layout: .plain), plain)
        } else if let kept = state.layouts.first {
            source = kept
        } else {
            throw EngineError(.invalidModel, "\(what): the convolution's weights are gone")
        }
        let reorder = try DNNLPrimitive.reorder(source: source.0, destination: descriptor, what: what)
        let target = AlignedBuffer(count: descriptor.byteCount)
        let scratch = AlignedBuffer(count: reorder.scratchBytes)
        try reorder.execute(
            threads: 1,
            [(DNNLArgument.source, source.1.pointer), (DNNLArgument.destination, target.pointer)],
            scratch: scratch.pointer,
            what: what
        )
        return target
    }
}

extension ConvWeights {
    /// Hands each 2-D convolution its constant weights (when it is their only reader), so that a model holds its
    /// convolution weights once, in oneDNN's layout, rather than also in the graph.
    static func adopt(_ graph: inout Graph) {
        guard OneDNN.isUsable else { return }
        var readers: [Int: Int] = [:]
        for node in graph.nodes {
            for case let value? in node.inputs { readers[value, default: 0] += 1 }
        }
        for output in graph.outputs { readers[output.value, default: 0] += 1 }
        for index in graph.nodes.indices {
            guard var conv = graph.nodes[index].op as? ConvOp, graph.nodes[index].inputs.count >= 2,
                let value = graph.nodes[index].inputs[1], readers[value] == 1,
                let constant = graph.constants[value], constant.type.dtype == .float32, constant.type.shape.count == 4
            else { continue }
            conv.weights = ConvWeights(constant)
            graph.nodes[index].op = conv
            graph.nodes[index].inputs[1] = nil
            graph.constants[value] = nil
        }
    }
}

extension AlignedBuffer {
    /// The buffer as floats (while it is alive: a kernel that reads them captures the buffer).
    var floats: UnsafePointer<Float> { UnsafePointer(self.pointer.assumingMemoryBound(to: Float.self)) }
}
