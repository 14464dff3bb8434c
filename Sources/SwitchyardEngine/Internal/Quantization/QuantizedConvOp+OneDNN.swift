import CInt8GEMM
import SwitchyardTensor

extension QuantizedConvOp {
    /// The step as one oneDNN int8 convolution, or `nil` when oneDNN has no vector kernel for it (the GEMM path runs
    /// it then). The uint8 image moves into the layout the kernel chose (channels-last on AVX-512) and back.
    func oneDNNPlan(
        _ context: PlanContext,
        _ shape: [Int],
        _ weights: Int8ConvWeights
    ) throws(EngineError) -> OpPlan? {
        guard !self.scales.contains(where: { $0 == 0 || !$0.isFinite }) else { return nil }
        let (batch, height, width) = (shape[0], shape[2], shape[3])
        let (outSize, begin, end) = try self.window.resolve([height, width], context)
        let (kh, kw) = self.kernel
        let sourceDims = [batch, self.channels, height, width]
        let destinationDims = [batch, self.filters, outSize[0], outSize[1]]
        let weightDims = [self.filters, self.channels, kh, kw]
        let (u8, s8, f32) = (Int32(SY_DNNL_U8), Int32(SY_DNNL_S8), Int32(SY_DNNL_F32))
        let destinationType = self.output == nil ? f32 : u8
        let geometry = sy_dnnl_window(
            spatial: 2,
            kernel: (Int64(kh), Int64(kw), 0),
            strides: (Int64(self.window.strides[0]), Int64(self.window.strides[1]), 0),
            dilations: (Int64(self.window.dilations[0]), Int64(self.window.dilations[1]), 0),
            pad_begin: (Int64(begin[0]), Int64(begin[1]), 0),
            pad_end: (Int64(end[0]), Int64(end[1]), 0)
        )
        // A dynamic input's scale is known only per call: the bias and activations then follow the convolution.
        let dynamic = self.dynamicInput
        // oneDNN adds the bias to the accumulators before scaling: the bias in accumulator units.
        let accumulatorBias =
            dynamic
            ? nil
            : self.bias.map { bias in
                let buffer = AlignedBuffer(count: bias.count * 4)
                let target = buffer.pointer.assumingMemoryBound(to: Float.self)
                for index in bias.indices { target[index] = bias[index] / self.scales[index] }
                return buffer
            }
        // With a uint8 result the epilogue works in units of the output's scale.
        let outputScale = self.output?.scale ?? 1
        let postOps = (dynamic ? [] : self.activations).map { activation in
            if case .clip(let low, let high) = activation {
                return DNNLPostOp(.clip(low / outputScale, high / outputScale))
            }
            return DNNLPostOp(activation)
        }
        let what = "node '\(context.node)' (QuantizedConv)"
        let convolution: DNNLPrimitive
        do {
            convolution = try DNNLPrimitive.quantizedConvolution(
                source: try DNNLDescriptor(sourceDims, layout: .any, type: u8),
                weights: try DNNLDescriptor(weightDims, layout: .any, type: s8),
                bias: accumulatorBias == nil ? nil : try DNNLDescriptor([self.filters], layout: .plain),
                destination: try DNNLDescriptor(destinationDims, layout: .any, type: destinationType),
                window: geometry,
                postOps: postOps,
                scales: self.scales.map { $0 / outputScale },
                sourceZero: dynamic ? Int32(SY_DNNL_ZERO_AT_RUN) : Int32(self.inputZero),
                destinationZero: Int32(self.output?.zero ?? 0),
                what: what
            )
        } catch {
            return nil
        }
        guard !convolution.implementation.hasPrefix("ref"),
            let chosenSource = convolution.descriptor(DNNLArgument.source),
            let chosenWeights = convolution.descriptor(DNNLArgument.weights),
            let chosenDestination = convolution.descriptor(DNNLArgument.destination)
        else { return nil }
        let moveIn = try LayoutMove(
            plain: try DNNLDescriptor(sourceDims, layout: .plain, type: u8),
            chosen: chosenSource,
            dims: sourceDims,
            type: u8,
            into: true,
            what: what
        )
        let moveOut = try LayoutMove(
            plain: try DNNLDescriptor(destinationDims, layout: .plain, type: destinationType),
            chosen: chosenDestination,
            dims: destinationDims,
            type: destinationType,
            into: false,
            what: what
        )
        let packed = try weights.buffer(for: chosenWeights, dims: weightDims, what: what)
        let sourceBytes = moveIn.isNone ? 0 : alignUp(chosenSource.byteCount)
        let destinationBytes = moveOut.isNone ? 0 : alignUp(chosenDestination.byteCount)
        let ownBytes = max(convolution.scratchBytes, moveIn.scratchBytes, moveOut.scratchBytes)
        let imageCount = sourceDims.reduce(1, *)
        let quantizedBytes = dynamic ? alignUp(imageCount) : 0
        let (filters, pixels) = (self.filters, outSize[0] * outSize[1])
        let (bias, activations) = (self.bias, self.activations)
        // A dynamic step around channels-last kernels: quantized and transposed in one pass, rescaled and transposed
        // back in one (the image kernels of CInt8GEMM), instead of six passes.
        let channelsLast =
            dynamic && moveIn.isChannelsLastTranspose(elementSize: 1)
            && moveOut.isChannelsLastTranspose(elementSize: 4)
        let imageEpilogue = channelsLast ? ImageEpilogue(activations) : nil
        let (channels, sourcePixels) = (self.channels, height * width)
        if let imageEpilogue {
            return OpPlan(
                outputs: [ValueType(dtype: .float32, shape: destinationDims)],
                kernel: { io throws(EngineError) in
                    let threads = BLAS.threadCount
                    let (source, destination) = (io.scratch, io.scratch + sourceBytes)
                    let own = destination + destinationBytes
                    let (scale, zero) = ImageKernels.quantizeChannelsLast(
                        io.f32(0),
                        batch: batch,
                        channels: channels,
                        pixels: sourcePixels,
                        into: source.assumingMemoryBound(to: UInt8.self)
                    )
                    let arguments: [(Int32, UnsafeMutableRawPointer)] = [
                        (DNNLArgument.source, source), (DNNLArgument.weights, packed.pointer),
                        (DNNLArgument.destination, destination),
                    ]
                    try convolution.execute(
                        threads: threads,
                        arguments,
                        scratch: own,
                        sourceZero: Int32(zero),
                        what: what
                    )
                    imageEpilogue.run(
                        destination.assumingMemoryBound(to: Float.self),
                        batch: batch,
                        channels: filters,
                        pixels: pixels,
                        scale: scale,
                        bias: bias,
                        into: io.outF32(0)
                    )
                },
                scratch: sourceBytes + destinationBytes + ownBytes
            )
        }
        return OpPlan(
            outputs: [ValueType(dtype: self.output == nil ? .float32 : .uint8, shape: destinationDims)],
            kernel: { io throws(EngineError) in
                let threads = BLAS.threadCount
                let scratch = io.scratch + quantizedBytes
                let own = scratch + sourceBytes + destinationBytes
                var source = UnsafeMutableRawPointer(mutating: io.input(0))
                var inputScale: Float = 1
                var inputZero: Int32 = 0
                if dynamic {
                    let quantized = io.scratch.assumingMemoryBound(to: UInt8.self)
                    let (scale, zero) = dynamicQuantization(io.f32(0), imageCount)
                    quantizeUInt8(io.f32(0), imageCount, scale: scale, zero: zero, quantized)
                    (source, inputScale, inputZero) = (io.scratch, scale, Int32(zero))
                }
                if !moveIn.isNone {
                    try moveIn.run(source, scratch, threads: threads, scratch: own, what: what)
                    source = scratch
                }
                let destination = moveOut.isNone ? io.output(0) : scratch + sourceBytes
                var arguments: [(Int32, UnsafeMutableRawPointer)] = [
                    (DNNLArgument.source, source), (DNNLArgument.weights, packed.pointer),
                    (DNNLArgument.destination, destination),
                ]
                if let accumulatorBias { arguments.append((DNNLArgument.bias, accumulatorBias.pointer)) }
                try convolution.execute(threads: threads, arguments, scratch: own, sourceZero: inputZero, what: what)
                try moveOut.run(destination, io.output(0), threads: threads, scratch: own, what: what)
                if dynamic {
                    // × the input's scale, + bias, activations: what the fused Mul, Add and activations did.
                    let out = io.outF32(0)
                    for plane in 0..<(batch * filters) {
                        let values = out + plane * pixels
                        let offset = bias?[plane % filters] ?? 0
                        for index in 0..<pixels { values[index] = values[index] * inputScale + offset }
                    }
                    for activation in activations { apply(activation, out, batch * filters * pixels) }
                }
            },
            scratch: quantizedBytes + sourceBytes + destinationBytes + ownBytes
        )
    }
}

/// How an N×C×H×W image (1- or 4-byte elements) moves between the engine's NCHW and a layout a oneDNN kernel chose.
enum LayoutMove {
    case none
    /// NCHW ↔ NHWC: a transpose per image.
    case transpose(batch: Int, channels: Int, pixels: Int, elementSize: Int, toChannelsLast: Bool)
    case reorder(DNNLPrimitive)

    init(
        plain: DNNLDescriptor,
        chosen: DNNLDescriptor,
        dims: [Int],
        type: Int32,
        into: Bool,
        what: String
    ) throws(EngineError) {
        if chosen.sameLayout(as: plain) {
            self = .none
        } else if chosen.sameLayout(as: try DNNLDescriptor(dims, layout: .channelsLast, type: type)) {
            self = .transpose(
                batch: dims[0],
                channels: dims[1],
                pixels: dims[2] * dims[3],
                elementSize: type == Int32(SY_DNNL_U8) || type == Int32(SY_DNNL_S8) ? 1 : 4,
                toChannelsLast: into
            )
        } else {
            let (from, to) = into ? (plain, chosen) : (chosen, plain)
            self = .reorder(try DNNLPrimitive.reorder(source: from, destination: to, what: what))
        }
    }

    var scratchBytes: Int { if case .reorder(let p) = self { p.scratchBytes } else { 0 } }
    var isNone: Bool { if case .none = self { true } else { false } }

    /// Whether this is the NCHW ↔ NHWC transpose of `elementSize`-byte elements.
    func isChannelsLastTranspose(elementSize size: Int) -> Bool {
        if case .transpose(_, _, _, let elementSize, _) = self { elementSize == size } else { false }
    }

    func run(
        _ source: UnsafeRawPointer,
        _ target: UnsafeMutableRawPointer,
        threads: Int,
        scratch: UnsafeMutableRawPointer,
        what: String
    ) throws(EngineError) {
        switch self {
        case .none: break
        case .transpose(let batch, let channels, let pixels, let elementSize, let toChannelsLast):
            let (rows, columns) = toChannelsLast ? (channels, pixels) : (pixels, channels)
            for image in 0..<batch {
                let offset = image * channels * pixels * elementSize
                sy_transpose(source + offset, Int64(rows), Int64(columns), Int64(elementSize), target + offset)
            }
        case .reorder(let primitive):
            let arguments = [
                (DNNLArgument.source, UnsafeMutableRawPointer(mutating: source)), (DNNLArgument.destination, target),
            ]
            try primitive.execute(threads: threads, arguments, scratch: scratch, what: what)
        }
    }
}
