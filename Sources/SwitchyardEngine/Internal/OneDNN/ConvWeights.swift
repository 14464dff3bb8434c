import CInt8GEMM
import Synchronization

/// A convolution's constant weights in the layouts oneDNN's kernels chose for them, each made once by a reorder
/// from the ONNX layout (O, I/group, kH, kW) and shared by every plan (batch size, image size) that uses it.
final class ConvWeights: Sendable {
    private struct Packed: @unchecked Sendable {
        var layouts: [(descriptor: DNNLDescriptor, buffer: AlignedBuffer)] = []
    }
    private let packed = Mutex(Packed())

    init() {}

    /// The weights in `descriptor`'s layout, reordered from `plain` (described by `dims`, row-major) the first time.
    func buffer(for descriptor: DNNLDescriptor, plain: AlignedBuffer, dims: [Int], what: String) throws(EngineError)
        -> AlignedBuffer
    {
        let result: Result<AlignedBuffer, EngineError> = self.packed.withLock { packed in
            if let found = packed.layouts.first(where: { $0.descriptor.sameLayout(as: descriptor) }) {
                return .success(found.buffer)
            }
            do throws(EngineError) {
                let source = try DNNLDescriptor(dims, layout: .plain)
                let reorder = try DNNLPrimitive.reorder(source: source, destination: descriptor, what: what)
                let target = AlignedBuffer(count: descriptor.byteCount)
                let scratch = AlignedBuffer(count: reorder.scratchBytes)
                try reorder.execute(
                    threads: 1, [(DNNLArgument.source, plain.pointer), (DNNLArgument.destination, target.pointer)],
                    scratch: scratch.pointer, what: what)
                packed.layouts.append((descriptor, target))
                return .success(target)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
