import CInt8GEMM
import Synchronization
import SwitchyardTensor

/// Constant weights of a 2-D convolution or a GEMM, held once: taken from the graph at load as ONNX stores them
/// (O, I/group, kH, kW; K, N), then kept only in the layout oneDNN's kernels chose, each further layout (another
/// batch size may choose one) reordered from the first. When a plan cannot use oneDNN the ONNX layout is made again.
final class PackedWeights: Sendable {
    /// The weights' ONNX type (f32, [O, I/group, kH, kW] or [K, N]).
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

    /// The first layout the weights were reordered into, if any: a plan for another shape tries it first.
    var packedLayout: DNNLDescriptor? { self.state.withLock { $0.layouts.first?.descriptor } }

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
            throw EngineError(.invalidModel, "\(what): the weights are gone")
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

extension PackedWeights {
    /// Hands each 2-D convolution (and, with `gemm`, each MatMul or plain Gemm) its constant weights when it is
    /// their only reader, so that a model holds them once, in oneDNN's layout, rather than also in the graph.
    static func adopt(_ graph: inout Graph, convolutions: Bool, gemm: Bool) {
        guard OneDNN.isUsable else { return }
        // Smaller GEMM weights stay on OpenBLAS: repacking them costs little, and oneDNN's per-call overhead
        // (~5 µs) was more than the whole GEMM for the digits MLP (64-128-64-10) at batch 1 and 8.
        let minimumPacked = 65536
        var readers: [Int: Int] = [:]
        for node in graph.nodes {
            for case let value? in node.inputs { readers[value, default: 0] += 1 }
        }
        for output in graph.outputs { readers[output.value, default: 0] += 1 }
        for index in graph.nodes.indices {
            guard graph.nodes[index].inputs.count >= 2, let value = graph.nodes[index].inputs[1], readers[value] == 1,
                let constant = graph.constants[value], constant.type.dtype == .float32
            else { continue }
            let rank = constant.type.shape.count
            switch graph.nodes[index].op {
            case var conv as ConvOp where convolutions && rank == 4:
                conv.weights = PackedWeights(constant)
                graph.nodes[index].op = conv
            case var matmul as MatMulOp
            where gemm && rank == 2 && !matmul.transB && constant.type.count >= minimumPacked:
                matmul.weights = PackedWeights(constant)
                graph.nodes[index].op = matmul
            case var op as GemmOp
            where gemm && rank == 2 && !op.transA && !op.transB && op.alpha == 1 && constant.type.count >= minimumPacked:
                op.weights = PackedWeights(constant)
                graph.nodes[index].op = op
            default:
                continue
            }
            graph.nodes[index].inputs[1] = nil
            graph.constants[value] = nil
        }
    }
}

extension AlignedBuffer {
    /// The buffer as floats (while it is alive: a kernel that reads them captures the buffer).
    var floats: UnsafePointer<Float> { UnsafePointer(self.pointer.assumingMemoryBound(to: Float.self)) }
}
