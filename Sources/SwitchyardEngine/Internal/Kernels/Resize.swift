import SwitchyardTensor

/// Resize (opsets 10–19) and Upsample: nearest, n-linear and cubic interpolation on any axes, as a sum over
/// per-axis taps (input index and weight) computed when the plan is made.
struct ResizeOp: Operator {
    enum Mode: String, Sendable { case nearest, linear, cubic }

    var mode: Mode
    var coordinates: String
    var nearestMode: String
    var cubicA: Double
    var excludeOutside: Bool
    var extrapolation: Double
    var axes: [Int]?
    var aspectPolicy: String
    /// Upsample and Resize-10: scales only (input 1, or the attribute of Upsample-7).
    var legacy: Bool
    /// Linear and cubic filters stretched by 1/scale when downscaling (opset 18; nearest ignores it).
    var antialias: Bool
    var attributeScales: [Float]?

    init(_ attributes: Attributes, upsample: Bool) throws(EngineError) {
        var mode = try attributes.string("mode", "nearest").lowercased()
        if mode == "bilinear" || mode == "trilinear" { mode = "linear" }
        guard let parsed = Mode(rawValue: mode) else {
            throw attributes.error("mode '\(mode)' is not nearest, linear or cubic")
        }
        self.mode = parsed
        self.legacy = upsample || attributes.version < 11
        self.coordinates =
            self.legacy ? "asymmetric" : try attributes.string("coordinate_transformation_mode", "half_pixel")
        self.nearestMode = self.legacy ? "floor" : try attributes.string("nearest_mode", "round_prefer_floor")
        self.cubicA = Double(try attributes.float("cubic_coeff_a", -0.75))
        self.excludeOutside = try attributes.int("exclude_outside", 0) != 0
        self.extrapolation = Double(try attributes.float("extrapolation_value", 0))
        self.axes = try attributes.ints("axes")
        self.aspectPolicy = try attributes.string("keep_aspect_ratio_policy", "stretch")
        self.attributeScales = upsample && attributes.version < 9 ? try attributes.floats("scales") : nil
        self.antialias = try attributes.int("antialias", 0) != 0
        let known = [
            "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
            "tf_crop_and_resize",
        ]
        guard known.contains(self.coordinates) else {
            throw attributes.error("coordinate_transformation_mode '\(self.coordinates)' is not supported")
        }
        guard ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].contains(self.nearestMode) else {
            throw attributes.error("nearest_mode '\(self.nearestMode)' is not supported")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        let rank = x.shape.count
        let axes = try (self.axes ?? Array(0..<rank)).map { value throws(EngineError) in
            try normalizeAxis(value, rank: rank, context)
        }
        var scales = [Double](repeating: 1, count: rank)
        var shape = x.shape
        var roi: [Double] = Array(repeating: 0, count: rank) + Array(repeating: 1, count: rank)
        if let attributeScales {
            guard attributeScales.count == rank else { throw context.error("scales need \(rank) values") }
            scales = attributeScales.map(Double.init)
            shape = (0..<rank).map { Int((Double(x.shape[$0]) * scales[$0]).rounded(.down)) }
        } else {
            let scaleIndex = self.legacy ? 1 : 2
            let sizes = !self.legacy && context.has(3) ? try context.constant(3, "Resize's sizes") : nil
            let given = context.has(scaleIndex) ? try context.constant(scaleIndex, "Resize's scales") : nil
            if let sizes, sizes.type.count > 0 {
                guard let values = sizes.integers, values.count == axes.count else {
                    throw context.error("sizes must hold \(axes.count) int64 values")
                }
                var ratios = axes.indices.map { Double(values[$0]) / Double(max(x.shape[axes[$0]], 1)) }
                if self.aspectPolicy != "stretch" {
                    let ratio = self.aspectPolicy == "not_larger" ? ratios.min() ?? 1 : ratios.max() ?? 1
                    ratios = ratios.map { _ in ratio }
                    for (index, axis) in axes.enumerated() {
                        shape[axis] = Int((Double(x.shape[axis]) * ratio).rounded(.toNearestOrEven))
                        scales[axis] = ratios[index]
                    }
                } else {
                    for (index, axis) in axes.enumerated() {
                        shape[axis] = values[index]
                        scales[axis] = ratios[index]
                    }
                }
            } else if let given, given.type.count > 0 {
                guard let values = given.floats, values.count == axes.count else {
                    throw context.error("scales must hold \(axes.count) float values")
                }
                for (index, axis) in axes.enumerated() {
                    scales[axis] = Double(values[index])
                    shape[axis] = Int((Double(x.shape[axis]) * scales[axis]).rounded(.down))
                }
            } else {
                throw context.error("one of scales and sizes is required", .invalidModel)
            }
            if !self.legacy, self.coordinates == "tf_crop_and_resize", context.has(1) {
                let region = try context.constant(1, "Resize's roi")
                guard let values = region.floats, values.count == 2 * axes.count else {
                    throw context.error("roi must hold \(2 * axes.count) values")
                }
                for (index, axis) in axes.enumerated() {
                    roi[axis] = Double(values[index])
                    roi[axis + rank] = Double(values[index + axes.count])
                }
            }
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw context.error("the output shape \(shape) is negative") }

        // Per axis: taps (input index, weight) per output coordinate, or -1 for an extrapolated coordinate.
        var axisTaps: [(count: Int, indices: [Int], weights: [Double])] = []
        for axis in 0..<rank {
            let (input, output, scale) = (x.shape[axis], shape[axis], scales[axis])
            if input == output && scale == 1 && self.coordinates != "tf_crop_and_resize" {
                axisTaps.append((1, Array(0..<output), Array(repeating: 1, count: output)))
                continue
            }
            if self.antialias && self.mode != .nearest && scale < 1 && self.coordinates != "tf_crop_and_resize" {
                axisTaps.append(try self.antialiased(input: input, output: output, scale: scale, context))
                continue
            }
            let tapCount: Int =
                switch self.mode {
                case .nearest: 1
                case .linear: 2
                case .cubic: 4
                }
            var indices: [Int] = []
            var weights: [Double] = []
            for o in 0..<output {
                let original = self.source(o, input, output, scale, roi[axis], roi[axis + rank])
                if self.coordinates == "tf_crop_and_resize" && (original < 0 || original > Double(input - 1)) {
                    indices += Array(repeating: -1, count: tapCount)
                    weights += Array(repeating: 0, count: tapCount)
                    continue
                }
                switch self.mode {
                case .nearest:
                    var i: Int
                    switch self.nearestMode {
                    case "floor": i = Int(original.rounded(.down))
                    case "ceil": i = Int(original.rounded(.up))
                    case "round_prefer_ceil": i = Int((original + 0.5).rounded(.down))
                    default:
                        i =
                            original == original.rounded(.down) + 0.5
                            ? Int(original.rounded(.down)) : Int(original.rounded())
                    }
                    indices.append(min(max(i, 0), input - 1))
                    weights.append(1)
                case .linear:
                    let clamped = min(max(original, 0), Double(input - 1))
                    let low = Int(clamped.rounded(.down))
                    let r = clamped - Double(low)
                    indices += [low, min(low + 1, input - 1)]
                    weights += [1 - r, r]
                case .cubic:
                    let low = Int(original.rounded(.down))
                    let r = original - Double(low)
                    let a = self.cubicA
                    func far(_ t: Double) -> Double { ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
                    func near(_ t: Double) -> Double { ((a + 2) * t - (a + 3)) * t * t + 1 }
                    var coefficients = [far(r + 1), near(r), near(1 - r), far(2 - r)]
                    var taps = [low - 1, low, low + 1, low + 2]
                    if self.excludeOutside {
                        for k in 0..<4 where taps[k] < 0 || taps[k] >= input { coefficients[k] = 0 }
                        let total = coefficients.reduce(0, +)
                        if total != 0 { coefficients = coefficients.map { $0 / total } }
                    }
                    taps = taps.map { min(max($0, 0), input - 1) }
                    indices += taps
                    weights += coefficients
                }
            }
            axisTaps.append((tapCount, indices, weights))
        }
        let inStrides = contiguousStrides(x.shape)
        let (dtype, extrapolation, outShape) = (x.dtype, self.extrapolation, shape)
        if rank == 4, x.dtype == .float32, axisTaps[0].count == 1, axisTaps[1].count == 1,
            shape[0] == x.shape[0], shape[1] == x.shape[1], !axisTaps[2].indices.contains(-1),
            !axisTaps[3].indices.contains(-1)
        {
            // Images: each plane from per-row and per-column taps, no per-element index arithmetic.
            let (rows, columns) = (axisTaps[2], axisTaps[3])
            let (height, width, oh, ow) = (x.shape[2], x.shape[3], shape[2], shape[3])
            let planes = x.shape[0] * x.shape[1]
            let rowWeights = rows.weights.map { Float($0) }
            let columnWeights = columns.weights.map { Float($0) }
            return OpPlan(
                outputs: [ValueType(dtype: x.dtype, shape: shape)],
                kernel: { io in
                    let source = io.f32(0)
                    let target = io.outF32(0)
                    for plane in 0..<planes {
                        let input = source + plane * height * width
                        let output = target + plane * oh * ow
                        for oy in 0..<oh {
                            let line = output + oy * ow
                            for ox in 0..<ow { line[ox] = 0 }
                            for ty in 0..<rows.count {
                                let wy = rowWeights[oy * rows.count + ty]
                                if wy == 0 { continue }
                                let sourceLine = input + rows.indices[oy * rows.count + ty] * width
                                for ox in 0..<ow {
                                    var sum: Float = 0
                                    for tx in 0..<columns.count {
                                        let slot = ox * columns.count + tx
                                        sum += columnWeights[slot] * sourceLine[columns.indices[slot]]
                                    }
                                    line[ox] += wy * sum
                                }
                            }
                        }
                    }
                }
            )
        }
        let tapShape = axisTaps.map(\.count)
        let table = axisTaps
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                var position = 0
                forEachIndex(outShape) { out in
                    var sum = 0.0
                    var outside = false
                    forEachIndex(tapShape) { tap in
                        var offset = 0
                        var weight = 1.0
                        for axis in 0..<rank {
                            let slot = out[axis] * table[axis].count + tap[axis]
                            let index = table[axis].indices[slot]
                            if index < 0 {
                                outside = true
                                return
                            }
                            offset += index * inStrides[axis]
                            weight *= table[axis].weights[slot]
                        }
                        if weight != 0 {
                            sum +=
                                weight
                                * (dtype.isFloatingPoint
                                    ? loadDouble(source, offset, dtype) : Double(loadInteger(source, offset, dtype)))
                        }
                    }
                    let value = outside ? extrapolation : sum
                    if dtype.isFloatingPoint {
                        store(double: value, target, position, dtype)
                    } else {
                        let rounded = value.rounded()
                        store(integer: Int64(max(min(rounded, 9.2e18), -9.2e18)), target, position, dtype)
                    }
                    position += 1
                }
            }
        )
    }

    /// Downscaling taps of the linear or cubic filter stretched by 1/scale, normalized, as the reference computes
    /// them: the window of the filter's width nearest the source coordinate (ties to the lower index), edge values
    /// beyond the input (or, with `exclude_outside`, no weight there).
    private func antialiased(
        input: Int,
        output: Int,
        scale: Double,
        _ context: PlanContext
    ) throws(EngineError) -> (count: Int, indices: [Int], weights: [Double]) {
        guard input >= 1, scale > 0, 1 / scale < 65536 else {
            throw context.error("antialiasing a scale of \(scale) is not supported")
        }
        let reach = self.mode == .linear ? 1.0 : 2.0
        let first = Int((-reach / scale).rounded(.down)) + 1  // the window's first tap, relative to the base pixel
        let width = 2 - 2 * first
        let a = self.cubicA
        func filter(_ t: Double) -> Double {
            let x = abs(t)
            if self.mode == .linear { return max(0, 1 - x) }
            if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            return x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0
        }
        var indices: [Int] = []
        var weights: [Double] = []
        for o in 0..<output {
            let original = self.source(o, input, output, scale, 0, 1)
            let floor = original.rounded(.down)
            // The base pixel is the one at or left of the coordinate, with a ratio in (0, 1].
            let (base, ratio) = original == floor ? (Int(floor) - 1, 1.0) : (Int(floor), original - floor)
            var coefficients = (0..<width).map { filter((Double(first + $0) - ratio) * scale) }
            var taps = (0..<width).map { base + first + $0 }
            let total = coefficients.reduce(0, +)
            coefficients = coefficients.map { $0 / total }
            if self.excludeOutside {
                for k in 0..<width where taps[k] < 0 || taps[k] >= input { coefficients[k] = 0 }
                let kept = coefficients.reduce(0, +)
                if kept != 0 { coefficients = coefficients.map { $0 / kept } }
            }
            taps = taps.map { min(max($0, 0), input - 1) }
            indices += taps
            weights += coefficients
        }
        return (width, indices, weights)
    }

    /// The input coordinate an output coordinate maps to.
    private func source(
        _ o: Int,
        _ input: Int,
        _ output: Int,
        _ scale: Double,
        _ start: Double,
        _ end: Double
    ) -> Double {
        let x = Double(o)
        switch self.coordinates {
        case "asymmetric": return x / scale
        case "align_corners":
            // The resized length is input × scale, fractional when scales were given.
            let length = Double(input) * scale
            return length == 1 ? 0 : x * Double(input - 1) / (length - 1)
        case "pytorch_half_pixel": return output > 1 ? (x + 0.5) / scale - 0.5 : 0
        case "half_pixel_symmetric":
            let adjustment = Double(output) / (Double(input) * scale)
            let center = Double(input) / 2
            let offset = center * (1 - adjustment)
            return offset + (x + 0.5) / scale - 0.5
        case "tf_crop_and_resize":
            return output > 1
                ? start * Double(input - 1) + x * (end - start) * Double(input - 1) / Double(output - 1)
                : 0.5 * (start + end) * Double(input - 1)
        default: return (x + 0.5) / scale - 0.5
        }
    }
}

/// GridSample (opsets 16 and 20): samples X at the normalized coordinates of the grid, over 2 or 3 spatial axes,
/// nearest, linear or cubic, with zeros, border or reflection padding, as the reference implementation does.
struct GridSampleOp: Operator {
    enum Mode: Sendable { case nearest, linear, cubic }
    var mode: Mode
    var padding: String
    var alignCorners: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        switch try attributes.string("mode", attributes.version < 20 ? "bilinear" : "linear") {
        case "nearest": self.mode = .nearest
        case "bilinear", "linear": self.mode = .linear
        case "bicubic", "cubic": self.mode = .cubic
        case let other: throw attributes.error("mode '\(other)' is not supported")
        }
        self.padding = try attributes.string("padding_mode", "zeros")
        guard ["zeros", "border", "reflection"].contains(self.padding) else {
            throw attributes.error("padding_mode '\(self.padding)' is not supported")
        }
        self.alignCorners = try attributes.int("align_corners", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let grid = try context.input(1, floatTypes)
        let spatial = x.shape.count - 2
        guard spatial >= 1, grid.shape.count == spatial + 2, grid.shape[0] == x.shape[0], grid.shape.last == spatial
        else { throw context.error("grid \(grid.shape) does not fit input \(x.shape)") }
        let (batch, channels) = (x.shape[0], x.shape[1])
        let dims = Array(x.shape.suffix(spatial))
        let outDims = Array(grid.shape.dropFirst().dropLast())
        let outCount = outDims.reduce(1, *)
        let plane = dims.reduce(1, *)
        let strides = contiguousStrides(dims)
        let (mode, padding, align, dtype, gridType) = (self.mode, self.padding, self.alignCorners, x.dtype, grid.dtype)
        let lower = dims.map { _ in align ? 0.0 : -0.5 }
        let upper = dims.map { align ? Double($0 - 1) : Double($0) - 0.5 }
        @Sendable func reflect(_ value: Double, _ low: Double, _ high: Double) -> Double {
            let range = high - low
            if value < low {
                let d = low - value
                let n = Int(d / range)
                let r = d - Double(n) * range
                return n % 2 == 0 ? low + r : high - r
            }
            if value > high {
                let d = value - high
                let n = Int(d / range)
                let r = d - Double(n) * range
                return n % 2 == 0 ? high - r : low + r
            }
            return value
        }
        @Sendable func cubic(_ t: Double) -> [Double] {
            let a = -0.75
            let x = abs(t)
            return [
                ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a, ((a + 2) * x - (a + 3)) * x * x + 1,
                ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1,
                ((a * (2 - x) - 5 * a) * (2 - x) + 8 * a) * (2 - x) - 4 * a,
            ]
        }
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [batch, channels] + outDims)],
            kernel: { io in
                let (source, coordinates, target) = (io.input(0), io.input(1), io.output(0))
                for n in 0..<batch {
                    for p in 0..<outCount {
                        // Denormalized coordinates, innermost axis last in the grid.
                        var position = [Double](repeating: 0, count: spatial)
                        for axis in 0..<spatial {
                            let normalized = loadDouble(
                                coordinates,
                                (n * outCount + p) * spatial + (spatial - 1 - axis),
                                gridType
                            )
                            let length = Double(dims[axis])
                            var v = align ? (normalized + 1) / 2 * (length - 1) : ((normalized + 1) * length - 1) / 2
                            if mode == .nearest { v = v.rounded(.toNearestOrEven) }
                            if v < lower[axis] || v > upper[axis] {
                                if padding == "border" {
                                    v = min(max(v, 0), length - 1)
                                } else if padding == "reflection" {
                                    v = reflect(v, lower[axis], upper[axis])
                                }
                            }
                            position[axis] = v
                        }
                        // Taps per axis.
                        var taps: [[(Int, Double)]] = []
                        for axis in 0..<spatial {
                            let v = position[axis]
                            switch mode {
                            case .nearest: taps.append([(Int(v), 1)])
                            case .linear:
                                let low = Int(v.rounded(.down))
                                let r = v - Double(low)
                                taps.append([(low, 1 - r), (low + 1, r)])
                            case .cubic:
                                let low = Int(v.rounded(.down)) - 1
                                let weights = cubic(v - v.rounded(.down))
                                taps.append((0..<4).map { (low + $0, weights[$0]) })
                            }
                        }
                        for c in 0..<channels {
                            let base = (n * channels + c) * plane
                            var sum = 0.0
                            forEachIndex(taps.map(\.count)) { choice in
                                var at = 0
                                var weight = 1.0
                                for axis in 0..<spatial {
                                    var i = taps[axis][choice[axis]].0
                                    weight *= taps[axis][choice[axis]].1
                                    let d = dims[axis]
                                    if i < 0 || i >= d {
                                        switch padding {
                                        case "border": i = min(max(i, 0), d - 1)
                                        case "reflection": i = Int(reflect(Double(i), lower[axis], upper[axis]))
                                        default: weight = 0
                                        }
                                    }
                                    if weight == 0 { return }
                                    at += min(max(i, 0), d - 1) * strides[axis]
                                }
                                sum += weight * loadDouble(source, base + at, dtype)
                            }
                            store(double: sum, target, (n * channels + c) * outCount + p, dtype)
                        }
                    }
                }
            }
        )
    }
}
