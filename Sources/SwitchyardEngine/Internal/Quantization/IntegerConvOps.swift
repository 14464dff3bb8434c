import SwitchyardTensor

/// ConvInteger and QLinearConv (the QOperator form of onnxruntime's static quantization): a convolution over
/// 1 to 3 spatial axes in int32 on zero-point-shifted uint8/int8 values, with groups. ConvInteger answers the
/// int32 sums; QLinearConv adds its int32 bias, requantizes with x_scale·w_scale/y_scale (per tensor or per output
/// channel), rounds half to even and saturates to y's type. Direct loops over a table of input offsets per output
/// pixel: correct for every geometry, not tuned (the QDQ form of the same layer takes the VNNI path,
/// ``QuantizedConvOp``).
struct IntegerConvOp: Operator {
    let window: Window
    let group: Int
    let kernelShape: [Int]?
    /// QLinearConv's inputs; ConvInteger's otherwise.
    let requantizes: Bool

    init(_ attributes: Attributes, requantizes: Bool) throws(EngineError) {
        self.kernelShape = try attributes.ints("kernel_shape")
        self.group = try attributes.int("group", 1)
        guard self.group >= 1 else { throw attributes.error("group must be positive") }
        self.window = try Window(attributes, kernel: self.kernelShape)
        self.requantizes = requantizes
    }

    /// Input positions: x, x zero point, w, w zero point (QLinearConv interleaves scales).
    private var positions: (x: Int, xZero: Int, w: Int, wZero: Int) {
        self.requantizes ? (0, 2, 3, 5) : (0, 2, 1, 3)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let at = self.positions
        let x = try context.input(at.x, [.uint8, .int8])
        let w = try context.input(at.w, [.uint8, .int8])
        guard x.shape.count == w.shape.count, (3...5).contains(x.shape.count) else {
            throw context.error(
                "needs N×C×spatial input and weights of the same rank (1 to 3 spatial axes); they are \(x.shape) and "
                    + "\(w.shape)"
            )
        }
        let spatial = x.shape.count - 2
        let (batch, channels, filters) = (x.shape[0], x.shape[1], w.shape[0])
        let group = self.group
        guard channels % group == 0, filters % group == 0, w.shape[1] * group == channels else {
            throw context.error("weights \(w.shape) do not fit \(channels) input channels in \(group) groups")
        }
        let kernel = Array(w.shape.suffix(spatial))
        if let kernelShape, kernelShape != kernel {
            throw context.error("kernel_shape \(kernelShape) disagrees with weights \(w.shape)")
        }
        var window = self.window
        window.kernel = kernel
        if window.strides.isEmpty { window.strides = Array(repeating: 1, count: spatial) }
        if window.dilations.isEmpty { window.dilations = Array(repeating: 1, count: spatial) }
        if window.pads.isEmpty { window.pads = Array(repeating: 0, count: 2 * spatial) }
        guard window.strides.count == spatial, window.dilations.count == spatial, window.pads.count == 2 * spatial,
            window.strides.allSatisfy({ $0 > 0 }), window.dilations.allSatisfy({ $0 > 0 })
        else {
            throw context.error("strides, dilations and pads must match \(spatial) spatial axes")
        }
        let input = Array(x.shape.suffix(spatial))
        let (output, begin, _) = try window.resolve(input, context)

        // Zero points: x's one value; w's one value or one per filter.
        func zeroPoint(_ index: Int, _ name: String, _ dtype: DType, perFilter: Bool) throws(EngineError) -> [Int32]? {
            guard context.has(index) else { return nil }
            let type = try context.input(index, [dtype])
            guard type.count == 1 || (perFilter && type.shape == [filters]) else {
                throw context.error(
                    "\(name) must hold one value\(perFilter ? " or one per filter (\(filters))" : ""); it is \(type)"
                )
            }
            let constant = try context.constant(index, name)
            return (0..<type.count).map { Int32(loadInteger(constant.buffer.pointer, $0, dtype)) }
        }
        let xZero = try zeroPoint(at.xZero, "x_zero_point", x.dtype, perFilter: false)?[0] ?? 0
        let wZeros = try zeroPoint(at.wZero, "w_zero_point", w.dtype, perFilter: true) ?? [0]

        // QLinearConv: scales, y's zero point and type, bias.
        var multipliers: [Double] = []
        var yZero: Int32 = 0
        var outputType = DType.int32
        var bias: [Int32]? = nil
        if self.requantizes {
            func scales(_ index: Int, _ name: String, perFilter: Bool) throws(EngineError) -> [Float] {
                let type = try context.input(index, [.float32])
                guard type.count == 1 || (perFilter && type.shape == [filters]) else {
                    let choices = perFilter ? " or one per filter (\(filters))" : ""
                    throw context.error("\(name) must hold one value\(choices); it is \(type)")
                }
                return try context.constant(index, name).values(Float.self)
            }
            let xScale = try scales(1, "x_scale", perFilter: false)[0]
            let wScales = try scales(4, "w_scale", perFilter: true)
            let yScale = try scales(6, "y_scale", perFilter: false)[0]
            guard yScale > 0, xScale > 0, wScales.allSatisfy({ $0 > 0 }) else {
                throw context.error("scales must be positive")
            }
            multipliers = (0..<filters).map { Double(xScale * wScales[wScales.count == 1 ? 0 : $0] / yScale) }
            let yZeroType = try context.input(7, [.uint8, .int8])
            guard yZeroType.count == 1 else { throw context.error("y_zero_point must hold one value") }
            outputType = yZeroType.dtype
            yZero = Int32(loadInteger(try context.constant(7, "y_zero_point").buffer.pointer, 0, outputType))
            if context.has(8) {
                let b = try context.input(8, [.int32])
                guard b.shape == [filters] else { throw context.error("B must be [\(filters)]; it is \(b.shape)") }
                bias = try context.constant(8, "B").values(Int32.self)
            }
        }

        // Per output pixel and kernel tap: the input pixel's offset in its plane, or -1 in the padding.
        let taps = kernel.reduce(1, *)
        let outPixels = output.reduce(1, *)
        let inPixels = input.reduce(1, *)
        let inStrides = contiguousStrides(input)
        let kernelStrides = contiguousStrides(kernel)
        let outStrides = contiguousStrides(output)
        var table = [Int](repeating: -1, count: outPixels * taps)
        for pixel in 0..<outPixels {
            for tap in 0..<taps {
                var offset = 0
                var inside = true
                for axis in 0..<spatial {
                    let o = pixel / outStrides[axis] % output[axis]
                    let k = tap / kernelStrides[axis] % kernel[axis]
                    let position = o * window.strides[axis] - begin[axis] + k * window.dilations[axis]
                    if position < 0 || position >= input[axis] {
                        inside = false
                        break
                    }
                    offset += position * inStrides[axis]
                }
                if inside { table[pixel * taps + tap] = offset }
            }
        }
        let (groupChannels, groupFilters) = (channels / group, filters / group)
        let (xType, wType, requantizes) = (x.dtype, w.dtype, self.requantizes)
        let at2 = at
        let (offsets, biases, factors, yZeroPoint, yType) = (table, bias, multipliers, yZero, outputType)
        var outShape = [batch, filters]
        outShape += output
        return OpPlan(
            outputs: [ValueType(dtype: outputType, shape: outShape)],
            kernel: { io in
                let (xs, ws) = (io.input(at2.x), io.input(at2.w))
                var weights = [Int32](repeating: 0, count: filters * groupChannels * taps)
                for index in weights.indices {
                    let filter = index / (groupChannels * taps)
                    weights[index] =
                        Int32(loadInteger(ws, index, wType)) - wZeros[wZeros.count == 1 ? 0 : filter]
                }
                var plane = [Int32](repeating: 0, count: inPixels)
                var sums = [Int32](repeating: 0, count: groupFilters * outPixels)
                for n in 0..<batch {
                    for g in 0..<group {
                        for index in sums.indices { sums[index] = 0 }
                        for c in 0..<groupChannels {
                            let source = (n * channels + g * groupChannels + c) * inPixels
                            for p in 0..<inPixels { plane[p] = Int32(loadInteger(xs, source + p, xType)) - xZero }
                            for f in 0..<groupFilters {
                                let wBase = ((g * groupFilters + f) * groupChannels + c) * taps
                                let sBase = f * outPixels
                                for pixel in 0..<outPixels {
                                    var total: Int32 = 0
                                    for tap in 0..<taps {
                                        let offset = offsets[pixel * taps + tap]
                                        if offset >= 0 { total &+= plane[offset] &* weights[wBase + tap] }
                                    }
                                    sums[sBase + pixel] &+= total
                                }
                            }
                        }
                        let target = io.output(0)
                        for f in 0..<groupFilters {
                            let filter = g * groupFilters + f
                            let outBase = (n * filters + filter) * outPixels
                            for pixel in 0..<outPixels {
                                let sum = sums[f * outPixels + pixel]
                                if !requantizes {
                                    target.storeBytes(of: sum, toByteOffset: (outBase + pixel) * 4, as: Int32.self)
                                    continue
                                }
                                let total = Double(sum &+ (biases?[filter] ?? 0))
                                let scaled = total * factors[filter] + Double(yZeroPoint)
                                let bounds: ClosedRange<Double> = yType == .int8 ? -128...127 : 0...255
                                let clamped = min(max(scaled, bounds.lowerBound), bounds.upperBound)
                                let value = Int64(clamped.rounded(.toNearestOrEven))
                                store(integer: value, target, outBase + pixel, yType)
                            }
                        }
                    }
                }
            }
        )
    }
}
