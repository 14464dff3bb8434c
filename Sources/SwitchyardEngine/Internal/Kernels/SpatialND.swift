import SwitchyardTensor

/// Walks every multi-index of `shape` in row-major order.
@inline(__always)
func forEachIndex(_ shape: [Int], _ body: ([Int]) -> Void) {
    let count = shape.reduce(1, *)
    if count == 0 { return }
    var index = [Int](repeating: 0, count: shape.count)
    for _ in 0..<count {
        body(index)
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Lays out every receptive field of an N-D input (any number of spatial axes) as a column: rows are
/// (channel, kernel offset), columns are output positions.
func im2colND(
    _ source: UnsafePointer<Float>,
    channels: Int,
    input: [Int],
    kernel: [Int],
    strides: [Int],
    dilations: [Int],
    begin: [Int],
    output: [Int],
    into columns: UnsafeMutablePointer<Float>
) {
    let plane = input.reduce(1, *)
    let pixels = output.reduce(1, *)
    let inputStrides = contiguousStrides(input)
    var row = 0
    for channel in 0..<channels {
        let base = source + channel * plane
        forEachIndex(kernel) { offset in
            let target = columns + row * pixels
            var position = 0
            forEachIndex(output) { out in
                var inside = true
                var at = 0
                for axis in 0..<input.count {
                    let i = out[axis] * strides[axis] - begin[axis] + offset[axis] * dilations[axis]
                    if i < 0 || i >= input[axis] {
                        inside = false
                        break
                    }
                    at += i * inputStrides[axis]
                }
                target[position] = inside ? base[at] : 0
                position += 1
            }
            row += 1
        }
    }
}

/// Convolution over any number of spatial axes (3-D here; 1-D and 2-D take the 2-D path): im2col + GEMM.
func convolutionNDKernel(
    batch: Int,
    channels: Int,
    input: [Int],
    filters: Int,
    group: Int,
    kernel: [Int],
    strides: [Int],
    dilations: [Int],
    begin: [Int],
    output: [Int],
    hasBias: Bool,
    activations: [Activation]
) -> (Kernel, Int) {
    let groupChannels = channels / group
    let filtersPerGroup = filters / group
    let patch = groupChannels * kernel.reduce(1, *)
    let pixels = output.reduce(1, *)
    let plane = input.reduce(1, *)
    let scratch = patch * pixels * MemoryLayout<Float>.size
    let kernel: Kernel = { io in
        let x = io.f32(0)
        let weights = io.f32(1)
        let y = io.outF32(0)
        let columns = io.scratch.assumingMemoryBound(to: Float.self)
        for image in 0..<batch {
            for g in 0..<group {
                im2colND(
                    x + (image * channels + g * groupChannels) * plane,
                    channels: groupChannels,
                    input: input,
                    kernel: kernel,
                    strides: strides,
                    dilations: dilations,
                    begin: begin,
                    output: output,
                    into: columns
                )
                sgemm(
                    transA: false,
                    transB: false,
                    m: filtersPerGroup,
                    n: pixels,
                    k: patch,
                    alpha: 1,
                    a: weights + g * filtersPerGroup * patch,
                    lda: patch,
                    b: columns,
                    ldb: pixels,
                    beta: 0,
                    c: y + (image * filters + g * filtersPerGroup) * pixels,
                    ldc: pixels
                )
            }
            let out = y + image * filters * pixels
            if hasBias {
                let bias = io.f32(2)
                for filter in 0..<filters {
                    let row = out + filter * pixels
                    for index in 0..<pixels { row[index] += bias[filter] }
                }
            }
            for activation in activations { apply(activation, out, filters * pixels) }
        }
    }
    return (kernel, scratch)
}

/// ConvTranspose over 1, 2 or 3 spatial axes: a GEMM per image and group, then the columns are added into
/// the output (col2im). Output size from `output_shape` or from strides, pads and `output_padding`.
struct ConvTransposeOp: Operator {
    var group: Int
    var kernelShape: [Int]?
    var strides: [Int]?
    var dilations: [Int]?
    var pads: [Int]?
    var outputPadding: [Int]?
    var outputShape: [Int]?
    var autoPad: String

    init(_ attributes: Attributes) throws(EngineError) {
        self.group = try attributes.int("group", 1)
        self.kernelShape = try attributes.ints("kernel_shape")
        self.strides = try attributes.ints("strides")
        self.dilations = try attributes.ints("dilations")
        self.pads = try attributes.ints("pads")
        self.outputPadding = try attributes.ints("output_padding")
        self.outputShape = try attributes.ints("output_shape")
        self.autoPad = try attributes.string("auto_pad", "NOTSET")
        guard self.group >= 1 else { throw attributes.error("group must be positive") }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        let w = try context.input(1, [.float32])
        let spatial = x.shape.count - 2
        guard spatial >= 1, w.shape.count == x.shape.count else {
            throw context.error("input \(x.shape) and weights \(w.shape) must be N×C×spatial with the same rank")
        }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let group = self.group
        guard w.shape[0] == channels, channels % group == 0 else {
            throw context.error("weights \(w.shape) do not match \(channels) input channels with group \(group)")
        }
        let filters = w.shape[1] * group
        let kernel = Array(w.shape.suffix(spatial))
        if let kernelShape, kernelShape != kernel {
            throw context.error("kernel_shape \(kernelShape) disagrees with weights \(w.shape)")
        }
        let input = Array(x.shape.suffix(spatial))
        let strides = self.strides ?? Array(repeating: 1, count: spatial)
        let dilations = self.dilations ?? Array(repeating: 1, count: spatial)
        let outputPadding = self.outputPadding ?? Array(repeating: 0, count: spatial)
        guard strides.count == spatial, dilations.count == spatial, outputPadding.count == spatial else {
            throw context.error("strides, dilations and output_padding need \(spatial) values")
        }
        var begin = [Int](repeating: 0, count: spatial)
        var output = [Int](repeating: 0, count: spatial)
        for axis in 0..<spatial {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            let full = strides[axis] * (input[axis] - 1) + outputPadding[axis] + extent
            if let outputShape {
                guard outputShape.count >= spatial else { throw context.error("output_shape needs \(spatial) values") }
                let target = outputShape[outputShape.count - spatial + axis]
                let total = full - target
                let half = Int((Double(total) / 2).rounded(.down))  // floor, as the reference divides
                begin[axis] = self.autoPad == "SAME_UPPER" ? half : total - half
                output[axis] = target
            } else if self.autoPad == "SAME_UPPER" || self.autoPad == "SAME_LOWER" {
                let target = input[axis] * strides[axis]
                let total = max(full - target, 0)
                begin[axis] = self.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                output[axis] = target
            } else {
                let pads = self.autoPad == "VALID" ? nil : self.pads
                let head = pads?[axis] ?? 0
                let tail = pads?[axis + spatial] ?? 0
                begin[axis] = head
                output[axis] = full - head - tail
            }
            guard output[axis] >= 0 else { throw context.error("the output would have a negative size") }
        }
        if context.has(2) {
            let b = try context.input(2, [.float32])
            guard b.count == filters else { throw context.error("bias has \(b.count) values for \(filters) filters") }
        }
        let groupChannels = channels / group
        let filtersPerGroup = filters / group
        let taps = kernel.reduce(1, *)
        let rows = filtersPerGroup * taps
        let pixels = input.reduce(1, *)
        let outPixels = output.reduce(1, *)
        let outStrides = contiguousStrides(output)
        let hasBias = context.has(2)
        // For each (kernel tap, input position) the output offset, or -1 when it falls outside.
        var targets = [Int](repeating: -1, count: taps * pixels)
        var tap = 0
        forEachIndex(kernel) { offset in
            var position = 0
            forEachIndex(input) { index in
                var at = 0
                var inside = true
                for axis in 0..<spatial {
                    let o = index[axis] * strides[axis] - begin[axis] + offset[axis] * dilations[axis]
                    if o < 0 || o >= output[axis] {
                        inside = false
                        break
                    }
                    at += o * outStrides[axis]
                }
                if inside { targets[tap * pixels + position] = at }
                position += 1
            }
            tap += 1
        }
        let map = targets
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [batch, filters] + output)],
            kernel: { io in
                let x = io.f32(0)
                let weights = io.f32(1)
                let y = io.outF32(0)
                let columns = io.scratch.assumingMemoryBound(to: Float.self)
                y.update(repeating: 0, count: batch * filters * outPixels)
                for image in 0..<batch {
                    for g in 0..<group {
                        // columns[(filter, tap), pixel] = Σ_c W[c, filter, tap] · X[c, pixel]
                        sgemm(
                            transA: true,
                            transB: false,
                            m: rows,
                            n: pixels,
                            k: groupChannels,
                            alpha: 1,
                            a: weights + g * groupChannels * rows,
                            lda: rows,
                            b: x + (image * channels + g * groupChannels) * pixels,
                            ldb: pixels,
                            beta: 0,
                            c: columns,
                            ldc: pixels
                        )
                        for filter in 0..<filtersPerGroup {
                            let out = y + (image * filters + g * filtersPerGroup + filter) * outPixels
                            for t in 0..<taps {
                                let column = columns + (filter * taps + t) * pixels
                                map.withUnsafeBufferPointer { targets in
                                    let line = targets.baseAddress! + t * pixels
                                    for p in 0..<pixels where line[p] >= 0 { out[line[p]] += column[p] }
                                }
                            }
                        }
                    }
                    if hasBias {
                        let bias = io.f32(2)
                        for filter in 0..<filters {
                            let out = y + (image * filters + filter) * outPixels
                            for index in 0..<outPixels { out[index] += bias[filter] }
                        }
                    }
                }
            },
            scratch: rows * pixels * MemoryLayout<Float>.size
        )
    }
}

/// Pooling over any number of spatial axes: MaxPool (with its optional indices output), AveragePool, LpPool,
/// and the global forms. 2-D float MaxPool and AveragePool without indices take ``PoolOp``'s faster loop.
struct PoolNDOp: Operator {
    enum Kind: Sendable {
        case max, average
        case lp(Int)
    }
    var kind: Kind
    var window: Window?
    var countIncludePad: Bool
    var columnMajorIndices: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let types: Set<DType> = if case .max = self.kind { numericTypes } else { floatTypes }
        let x = try context.input(0, types)
        let spatial = x.shape.count - 2
        guard spatial >= 1 else { throw context.error("expected N×C×spatial input, got \(x.shape)") }
        let input = Array(x.shape.suffix(spatial))
        var output: [Int]
        var begin: [Int]
        var end: [Int]
        var kernel: [Int]
        var strides: [Int]
        var dilations: [Int]
        if let window = self.window {
            guard window.kernel.count == spatial else {
                throw context.error("kernel_shape \(window.kernel) does not match \(spatial) spatial axes")
            }
            (output, begin, end) = try window.resolve(input, context)
            (kernel, strides, dilations) = (window.kernel, window.strides, window.dilations)
        } else {  // global
            output = Array(repeating: 1, count: spatial)
            begin = Array(repeating: 0, count: spatial)
            end = begin
            kernel = input
            strides = Array(repeating: 1, count: spatial)
            dilations = strides
        }
        let planes = x.shape[0] * x.shape[1]
        let channels = x.shape[1]
        let plane = input.reduce(1, *)
        let outPlane = output.reduce(1, *)
        let inStrides = contiguousStrides(input)
        let shape = Array(x.shape.prefix(2)) + output
        let (kind, includePad, columnMajor, dtype) = (self.kind, self.countIncludePad, self.columnMajorIndices, x.dtype)
        var outputs = [ValueType(dtype: x.dtype, shape: shape)]
        if case .max = kind { outputs.append(ValueType(dtype: .int64, shape: shape)) }
        let paddedEnd = (0..<spatial).map { input[$0] + end[$0] }
        let geometry = (output: output, begin: begin, kernel: kernel, strides: strides, dilations: dilations)
        return OpPlan(
            outputs: outputs,
            kernel: { io in
                let (output, begin, kernel, strides, dilations) = geometry
                let source = io.input(0)
                let target = io.output(0)
                let indices =
                    io.outs.count > 1 && io.outs[1] >= 0 ? io.output(1).assumingMemoryBound(to: Int64.self) : nil
                for p in 0..<planes {
                    var position = 0
                    forEachIndex(output) { out in
                        var best = -Double.infinity
                        var bestAt = -1
                        var sum = 0.0
                        var count = 0
                        var windowSize = 1
                        for axis in 0..<spatial {
                            let start = out[axis] * strides[axis] - begin[axis]
                            let stop = min(start + (kernel[axis] - 1) * dilations[axis] + 1, paddedEnd[axis])
                            windowSize *= (stop - start + dilations[axis] - 1) / dilations[axis]
                        }
                        forEachIndex(kernel) { offset in
                            var at = 0
                            for axis in 0..<spatial {
                                let i = out[axis] * strides[axis] - begin[axis] + offset[axis] * dilations[axis]
                                if i < 0 || i >= input[axis] { return }
                                at += i * inStrides[axis]
                            }
                            let value =
                                dtype.isFloatingPoint
                                ? loadDouble(source, p * plane + at, dtype)
                                : Double(loadInteger(source, p * plane + at, dtype))
                            switch kind {
                            case .max:
                                if value > best || (bestAt < 0 && value.isNaN) {
                                    best = value
                                    bestAt = at
                                }
                            case .average: sum += value
                            case .lp(let power): sum += Double.power(Swift.abs(value), Double(power))
                            }
                            count += 1
                        }
                        let index = p * outPlane + position
                        switch kind {
                        case .max:
                            if dtype.isFloatingPoint {
                                store(double: best, target, index, dtype)
                            } else {
                                store(integer: bestAt < 0 ? 0 : Int64(best), target, index, dtype)
                            }
                            if let indices {
                                var flat = bestAt
                                if columnMajor {  // storage_order = 1: column-major within the plane
                                    var rest = bestAt
                                    var columnIndex = 0
                                    var multiplier = 1
                                    for axis in 0..<spatial {
                                        let coordinate = rest / inStrides[axis]
                                        rest %= inStrides[axis]
                                        columnIndex += coordinate * multiplier
                                        multiplier *= input[axis]
                                    }
                                    flat = columnIndex
                                }
                                indices[index] = Int64(p * plane + flat)
                                _ = channels
                            }
                        case .average:
                            let divisor = includePad ? windowSize : count
                            store(double: divisor > 0 ? sum / Double(divisor) : 0, target, index, dtype)
                        case .lp(let power):
                            store(double: Double.power(sum, 1 / Double(power)), target, index, dtype)
                        }
                        position += 1
                    }
                }
            }
        )
    }
}

/// MaxPool, AveragePool and LpPool: the 2-D float loop when it applies, else the N-D one.
struct PoolSelectOp: Operator {
    var general: PoolNDOp
    var fast: PoolOp?

    init(_ attributes: Attributes, kind: PoolNDOp.Kind) throws(EngineError) {
        guard let kernel = try attributes.ints("kernel_shape") else {
            throw attributes.error("kernel_shape is required")
        }
        let window = try Window(attributes, kernel: kernel)
        let includePad = try attributes.int("count_include_pad", 0) != 0
        let storageOrder = try attributes.int("storage_order", 0)
        self.general = PoolNDOp(
            kind: kind,
            window: window,
            countIncludePad: includePad,
            columnMajorIndices: storageOrder == 1
        )
        switch kind {
        case .max where kernel.count == 2: self.fast = try PoolOp(attributes, max: true)
        case .average where kernel.count == 2: self.fast = try PoolOp(attributes, max: false)
        default: self.fast = nil
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        if let fast, context.outputCount == 1, context.inputs.first??.dtype == .float32,
            context.inputs.first??.shape.count == 4
        {
            return try fast.plan(context)
        }
        return try self.general.plan(context)
    }
}
