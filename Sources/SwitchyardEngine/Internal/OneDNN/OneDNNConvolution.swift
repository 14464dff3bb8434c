import CInt8GEMM
import SwitchyardTensor

/// A 2-D convolution on oneDNN with NCHW or channels-last tensors in and out (``ChannelsLast``): an NCHW image is
/// moved into the layout oneDNN's fastest kernel for the shape chose (channels-last or nChw16c on AVX-512),
/// convolved with the bias and the fused activations as post-ops, and moved back; a channels-last one is read and
/// written as it is. The weights are reordered once per chosen layout (``PackedWeights``).
struct OneDNNConvolution {
    var batch, channels, height, width, filters, group, kh, kw: Int
    var output: [Int]
    var strides, dilations, begin, end: [Int]
    var hasBias: Bool
    var activations: [Activation]
    /// The source (and the result) are stored channels-last rather than NCHW.
    var sourceChannelsLast = false
    var resultChannelsLast = false

    /// How an image moves between NCHW and the layout the convolution uses.
    private enum Move {
        case none
        /// NCHW ↔ NHWC: a transpose per image, done here (oneDNN's reorder is slow for it with few channels).
        case transpose(channels: Int, pixels: Int)
        case reorder(DNNLPrimitive)

        var scratchBytes: Int { if case .reorder(let p) = self { p.scratchBytes } else { 0 } }
        var isNone: Bool { if case .none = self { true } else { false } }

        func run(
            _ source: UnsafeRawPointer,
            _ target: UnsafeMutableRawPointer,
            batch: Int,
            toChannelsLast: Bool,
            threads: Int,
            scratch: UnsafeMutableRawPointer,
            what: String
        ) throws(EngineError) {
            switch self {
            case .none: break
            case .transpose(let channels, let pixels):
                let size = channels * pixels
                for image in 0..<batch {
                    let from = source.assumingMemoryBound(to: Float.self) + image * size
                    let to = target.assumingMemoryBound(to: Float.self) + image * size
                    if toChannelsLast {
                        transposeMatrix(from, rows: channels, columns: pixels, into: to)
                    } else {
                        transposeMatrix(from, rows: pixels, columns: channels, into: to)
                    }
                }
            case .reorder(let primitive):
                let arguments = [
                    (DNNLArgument.source, UnsafeMutableRawPointer(mutating: source)),
                    (DNNLArgument.destination, target),
                ]
                try primitive.execute(threads: threads, arguments, scratch: scratch, what: what)
            }
        }
    }

    /// The plan, or `nil` when oneDNN has no vector kernel for this convolution here (the caller's own path
    /// runs it then).
    /// The weights' dimensions as oneDNN describes them: grouped convolutions get a leading group axis.
    var weightDims: [Int] {
        self.group == 1
            ? [self.filters, self.channels / self.group, self.kh, self.kw]
            : [self.group, self.filters / self.group, self.channels / self.group, self.kh, self.kw]
    }

    func plan(_ context: PlanContext, weights: PackedWeights) throws(EngineError) -> OpPlan? {
        guard OneDNN.isUsable else { return nil }
        let sourceDims = [self.batch, self.channels, self.height, self.width]
        let destinationDims = [self.batch, self.filters, self.output[0], self.output[1]]
        let weightDims = self.weightDims
        let geometry = sy_dnnl_window(
            spatial: 2,
            kernel: (Int64(self.kh), Int64(self.kw), 0),
            strides: (Int64(self.strides[0]), Int64(self.strides[1]), 0),
            dilations: (Int64(self.dilations[0]), Int64(self.dilations[1]), 0),
            pad_begin: (Int64(self.begin[0]), Int64(self.begin[1]), 0),
            pad_end: (Int64(self.end[0]), Int64(self.end[1]), 0)
        )
        let what = "node '\(context.node)' (Conv)"
        let plainSource = try DNNLDescriptor(sourceDims, layout: self.sourceChannelsLast ? .channelsLast : .plain)
        let plainDestination = try DNNLDescriptor(
            destinationDims,
            layout: self.resultChannelsLast ? .channelsLast : .plain
        )
        // An image of few channels (the first layer) is read as it is: oneDNN's kernels for it take NCHW, and
        // moving 3 channels to another layout costs more than the convolution saves. Channels-last images are
        // read and written as they are.
        let sourceLayout: DNNLDescriptor.Layout =
            self.sourceChannelsLast ? .channelsLast : (self.channels < 8 ? .plain : .any)
        let destinationLayout: DNNLDescriptor.Layout = self.resultChannelsLast ? .channelsLast : .any
        func make(_ sourceLayout: DNNLDescriptor.Layout) -> DNNLPrimitive? {
            do {
                let made = try DNNLPrimitive.convolution(
                    source: try DNNLDescriptor(sourceDims, layout: sourceLayout),
                    weights: try DNNLDescriptor(weightDims, layout: .any),
                    bias: self.hasBias ? try DNNLDescriptor([self.filters], layout: .plain) : nil,
                    destination: try DNNLDescriptor(destinationDims, layout: destinationLayout),
                    window: geometry,
                    postOps: self.activations.map(DNNLPostOp.init),
                    what: what
                )
                // Reference kernels are slower than im2col over OpenBLAS.
                return made.implementation.hasPrefix("ref") ? nil : made
            } catch {
                return nil
            }
        }
        // A few-channel NCHW image into a channels-last result may have no vector kernel: the image is moved then.
        guard let convolution = make(sourceLayout) ?? (sourceLayout == .plain ? make(.any) : nil),
            let chosenSource = convolution.descriptor(DNNLArgument.source),
            let chosenWeights = convolution.descriptor(DNNLArgument.weights),
            let chosenDestination = convolution.descriptor(DNNLArgument.destination)
        else { return nil }
        func move(
            _ plain: DNNLDescriptor,
            _ chosen: DNNLDescriptor,
            dims: [Int],
            into: Bool
        ) throws(EngineError)
            -> Move
        {
            if chosen.sameLayout(as: plain) { return .none }
            let planar = try DNNLDescriptor(dims, layout: .plain)
            if plain.sameLayout(as: planar), chosen.sameLayout(as: try DNNLDescriptor(dims, layout: .channelsLast)) {
                return .transpose(channels: dims[1], pixels: dims[2] * dims[3])
            }
            let (from, to) = into ? (plain, chosen) : (chosen, plain)
            return .reorder(try DNNLPrimitive.reorder(source: from, destination: to, what: what))
        }
        let moveIn = try move(plainSource, chosenSource, dims: sourceDims, into: true)
        let moveOut = try move(plainDestination, chosenDestination, dims: destinationDims, into: false)
        let packed = try weights.buffer(for: chosenWeights, dims: weightDims, what: what)
        // Scratch: the moved image, the result in the chosen layout, then oneDNN's own scratch.
        let sourceBytes = moveIn.isNone ? 0 : alignUp(chosenSource.byteCount)
        let destinationBytes = moveOut.isNone ? 0 : alignUp(chosenDestination.byteCount)
        let ownBytes = max(convolution.scratchBytes, moveIn.scratchBytes, moveOut.scratchBytes)
        let (hasBias, batch) = (self.hasBias, self.batch)
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: destinationDims)],
            kernel: { io throws(EngineError) in
                let threads = BLAS.threadCount
                let own = io.scratch + sourceBytes + destinationBytes
                var source = UnsafeMutableRawPointer(mutating: io.input(0))
                if !moveIn.isNone {
                    try moveIn.run(
                        source,
                        io.scratch,
                        batch: batch,
                        toChannelsLast: true,
                        threads: threads,
                        scratch: own,
                        what: what
                    )
                    source = io.scratch
                }
                let destination = moveOut.isNone ? io.output(0) : io.scratch + sourceBytes
                var arguments: [(Int32, UnsafeMutableRawPointer)] = [
                    (DNNLArgument.source, source), (DNNLArgument.weights, packed.pointer),
                    (DNNLArgument.destination, destination),
                ]
                if hasBias { arguments.append((DNNLArgument.bias, UnsafeMutableRawPointer(mutating: io.input(2)))) }
                try convolution.execute(threads: threads, arguments, scratch: own, what: what)
                try moveOut.run(
                    destination,
                    io.output(0),
                    batch: batch,
                    toChannelsLast: false,
                    threads: threads,
                    scratch: own,
                    what: what
                )
            },
            scratch: sourceBytes + destinationBytes + ownBytes
        )
    }
}
