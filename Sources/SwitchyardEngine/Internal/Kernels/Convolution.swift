import CInt8GEMM
import CEngineKernels
import SwitchyardTensor

/// Spatial geometry shared by Conv and the pools: kernel, strides, dilations and pads per axis.
struct Window: Sendable {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    /// Begin pads then end pads, as in ONNX.
    var pads: [Int]
    var autoPad: String
    var ceilMode: Bool = false

    init(_ attributes: Attributes, kernel: [Int]?) throws(EngineError) {
        self.kernel = kernel ?? []
        let spatial = self.kernel.count
        self.strides = try attributes.ints("strides") ?? []
        self.dilations = try attributes.ints("dilations") ?? []
        self.pads = try attributes.ints("pads") ?? []
        self.autoPad = try attributes.string("auto_pad", "NOTSET")
        self.ceilMode = try attributes.int("ceil_mode", 0) != 0
        guard ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"].contains(self.autoPad) else {
            throw attributes.error("auto_pad '\(self.autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
        }
        if spatial > 0 {
            if self.strides.isEmpty { self.strides = Array(repeating: 1, count: spatial) }
            if self.dilations.isEmpty { self.dilations = Array(repeating: 1, count: spatial) }
            if self.pads.isEmpty { self.pads = Array(repeating: 0, count: spatial * 2) }
            guard self.strides.count == spatial, self.dilations.count == spatial, self.pads.count == spatial * 2 else {
                throw attributes.error("strides, dilations and pads must match the kernel's \(spatial) spatial axes")
            }
            guard self.strides.allSatisfy({ $0 > 0 }), self.dilations.allSatisfy({ $0 > 0 }),
                self.pads.allSatisfy({ $0 >= 0 }), self.kernel.allSatisfy({ $0 > 0 })
            else { throw attributes.error("kernel, strides and dilations must be positive and pads non-negative") }
        }
    }

    /// Output sizes and the pads actually used, for input spatial sizes `input`.
    func resolve(
        _ input: [Int],
        _ context: PlanContext
    ) throws(EngineError) -> (
        output: [Int], begin: [Int], end: [Int]
    ) {
        var output: [Int] = []
        var begin: [Int] = []
        var end: [Int] = []
        for axis in 0..<input.count {
            let size = input[axis]
            let stride = self.strides[axis]
            let extent = (self.kernel[axis] - 1) * self.dilations[axis] + 1
            switch self.autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                let out = (size + stride - 1) / stride
                let total = max(0, (out - 1) * stride + extent - size)
                let head = self.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                output.append(out)
                begin.append(head)
                end.append(total - head)
            case "VALID":
                guard size >= extent else {
                    throw context.error("kernel extent \(extent) is larger than input size \(size)")
                }
                output.append((size - extent) / stride + 1)
                begin.append(0)
                end.append(0)
            default:
                let head = self.pads[axis]
                let tail = self.pads[axis + input.count]
                let span = size + head + tail - extent
                guard span >= 0 else {
                    throw context.error(
                        "kernel extent \(extent) is larger than the padded input size \(size + head + tail)"
                    )
                }
                var out = span / stride + 1
                if self.ceilMode {
                    out = (span + stride - 1) / stride + 1
                    if (out - 1) * stride >= size + head { out -= 1 }  // no window may start in the end padding
                }
                output.append(out)
                begin.append(head)
                end.append(tail)
            }
        }
        return (output, begin, end)
    }
}

/// Convolution (NCHW) with bias and fused activations: 2-D on oneDNN where it has vector kernels, else (and in 3-D)
/// im2col + one GEMM per image and group, with a direct kernel for depthwise layers.
struct ConvOp: Operator {
    var window: Window
    var group: Int
    var kernelShape: [Int]?
    var activations: [Activation] = []
    /// Constant 2-D weights the convolution holds itself, for oneDNN (``PackedWeights/adopt(_:)``); input 1 is then
    /// omitted.
    var weights: PackedWeights?
    /// The image read (and the one made) is stored channels-last (``ChannelsLast``): the layer runs on oneDNN.
    var sourceChannelsLast = false
    var resultChannelsLast = false

    init(_ attributes: Attributes) throws(EngineError) {
        self.kernelShape = try attributes.ints("kernel_shape")
        self.group = try attributes.int("group", 1)
        guard self.group >= 1 else { throw attributes.error("group must be positive") }
        self.window = try Window(attributes, kernel: self.kernelShape)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        let w: ValueType
        if let weights = self.weights { w = weights.type } else { w = try context.input(1, [.float32]) }
        guard x.shape.count == w.shape.count, (3...5).contains(x.shape.count) else {
            throw context.error(
                "convolution needs N×C×spatial input and weights of the same rank (1 to 3 spatial axes), got \(x.shape) and \(w.shape)",
                .unsupportedOperator
            )
        }
        let spatial = x.shape.count - 2
        var window = self.window
        if window.strides.isEmpty { window.strides = Array(repeating: 1, count: spatial) }
        if window.dilations.isEmpty { window.dilations = Array(repeating: 1, count: spatial) }
        if window.pads.isEmpty { window.pads = Array(repeating: 0, count: 2 * spatial) }
        guard window.strides.count == spatial, window.dilations.count == spatial, window.pads.count == 2 * spatial
        else {
            throw context.error("strides, dilations and pads must match \(spatial) spatial axes")
        }
        if spatial == 1 {  // as 2-D with a height of 1: the same bytes
            var flat = window
            flat.strides = [1] + window.strides
            flat.dilations = [1] + window.dilations
            flat.pads = [0, window.pads[0], 0, window.pads[1]]
            var twoD = self
            twoD.window = flat
            twoD.kernelShape = self.kernelShape.map { [1] + $0 }
            var inner = context
            inner.inputs[0] = ValueType(dtype: .float32, shape: [x.shape[0], x.shape[1], 1, x.shape[2]])
            inner.inputs[1] = ValueType(dtype: .float32, shape: [w.shape[0], w.shape[1], 1, w.shape[2]])
            var plan = try twoD.plan(inner)
            plan.outputs[0].shape.remove(at: 2)
            return plan
        }
        if spatial == 3 { return try self.plan3D(context, x, w, window) }
        return try self.plan2D(context, x, w, window)
    }

    private func plan3D(
        _ context: PlanContext,
        _ x: ValueType,
        _ w: ValueType,
        _ baseWindow: Window
    ) throws(EngineError)
        -> OpPlan
    {
        let (channels, filters, group) = (x.shape[1], w.shape[0], self.group)
        guard channels == w.shape[1] * group, filters % group == 0 else {
            throw context.error("input has \(channels) channels; weights \(w.shape) with group \(group) do not match")
        }
        var window = baseWindow
        window.kernel = Array(w.shape.suffix(3))
        if let kernelShape, kernelShape != window.kernel {
            throw context.error("kernel_shape \(kernelShape) disagrees with weights \(w.shape)")
        }
        let input = Array(x.shape.suffix(3))
        let (output, begin, _) = try window.resolve(input, context)
        if context.has(2) {
            let b = try context.input(2, [.float32])
            guard b.count == filters else { throw context.error("bias has \(b.count) values for \(filters) filters") }
        }
        let (kernel, scratch) = convolutionNDKernel(
            batch: x.shape[0],
            channels: channels,
            input: input,
            filters: filters,
            group: group,
            kernel: window.kernel,
            strides: window.strides,
            dilations: window.dilations,
            begin: begin,
            output: output,
            hasBias: context.has(2),
            activations: self.activations
        )
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [x.shape[0], filters] + output)],
            kernel: kernel,
            scratch: scratch
        )
    }

    private func plan2D(
        _ context: PlanContext,
        _ x: ValueType,
        _ w: ValueType,
        _ baseWindow: Window
    ) throws(EngineError)
        -> OpPlan
    {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (filters, groupChannels, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let group = self.group
        guard channels == groupChannels * group, filters % group == 0 else {
            throw context.error(
                "input has \(channels) channels; weights \(w.shape) with group \(group) need \(groupChannels * group)"
            )
        }
        if let kernelShape, kernelShape != [kh, kw] {
            throw context.error("kernel_shape \(kernelShape) disagrees with weights \(w.shape)")
        }
        var window = baseWindow
        window.kernel = [kh, kw]
        let (out, begin, end) = try window.resolve([height, width], context)
        if context.has(2) {
            let b = try context.input(2, [.float32])
            guard b.count == filters else { throw context.error("bias has \(b.count) values for \(filters) filters") }
        }
        let onednn = OneDNNConvolution(
            batch: batch,
            channels: channels,
            height: height,
            width: width,
            filters: filters,
            group: group,
            kh: kh,
            kw: kw,
            output: out,
            strides: window.strides,
            dilations: window.dilations,
            begin: begin,
            end: end,
            hasBias: context.has(2),
            activations: self.activations,
            sourceChannelsLast: self.sourceChannelsLast,
            resultChannelsLast: self.resultChannelsLast
        )
        // oneDNN where this path would run im2col + GEMM on a dense kernel; 1×1 (one GEMM on the image as it is) and
        // depthwise layers (the direct kernel below) measured faster here than oneDNN with its layout moves, unless
        // the images are channels-last already (no moves).
        let channelsLast = self.sourceChannelsLast || self.resultChannelsLast
        if group == 1 && kh * kw > 1 || channelsLast, let weights = self.weights,
            let plan = try onednn.plan(context, weights: weights)
        {
            return plan
        }
        if channelsLast {
            var planar = self
            planar.sourceChannelsLast = false
            planar.resultChannelsLast = false
            let plan = try planar.plan2D(context, x, w, baseWindow)
            return ChannelsLast.transposing(
                plan,
                images: self.sourceChannelsLast ? [0: x.shape] : [:],
                result: self.resultChannelsLast
            )
        }
        // Weights held for oneDNN, in the ONNX layout again for the kernels below.
        let held = try self.weights.map { weights throws(EngineError) in
            try weights.plain(dims: onednn.weightDims, what: "node '\(context.node)' (Conv)")
        }
        let (oh, ow) = (out[0], out[1])
        let output = ValueType(dtype: .float32, shape: [batch, filters, oh, ow])
        let (sh, sw) = (window.strides[0], window.strides[1])
        let (dh, dw) = (window.dilations[0], window.dilations[1])
        let (ph, pw) = (begin[0], begin[1])
        let filtersPerGroup = filters / group
        let patch = groupChannels * kh * kw
        let pixels = oh * ow
        let direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && oh == height && ow == width
        let scratch = direct ? 0 : patch * pixels * MemoryLayout<Float>.size
        let hasBias = context.has(2)
        let activations = self.activations
        if groupChannels == 1 && filtersPerGroup == 1 {
            // Depthwise: each channel against its own small filter, directly (no im2col, no GEMM per channel).
            let geometry = DepthwiseGeometry(
                height: height,
                width: width,
                oh: oh,
                ow: ow,
                kh: kh,
                kw: kw,
                sh: sh,
                sw: sw,
                dh: dh,
                dw: dw,
                ph: ph,
                pw: pw
            )
            // A single Relu or Clip is clamped in the row kernel while the row is in cache; others follow per plane.
            var (low, high) = (-Float.infinity, Float.infinity)
            var after = activations
            if activations.count == 1 {
                switch activations[0] {
                case .relu: (low, after) = (0, [])
                case .clip(let lower, let upper): (low, high, after) = (lower, upper, [])
                default: break
                }
            }
            let (clampLow, clampHigh, rest) = (low, high, after)
            return OpPlan(
                outputs: [output],
                kernel: { io in
                    let input = io.f32(0)
                    let weights = held?.floats ?? io.f32(1)
                    let y = io.outF32(0)
                    let bias = hasBias ? io.f32(2) : nil
                    let rows = io.scratch.assumingMemoryBound(to: Float.self)
                    var plane = geometry.c
                    for index in 0..<(batch * channels) {
                        let channel = index % channels
                        sy_depthwise_plane(
                            input + index * height * width,
                            weights + channel * kh * kw,
                            bias?[channel] ?? 0,
                            y + index * pixels,
                            &plane,
                            rows,
                            clampLow,
                            clampHigh
                        )
                        for activation in rest { apply(activation, y + index * pixels, pixels) }
                    }
                },
                scratch: geometry.scratchBytes
            )
        }
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let input = io.f32(0)
                let weights = held?.floats ?? io.f32(1)
                let y = io.outF32(0)
                let columns = io.scratch.assumingMemoryBound(to: Float.self)
                let bias = hasBias ? io.f32(2) : nil
                for image in 0..<batch {
                    let plane = y + image * filters * pixels
                    // The bias is written first and the GEMM adds to it (beta = 1): no separate pass over the output
                    // (OpenBLAS would otherwise clear it for beta = 0).
                    if let bias {
                        for filter in 0..<filters {
                            (plane + filter * pixels).update(repeating: bias[filter], count: pixels)
                        }
                    }
                    for g in 0..<group {
                        let source = input + (image * channels + g * groupChannels) * height * width
                        let matrix: UnsafePointer<Float>
                        if direct {
                            matrix = source
                        } else {
                            im2col(
                                source,
                                channels: groupChannels,
                                height: height,
                                width: width,
                                kh: kh,
                                kw: kw,
                                ph: ph,
                                pw: pw,
                                sh: sh,
                                sw: sw,
                                dh: dh,
                                dw: dw,
                                oh: oh,
                                ow: ow,
                                into: columns
                            )
                            matrix = UnsafePointer(columns)
                        }
                        sgemm(
                            transA: false,
                            transB: false,
                            m: filtersPerGroup,
                            n: pixels,
                            k: patch,
                            alpha: 1,
                            a: weights + g * filtersPerGroup * patch,
                            lda: patch,
                            b: matrix,
                            ldb: pixels,
                            beta: bias == nil ? 0 : 1,
                            c: y + (image * filters + g * filtersPerGroup) * pixels,
                            ldc: pixels
                        )
                    }
                    for activation in activations { apply(activation, plane, filters * pixels) }
                }
            },
            scratch: scratch
        )
    }
}

/// The sizes one depthwise plane is convolved (or pooled) with; its row kernels are C (``sy_depthwise_plane``,
/// ``sy_max_pool_plane``), built for AVX-512, AVX2 and baseline x86-64 and chosen by the CPU at load.
struct DepthwiseGeometry: Sendable {
    var height, width, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw: Int

    var c: sy_plane_geometry {
        sy_plane_geometry(
            height: Int64(self.height),
            width: Int64(self.width),
            oh: Int64(self.oh),
            ow: Int64(self.ow),
            kh: Int64(self.kh),
            kw: Int64(self.kw),
            sh: Int64(self.sh),
            sw: Int64(self.sw),
            dh: Int64(self.dh),
            dw: Int64(self.dw),
            ph: Int64(self.ph),
            pw: Int64(self.pw)
        )
    }

    /// Bytes of scratch the row kernels need: one padded input row split by stride.
    var scratchBytes: Int {
        var geometry = self.c
        return Int(sy_plane_scratch(&geometry)) * MemoryLayout<Float>.size
    }
}

/// Lays out every receptive field as a column: rows are (channel, ky, kx), columns are output pixels.
func im2col(
    _ source: UnsafePointer<Float>,
    channels: Int,
    height: Int,
    width: Int,
    kh: Int,
    kw: Int,
    ph: Int,
    pw: Int,
    sh: Int,
    sw: Int,
    dh: Int,
    dw: Int,
    oh: Int,
    ow: Int,
    into columns: UnsafeMutablePointer<Float>
) {
    var row = 0
    for channel in 0..<channels {
        let plane = source + channel * height * width
        for ky in 0..<kh {
            for kx in 0..<kw {
                let target = columns + row * oh * ow
                for oy in 0..<oh {
                    let iy = oy * sh - ph + ky * dh
                    let line = target + oy * ow
                    if iy < 0 || iy >= height {
                        line.update(repeating: 0, count: ow)
                        continue
                    }
                    let sourceLine = plane + iy * width
                    let offset = kx * dw - pw
                    if sw == 1 {
                        for ox in 0..<ow {
                            let ix = ox + offset
                            line[ox] = ix >= 0 && ix < width ? sourceLine[ix] : 0
                        }
                    } else {
                        for ox in 0..<ow {
                            let ix = ox * sw + offset
                            line[ox] = ix >= 0 && ix < width ? sourceLine[ix] : 0
                        }
                    }
                }
                row += 1
            }
        }
    }
}

/// MaxPool and AveragePool over the two spatial axes of NCHW.
struct PoolOp: Operator {
    var window: Window
    var isMax: Bool
    var countIncludePad: Bool
    /// The image and the result are stored channels-last (``ChannelsLast``; max pooling only).
    var channelsLast = false

    init(_ attributes: Attributes, max: Bool) throws(EngineError) {
        guard let kernel = try attributes.ints("kernel_shape") else {
            throw attributes.error("kernel_shape is required")
        }
        self.window = try Window(attributes, kernel: kernel)
        self.isMax = max
        self.countIncludePad = try attributes.int("count_include_pad", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 4 else { throw context.error("expected a 4-D NCHW input, got \(x.shape)") }
        let (planes, height, width) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (out, begin, end) = try self.window.resolve([height, width], context)
        let (oh, ow) = (out[0], out[1])
        let (kh, kw) = (self.window.kernel[0], self.window.kernel[1])
        let (sh, sw) = (self.window.strides[0], self.window.strides[1])
        let (dh, dw) = (self.window.dilations[0], self.window.dilations[1])
        let (ph, pw) = (begin[0], begin[1])
        let (padEndH, padEndW) = (end[0], end[1])
        let isMax = self.isMax
        let includePad = self.countIncludePad
        let output = ValueType(dtype: .float32, shape: [x.shape[0], x.shape[1], oh, ow])
        if self.channelsLast {
            if isMax, let plan = try self.channelsLastPlan(context, x.shape, output, begin, end) { return plan }
            var planar = self
            planar.channelsLast = false
            return ChannelsLast.transposing(try planar.plan(context), images: [0: x.shape], result: true)
        }
        let geometry = DepthwiseGeometry(
            height: height,
            width: width,
            oh: oh,
            ow: ow,
            kh: kh,
            kw: kw,
            sh: sh,
            sw: sw,
            dh: dh,
            dw: dw,
            ph: ph,
            pw: pw
        )
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                if isMax {
                    let rows = io.scratch.assumingMemoryBound(to: Float.self)
                    var plane = geometry.c
                    for index in 0..<planes {
                        sy_max_pool_plane(input + index * height * width, y + index * oh * ow, &plane, rows)
                    }
                    return
                }
                for plane in 0..<planes {
                    let source = input + plane * height * width
                    let target = y + plane * oh * ow
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let y0 = oy * sh - ph
                            let x0 = ox * sw - pw
                            var sum: Float = 0
                            var count = 0
                            for ky in 0..<kh {
                                let iy = y0 + ky * dh
                                if iy < 0 || iy >= height { continue }
                                for kx in 0..<kw {
                                    let ix = x0 + kx * dw
                                    if ix < 0 || ix >= width { continue }
                                    sum += source[iy * width + ix]
                                    count += 1
                                }
                            }
                            if includePad {
                                // The window clipped to the padded input, as onnxruntime counts it.
                                let hEnd = min(y0 + kh, height + padEndH)
                                let wEnd = min(x0 + kw, width + padEndW)
                                count = (hEnd - y0) * (wEnd - x0)
                            }
                            target[oy * ow + ox] = count > 0 ? sum / Float(count) : 0
                        }
                    }
                }
            },
            scratch: isMax ? geometry.scratchBytes : 0
        )
    }
}

extension PoolOp {
    /// Max pooling of a channels-last image on oneDNN, or `nil` when oneDNN has no vector kernel for it.
    fileprivate func channelsLastPlan(
        _ context: PlanContext,
        _ shape: [Int],
        _ output: ValueType,
        _ begin: [Int],
        _ end: [Int]
    ) throws(EngineError) -> OpPlan? {
        guard OneDNN.isUsable else { return nil }
        // oneDNN derives the output size from the pads with floor division: with ceil_mode the end pads are the
        // ones the last window reaches.
        var padEnd = end
        for axis in 0..<2 {
            let extent = (self.window.kernel[axis] - 1) * self.window.dilations[axis] + 1
            let (size, stride, out) = (shape[2 + axis], self.window.strides[axis], output.shape[2 + axis])
            if (size + begin[axis] + end[axis] - extent) / stride + 1 != out {
                padEnd[axis] = (out - 1) * stride + extent - size - begin[axis]
                guard padEnd[axis] >= 0 else { return nil }
            }
        }
        let what = "node '\(context.node)' (MaxPool)"
        let geometry = sy_dnnl_window(
            spatial: 2,
            kernel: (Int64(self.window.kernel[0]), Int64(self.window.kernel[1]), 0),
            strides: (Int64(self.window.strides[0]), Int64(self.window.strides[1]), 0),
            dilations: (Int64(self.window.dilations[0]), Int64(self.window.dilations[1]), 0),
            pad_begin: (Int64(begin[0]), Int64(begin[1]), 0),
            pad_end: (Int64(padEnd[0]), Int64(padEnd[1]), 0)
        )
        let pooling: DNNLPrimitive
        do {
            pooling = try DNNLPrimitive.maxPooling(
                source: try DNNLDescriptor(shape, layout: .channelsLast),
                destination: try DNNLDescriptor(output.shape, layout: .channelsLast),
                window: geometry,
                what: what
            )
        } catch {
            return nil
        }
        guard !pooling.implementation.hasPrefix("ref") else { return nil }
        return OpPlan(
            outputs: [output],
            kernel: { io throws(EngineError) in
                try pooling.execute(
                    threads: BLAS.threadCount,
                    [
                        (DNNLArgument.source, UnsafeMutableRawPointer(mutating: io.input(0))),
                        (DNNLArgument.destination, io.output(0)),
                    ],
                    scratch: io.scratch,
                    what: what
                )
            },
            scratch: pooling.scratchBytes
        )
    }
}

/// GlobalAveragePool: the mean of each channel's spatial plane.
struct GlobalAveragePoolOp: Operator {
    /// The image is stored channels-last (``ChannelsLast``); the result (N×C×1×1) is the same bytes in both layouts.
    var channelsLast = false

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count >= 3 else { throw context.error("expected an N×C×spatial input, got \(x.shape)") }
        let planes = x.shape[0] * x.shape[1]
        let size = x.shape.dropFirst(2).reduce(1, *)
        let output = ValueType(
            dtype: .float32,
            shape: [x.shape[0], x.shape[1]] + Array(repeating: 1, count: x.shape.count - 2)
        )
        if self.channelsLast && x.shape.count == 4 {
            let (batch, channels) = (x.shape[0], x.shape[1])
            return OpPlan(
                outputs: [output],
                kernel: { io in
                    let input = io.f32(0)
                    let y = io.outF32(0)
                    for image in 0..<batch {
                        let sums = y + image * channels
                        sums.update(repeating: 0, count: channels)
                        let source = input + image * size * channels
                        for pixel in 0..<size {
                            let row = source + pixel * channels
                            for channel in 0..<channels { sums[channel] += row[channel] }
                        }
                        for channel in 0..<channels { sums[channel] /= Float(size) }
                    }
                }
            )
        }
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                for plane in 0..<planes {
                    var sum: Float = 0
                    let source = input + plane * size
                    for index in 0..<size { sum += source[index] }
                    y[plane] = sum / Float(size)
                }
            }
        )
    }
}

/// BatchNormalization in inference mode: a per-channel scale and shift computed at plan time.
struct BatchNormOp: Operator {
    var epsilon: Float

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count >= 2 else { throw context.error("expected at least N×C, got \(x.shape)") }
        let channels = x.shape[1]
        var parameters: [[Float]] = []
        for (index, name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let constant = try context.constant(index, name)
            guard let values = constant.floats, values.count == channels else {
                throw context.error("\(name) must hold \(channels) floats, got \(constant.type)")
            }
            parameters.append(values)
        }
        // y = (x - mean) / sqrt(var + eps) * scale + B  =  x * a + b
        var a = [Float](repeating: 0, count: channels)
        var b = [Float](repeating: 0, count: channels)
        for channel in 0..<channels {
            a[channel] = parameters[0][channel] / (parameters[3][channel] + self.epsilon).squareRoot()
            b[channel] = parameters[1][channel] - parameters[2][channel] * a[channel]
        }
        let (scale, shift) = (a, b)
        let batch = x.shape[0]
        let size = x.shape.dropFirst(2).reduce(1, *)
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                for image in 0..<batch {
                    for channel in 0..<channels {
                        let offset = (image * channels + channel) * size
                        let (s, t) = (scale[channel], shift[channel])
                        for index in 0..<size { y[offset + index] = input[offset + index] * s + t }
                    }
                }
            },
            inPlace: 0
        )
    }
}
