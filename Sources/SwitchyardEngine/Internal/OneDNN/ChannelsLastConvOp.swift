import COneDNN
import SwitchyardTensor

/// A 2-D convolution on oneDNN with activations in channels-last order (N, H, W, C as the tensor's shape), bias
/// and fused activations as post-ops, and optionally a residual tensor added before the last activations
/// (ResNet's `relu(conv(x) + shortcut)` in one pass).
///
/// Inputs: 0 the image (channels-last), 1 the bias (optional), 2 the residual (optional, channels-last).
struct ChannelsLastConvOp: Operator {
    var weights: ConvWeights
    var window: Window
    /// Applied to the convolution's result.
    var activations: [Activation]
    /// Applied after the residual is added.
    var residualActivations: [Activation] = []

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 4 else { throw context.error("expected a channels-last 4-D input, got \(x.shape)") }
        let (batch, height, width, channels) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (filters, groupChannels, kh, kw) = (
            self.weights.shape[0], self.weights.shape[1], self.weights.shape[2], self.weights.shape[3]
        )
        let group = self.weights.group
        guard channels == groupChannels * group else {
            throw context.error(
                "input has \(channels) channels; weights \(self.weights.shape) with group \(group) need \(groupChannels * group)")
        }
        var window = self.window
        window.kernel = [kh, kw]
        let (out, begin, end) = try window.resolve([height, width], context)
        let output = ValueType(dtype: .float32, shape: [batch, out[0], out[1], filters])
        let hasBias = context.has(1)
        if hasBias {
            let b = try context.input(1, [.float32])
            guard b.count == filters else { throw context.error("bias has \(b.count) values for \(filters) filters") }
        }
        var postOps = self.activations.map(DNNLPostOp.init)
        var residualIndex: Int? = nil
        if context.has(2) {
            let r = try context.input(2, [.float32])
            guard r.shape.count == 4, broadcastShapes(output.shape, r.shape) == output.shape else {
                throw context.error("the residual \(r.shape) does not broadcast to the convolution's \(output.shape)")
            }
            residualIndex = postOps.count
            let dims = [r.shape[0], r.shape[3], r.shape[1], r.shape[2]]
            postOps.append(.add(try DNNLDescriptor(dims, layout: .channelsLast)))
            postOps += self.residualActivations.map(DNNLPostOp.init)
        }
        let source = try DNNLDescriptor([batch, channels, height, width], layout: .channelsLast)
        let destination = try DNNLDescriptor([batch, filters, out[0], out[1]], layout: .channelsLast)
        let bias = hasBias ? try DNNLDescriptor([filters], layout: .plain) : nil
        let geometry = sy_dnnl_window(
            spatial: 2, kernel: (Int64(kh), Int64(kw), 0),
            strides: (Int64(window.strides[0]), Int64(window.strides[1]), 0),
            dilations: (Int64(window.dilations[0]), Int64(window.dilations[1]), 0),
            pad_begin: (Int64(begin[0]), Int64(begin[1]), 0), pad_end: (Int64(end[0]), Int64(end[1]), 0))
        let what = "node '\(context.node)' (Conv)"
        func make(_ weights: DNNLDescriptor) throws(EngineError) -> DNNLPrimitive {
            try DNNLPrimitive.convolution(
                source: source, weights: weights, bias: bias, destination: destination, window: geometry,
                postOps: postOps, what: what)
        }
        // The layout the weights are kept in, when this shape can use it; else oneDNN's choice for this shape.
        var primitive: DNNLPrimitive? = nil
        if let kept = self.weights.preferred { primitive = try? make(kept) }
        if primitive == nil { primitive = try make(try DNNLDescriptor(self.weights.logicalDims, layout: .any)) }
        guard let primitive, let chosen = primitive.descriptor(DNNLArgument.weights) else {
            throw context.error("oneDNN made no convolution", .unsupportedOperator)
        }
        let packed = try self.weights.buffer(for: chosen, what: what)
        return OpPlan(
            outputs: [output],
            kernel: { io throws(EngineError) in
                var arguments: [(Int32, UnsafeMutableRawPointer)] = [
                    (DNNLArgument.source, UnsafeMutableRawPointer(mutating: io.input(0))),
                    (DNNLArgument.weights, packed.pointer), (DNNLArgument.destination, io.output(0)),
                ]
                if hasBias { arguments.append((DNNLArgument.bias, UnsafeMutableRawPointer(mutating: io.input(1)))) }
                if let residualIndex {
                    arguments.append((DNNLArgument.post(residualIndex), UnsafeMutableRawPointer(mutating: io.input(2))))
                }
                try primitive.execute(threads: BLAS.threadCount, arguments, scratch: io.scratch, what: what)
            }, scratch: primitive.scratchBytes)
    }
}

/// MaxPool or AveragePool over channels-last images on oneDNN.
struct ChannelsLastPoolOp: Operator {
    var window: Window
    var isMax: Bool
    var countIncludePad: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 4 else { throw context.error("expected a channels-last 4-D input, got \(x.shape)") }
        let (batch, height, width, channels) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (out, begin, _) = try self.window.resolve([height, width], context)
        // oneDNN wants end pads that give exactly these output sizes (ceil_mode may need more than ONNX's pads).
        var end = [0, 0]
        for axis in 0..<2 {
            let extent = (self.window.kernel[axis] - 1) * self.window.dilations[axis] + 1
            end[axis] = max(0, (out[axis] - 1) * self.window.strides[axis] + extent - [height, width][axis] - begin[axis])
        }
        let output = ValueType(dtype: .float32, shape: [batch, out[0], out[1], channels])
        let kind =
            self.isMax
            ? SY_DNNL_POOL_MAX : (self.countIncludePad ? SY_DNNL_POOL_AVG_INCLUDE_PAD : SY_DNNL_POOL_AVG_EXCLUDE_PAD)
        let geometry = sy_dnnl_window(
            spatial: 2, kernel: (Int64(self.window.kernel[0]), Int64(self.window.kernel[1]), 0),
            strides: (Int64(self.window.strides[0]), Int64(self.window.strides[1]), 0),
            dilations: (Int64(self.window.dilations[0]), Int64(self.window.dilations[1]), 0),
            pad_begin: (Int64(begin[0]), Int64(begin[1]), 0), pad_end: (Int64(end[0]), Int64(end[1]), 0))
        let what = "node '\(context.node)' (\(context.opType))"
        let primitive = try DNNLPrimitive.pooling(
            kind: Int32(kind), source: try DNNLDescriptor([batch, channels, height, width], layout: .channelsLast),
            destination: try DNNLDescriptor([batch, channels, out[0], out[1]], layout: .channelsLast),
            window: geometry, what: what)
        return OpPlan(
            outputs: [output],
            kernel: { io throws(EngineError) in
                try primitive.execute(
                    threads: BLAS.threadCount,
                    [
                        (DNNLArgument.source, UnsafeMutableRawPointer(mutating: io.input(0))),
                        (DNNLArgument.destination, io.output(0)),
                    ], scratch: io.scratch, what: what)
            }, scratch: primitive.scratchBytes)
    }
}

/// GlobalAveragePool / GlobalMaxPool over channels-last images: [N, H, W, C] to [N, 1, 1, C], which has the same
/// bytes as the plain [N, C, 1, 1].
struct ChannelsLastGlobalPoolOp: Operator {
    var isMax: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 4 else { throw context.error("expected a channels-last 4-D input, got \(x.shape)") }
        let (batch, pixels, channels) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        let isMax = self.isMax
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [batch, 1, 1, channels])],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                for image in 0..<batch {
                    let target = y + image * channels
                    let source = input + image * pixels * channels
                    target.update(repeating: isMax ? -Float.infinity : 0, count: channels)
                    for pixel in 0..<pixels {
                        let row = source + pixel * channels
                        if isMax {
                            for channel in 0..<channels {
                                let value = row[channel]
                                if value > target[channel] || value.isNaN { target[channel] = value }
                            }
                        } else {
                            for channel in 0..<channels { target[channel] += row[channel] }
                        }
                    }
                    if !isMax && pixels > 0 {
                        let scale = 1 / Float(pixels)
                        for channel in 0..<channels { target[channel] *= scale }
                    }
                }
            })
    }
}

/// Moves a float32 4-D tensor between the plain order (N, C, H, W) and channels-last (N, H, W, C). Where the two
/// have the same bytes (one channel, or one pixel) the output is the input.
struct LayoutOp: Operator {
    var toChannelsLast: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 4 else { throw context.error("expected a 4-D tensor, got \(x.shape)") }
        let s = x.shape
        let dims = self.toChannelsLast ? s : [s[0], s[3], s[1], s[2]]  // N, C, H, W
        let shape = self.toChannelsLast ? [s[0], s[2], s[3], s[1]] : dims
        let output = ValueType(dtype: .float32, shape: shape)
        if dims[1] == 1 || dims[2] * dims[3] == 1 || x.count == 0 {
            return OpPlan(outputs: [output], kernel: { _ in }, alias: 0)
        }
        let plain = try DNNLDescriptor(dims, layout: .plain)
        let last = try DNNLDescriptor(dims, layout: .channelsLast)
        let what = "node '\(context.node)' (layout)"
        let primitive = try DNNLPrimitive.reorder(
            source: self.toChannelsLast ? plain : last, destination: self.toChannelsLast ? last : plain, what: what)
        return OpPlan(
            outputs: [output],
            kernel: { io throws(EngineError) in
                try primitive.execute(
                    threads: BLAS.threadCount,
                    [
                        (DNNLArgument.source, UnsafeMutableRawPointer(mutating: io.input(0))),
                        (DNNLArgument.destination, io.output(0)),
                    ], scratch: io.scratch, what: what)
            }, scratch: primitive.scratchBytes)
    }
}
