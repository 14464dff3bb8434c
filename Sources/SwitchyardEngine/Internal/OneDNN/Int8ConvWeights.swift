import CInt8GEMM
import Synchronization

/// An int8 convolution's constant weights for oneDNN: kept as ONNX stores them (O, I, kH, kW) and reordered once
/// into each layout a plan's kernel chooses (with the compensation terms oneDNN keeps beside int8 weights).
final class Int8ConvWeights: Sendable {
    private let plain: AlignedBuffer
    private struct Layouts: @unchecked Sendable {
        var made: [(descriptor: DNNLDescriptor, buffer: AlignedBuffer)] = []
    }
    private let layouts = Mutex(Layouts())

    /// Shares `weights` (the graph's constant, int8 O×I×kH×kW), which it never writes.
    init(_ weights: AlignedBuffer) { self.plain = weights }

    /// The weights in `descriptor`'s layout (`dims`: O, I, kH, kW), made once.
    func buffer(for descriptor: DNNLDescriptor, dims: [Int], what: String) throws(EngineError) -> AlignedBuffer {
        let result: Result<AlignedBuffer, EngineError> = self.layouts.withLock { layouts in
            if let found = layouts.made.first(where: { $0.descriptor.sameLayout(as: descriptor) }) {
                return .success(found.buffer)
            }
            do throws(EngineError) {
                let source = try DNNLDescriptor(dims, layout: .plain, type: Int32(SY_DNNL_S8))
                let reorder = try DNNLPrimitive.reorder(source: source, destination: descriptor, what: what)
                let target = AlignedBuffer(count: descriptor.byteCount)
                let scratch = AlignedBuffer(count: reorder.scratchBytes)
                try reorder.execute(
                    threads: 1,
                    [(DNNLArgument.source, self.plain.pointer), (DNNLArgument.destination, target.pointer)],
                    scratch: scratch.pointer,
                    what: what
                )
                layouts.made.append((descriptor, target))
                return .success(target)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
