import COneDNN
import Synchronization

/// A convolution's constant weights on their way to oneDNN. They are held as ONNX stores them (O, I/group, kH, kW)
/// until the first plan asks for oneDNN's own layout; from then on only that layout is kept, so a model holds one
/// copy of its weights. A plan with other shapes asks for the same layout first (oneDNN accepts it for every
/// batch size of a model measured here); a layout it cannot use is reordered from the kept one.
final class ConvWeights: Sendable {
    /// [filters, channels per group, kH, kW].
    let shape: [Int]
    let group: Int
    private struct State: @unchecked Sendable {
        var plain: AlignedBuffer?
        var packed: [(descriptor: DNNLDescriptor, buffer: AlignedBuffer)] = []
    }
    private let state: Mutex<State>

    init(plain: AlignedBuffer, shape: [Int], group: Int) {
        self.shape = shape
        self.group = group
        self.state = Mutex(State(plain: plain))
    }

    /// The dimensions oneDNN describes the weights with: grouped convolutions get a leading group axis.
    var logicalDims: [Int] {
        self.group == 1 ? self.shape : [self.group, self.shape[0] / self.group] + self.shape.dropFirst()
    }

    /// The layout the weights are kept in, once a plan has chosen one.
    var preferred: DNNLDescriptor? { self.state.withLock { $0.packed.first?.descriptor } }

    /// The weights in `descriptor`'s layout, made (once) from the plain weights or from the layout already kept.
    func buffer(for descriptor: DNNLDescriptor, what: String) throws(EngineError) -> AlignedBuffer {
        let result: Result<AlignedBuffer, EngineError> = self.state.withLock { state in
            if let found = state.packed.first(where: { $0.descriptor.sameLayout(as: descriptor) }) {
                return .success(found.buffer)
            }
            do throws(EngineError) {
                let source: (DNNLDescriptor, AlignedBuffer)
                if let plain = state.plain {
                    source = (try DNNLDescriptor(self.logicalDims, layout: .plain), plain)
                } else if let kept = state.packed.first {
                    source = kept
                } else {
                    throw EngineError(.invalidModel, "\(what): the convolution's weights are gone")
                }
                let reorder = try DNNLPrimitive.reorder(source: source.0, destination: descriptor, what: what)
                let target = AlignedBuffer(count: descriptor.byteCount)
                let scratch = AlignedBuffer(count: reorder.scratchBytes)
                try reorder.execute(
                    threads: 1, [(DNNLArgument.source, source.1.pointer), (DNNLArgument.destination, target.pointer)],
                    scratch: scratch.pointer, what: what)
                state.packed.append((descriptor, target))
                state.plain = nil
                return .success(target)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
