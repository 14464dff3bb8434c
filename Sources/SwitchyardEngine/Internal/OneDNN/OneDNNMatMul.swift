import CInt8GEMM
import SwitchyardTensor

/// `Y[M,N] = X[M,K] · W[K,N]` (plus a bias row), then the fused activations, on oneDNN's matmul with W constant: the
/// weights are reordered once into the blocked layout its kernel reads (``PackedWeights``), where OpenBLAS's sgemm
/// packs them again on every call (a quarter of a BERT encoder's GEMM time; `bench/RESULTS-engine.md`).
struct OneDNNMatMul {
    var rows, k, n: Int
    var bias: Constant?
    var activations: [Activation]

    /// The kernel (X is input 0, Y output 0) and the scratch bytes it needs, or `nil` when oneDNN has no vector kernel
    /// for the shape here (the caller's OpenBLAS path runs it then).
    func plan(weights: PackedWeights, what: String) throws(EngineError) -> (kernel: Kernel, scratch: Int)? {
        guard OneDNN.isUsable, self.rows > 0, self.k > 0, self.n > 0 else { return nil }
        let source = try DNNLDescriptor([self.rows, self.k], layout: .plain)
        let destination = try DNNLDescriptor([self.rows, self.n], layout: .plain)
        let biasDescriptor = self.bias == nil ? nil : try DNNLDescriptor([1, self.n], layout: .plain)
        let postOps = self.activations.map(DNNLPostOp.init)
        func make(_ layout: DNNLDescriptor) -> DNNLPrimitive? {
            let made = try? DNNLPrimitive.matmul(
                source: source,
                weights: layout,
                bias: biasDescriptor,
                destination: destination,
                postOps: postOps,
                what: what
            )
            guard let made, !made.implementation.hasPrefix("ref") else { return nil }
            return made
        }
        // The layout the weights already have (another batch size chose it) keeps a single copy when it fits.
        var primitive = weights.packedLayout.flatMap(make)
        if primitive == nil { primitive = make(try DNNLDescriptor([self.k, self.n], layout: .any)) }
        guard let primitive, let chosen = primitive.descriptor(DNNLArgument.weights) else { return nil }
        let packed = try weights.buffer(for: chosen, dims: [self.k, self.n], what: what)
        let bias = self.bias
        return (
            kernel: { io throws(EngineError) in
                var arguments: [(Int32, UnsafeMutableRawPointer)] = [
                    (DNNLArgument.source, UnsafeMutableRawPointer(mutating: io.input(0))),
                    (DNNLArgument.weights, packed.pointer), (DNNLArgument.destination, io.output(0)),
                ]
                if let bias { arguments.append((DNNLArgument.bias, bias.buffer.pointer)) }
                try primitive.execute(threads: BLAS.threadCount, arguments, scratch: io.scratch, what: what)
            },
            scratch: primitive.scratchBytes
        )
    }
}
