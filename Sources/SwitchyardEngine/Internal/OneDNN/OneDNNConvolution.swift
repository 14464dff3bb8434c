import CInt8GEMM
import SwitchyardTensor

/// A 2-D convolution on oneDNN with NCHW tensors in and out: the image is reordered into the layout oneDNN's
/// fastest kernel for the shape chose (nChw16c on AVX-512, nChw8c on AVX2), convolved with the bias and the fused
/// activations as post-ops, and reordered back. The weights are reordered once per chosen layout (``ConvWeights``).
struct OneDNNConvolution {
    var batch, channels, height, width, filters, group, kh, kw: Int
    var output: [Int]
    var strides, dilations, begin, end: [Int]
    var hasBias: Bool
    var activations: [Activation]

    /// The plan, or `nil` when oneDNN has no vector kernel for this convolution here (the caller's own path
    /// runs it then).
    func plan(_ context: PlanContext, weights: ConvWeights) throws(EngineError) -> OpPlan? {
        guard OneDNN.isUsable, let plain = context.constants[1] else { return nil }
        let sourceDims = [self.batch, self.channels, self.height, self.width]
        let destinationDims = [self.batch, self.filters, self.output[0], self.output[1]]
        let weightDims =
            self.group == 1
            ? [self.filters, self.channels, self.kh, self.kw]
            : [self.group, self.filters / self.group, self.channels / self.group, self.kh, self.kw]
        let geometry = sy_dnnl_window(
            spatial: 2, kernel: (Int64(self.kh), Int64(self.kw), 0),
            strides: (Int64(self.strides[0]), Int64(self.strides[1]), 0),
            dilations: (Int64(self.dilations[0]), Int64(self.dilations[1]), 0),
            pad_begin: (Int64(self.begin[0]), Int64(self.begin[1]), 0),
            pad_end: (Int64(self.end[0]), Int64(self.end[1]), 0))
        let what = "node '\(context.node)' (Conv)"
        let convolution: DNNLPrimitive
        do {
            convolution = try DNNLPrimitive.convolution(
                source: try DNNLDescriptor(sourceDims, layout: .any),
                weights: try DNNLDescriptor(weightDims, layout: .any),
                bias: self.hasBias ? try DNNLDescriptor([self.filters], layout: .plain) : nil,
                destination: try DNNLDescriptor(destinationDims, layout: .any), window: geometry,
                postOps: self.activations.map(DNNLPostOp.init), what: what)
        } catch {
            return nil
        }
        // Reference kernels are slower than im2col over OpenBLAS.
        guard !convolution.implementation.hasPrefix("ref"),
            let chosenSource = convolution.descriptor(DNNLArgument.source),
            let chosenWeights = convolution.descriptor(DNNLArgument.weights),
            let chosenDestination = convolution.descriptor(DNNLArgument.destination)
        else { return nil }
        let plainSource = try DNNLDescriptor(sourceDims, layout: .plain)
        let plainDestination = try DNNLDescriptor(destinationDims, layout: .plain)
        let reorderIn =
            chosenSource.sameLayout(as: plainSource)
            ? nil : try DNNLPrimitive.reorder(source: plainSource, destination: chosenSource, what: what)
        let reorderOut =
            chosenDestination.sameLayout(as: plainDestination)
            ? nil : try DNNLPrimitive.reorder(source: chosenDestination, destination: plainDestination, what: what)
        let packed = try weights.buffer(for: chosenWeights, plain: plain.buffer, dims: weightDims, what: what)
        // Scratch: the reordered image, the blocked result, then oneDNN's own scratch.
        let sourceBytes = reorderIn == nil ? 0 : alignUp(chosenSource.byteCount)
        let destinationBytes = reorderOut == nil ? 0 : alignUp(chosenDestination.byteCount)
        let ownBytes = max(
            convolution.scratchBytes, reorderIn?.scratchBytes ?? 0, reorderOut?.scratchBytes ?? 0)
        let hasBias = self.hasBias
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: destinationDims)],
            kernel: { io throws(EngineError) in
                let threads = BLAS.threadCount
                let own = io.scratch + sourceBytes + destinationBytes
                var source = UnsafeMutableRawPointer(mutating: io.input(0))
                if let reorderIn {
                    try reorderIn.execute(
                        threads: threads, [(DNNLArgument.source, source), (DNNLArgument.destination, io.scratch)],
                        scratch: own, what: what)
                    source = io.scratch
                }
                let destination = reorderOut == nil ? io.output(0) : io.scratch + sourceBytes
                var arguments: [(Int32, UnsafeMutableRawPointer)] = [
                    (DNNLArgument.source, source), (DNNLArgument.weights, packed.pointer),
                    (DNNLArgument.destination, destination),
                ]
                if hasBias { arguments.append((DNNLArgument.bias, UnsafeMutableRawPointer(mutating: io.input(2)))) }
                try convolution.execute(threads: threads, arguments, scratch: own, what: what)
                if let reorderOut {
                    try reorderOut.execute(
                        threads: threads, [(DNNLArgument.source, destination), (DNNLArgument.destination, io.output(0))],
                        scratch: own, what: what)
                }
            }, scratch: sourceBytes + destinationBytes + ownBytes)
    }
}
