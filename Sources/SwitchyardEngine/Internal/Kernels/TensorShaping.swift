import SwitchyardTensor

/// Copies a strided view of `source` (element offsets from `base`) into contiguous `target`, any element width.
func copyStrided(
    _ source: UnsafeRawPointer, base: Int, shape: [Int], strides: [Int], width: Int,
    into target: UnsafeMutableRawPointer
) {
    @inline(__always) func typed<T>(_ type: T.Type) {
        let from = source.assumingMemoryBound(to: T.self) + base
        let to = target.assumingMemoryBound(to: T.self)
        forEachOffset(shape, strides) { position, offset in to[position] = from[offset] }
    }
    switch width {
    case 1: typed(UInt8.self)
    case 2: typed(UInt16.self)
    case 4: typed(UInt32.self)
    case 8: typed(UInt64.self)
    default:
        forEachOffset(shape, strides) { position, offset in
            (target + position * width).copyMemory(from: source + (base + offset) * width, byteCount: width)
        }
    }
}

/// A plan whose kernel is a strided copy of input 0.
func stridedCopyPlan(_ output: ValueType, base: Int, viewShape: [Int], strides: [Int]) -> OpPlan {
    let width = output.dtype.elementSize
    return OpPlan(
        outputs: [output],
        kernel: { io in
            copyStrided(io.input(0), base: base, shape: viewShape, strides: strides, width: width, into: io.output(0))
        })
}

/// The integers of an int32/int64 input known at planning time.
func integerInput(_ context: PlanContext, _ index: Int, _ what: String) throws(EngineError) -> [Int] {
    let constant = try context.constant(index, what)
    guard let values = constant.integers else { throw context.error("\(what) must be int64 or int32") }
    return values
}

/// The one number of a scalar input known at planning time, as a Double.
func scalarInput(_ context: PlanContext, _ index: Int, _ what: String) throws(EngineError) -> Double {
    let constant = try context.constant(index, what)
    guard constant.type.count == 1 else { throw context.error("\(what) must hold one value, got \(constant.type)") }
    let dtype = constant.type.dtype
    return dtype.isFloatingPoint
        ? loadDouble(constant.buffer.pointer, 0, dtype) : Double(loadInteger(constant.buffer.pointer, 0, dtype))
}

/// Slice: starts, ends, axes and steps (attributes before opset 10, inputs after), clamped as NumPy does.
struct SliceOp: Operator {
    var acceptsStrings: Bool { true }
    var attributeStarts: [Int]?
    var attributeEnds: [Int]?
    var attributeAxes: [Int]?

    init(_ attributes: Attributes) throws(EngineError) {
        if attributes.version < 10 {
            self.attributeStarts = try attributes.ints("starts")
            self.attributeEnds = try attributes.ints("ends")
            self.attributeAxes = try attributes.ints("axes")
            guard self.attributeStarts != nil, self.attributeEnds != nil else {
                throw attributes.error("attributes 'starts' and 'ends' are required")
            }
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let rank = x.shape.count
        let starts: [Int]
        let ends: [Int]
        var axes: [Int]?
        var steps: [Int]?
        if let attributeStarts, let attributeEnds {
            (starts, ends, axes) = (attributeStarts, attributeEnds, attributeAxes)
        } else {
            starts = try integerInput(context, 1, "starts")
            ends = try integerInput(context, 2, "ends")
            if context.has(3) { axes = try integerInput(context, 3, "axes") }
            if context.has(4) { steps = try integerInput(context, 4, "steps") }
        }
        let axisList = axes ?? Array(0..<starts.count)
        let stepList = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axisList.count == starts.count, stepList.count == starts.count else {
            throw context.error("starts, ends, axes and steps must have the same length")
        }
        var outShape = x.shape
        var begin = [Int](repeating: 0, count: rank)
        var step = [Int](repeating: 1, count: rank)
        var seen = Set<Int>()
        for (index, rawAxis) in axisList.enumerated() {
            let axis = try normalizeAxis(rawAxis, rank: rank, context)
            guard seen.insert(axis).inserted else { throw context.error("axis \(rawAxis) appears twice") }
            let dim = x.shape[axis]
            let stride = stepList[index]
            guard stride != 0 else { throw context.error("steps must not be 0") }
            var start = starts[index]
            var end = ends[index]
            if start < 0 { start += dim }
            if end < 0 { end += dim }
            if stride > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                outShape[axis] = max(0, (end - start + stride - 1) / stride)
            } else {
                start = min(max(start, -1), dim - 1)
                end = min(max(end, -1), dim - 1)
                outShape[axis] = max(0, (start - end + (-stride) - 1) / (-stride))
            }
            begin[axis] = start
            step[axis] = stride
        }
        let strides = contiguousStrides(x.shape)
        var base = 0
        for axis in 0..<rank where outShape[axis] > 0 { base += begin[axis] * strides[axis] }
        let viewStrides = (0..<rank).map { strides[$0] * step[$0] }
        return stridedCopyPlan(ValueType(dtype: x.dtype, shape: outShape), base: base, viewShape: outShape, strides: viewStrides)
    }
}

/// Expand: broadcast input 0 to the shape in input 1 (NumPy rules, either side may be 1).
struct ExpandOp: Operator {
    var acceptsStrings: Bool { true }
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let requested = try integerInput(context, 1, "Expand's shape")
        guard requested.allSatisfy({ $0 >= 0 }), let shape = broadcastShapes(x.shape, requested) else {
            throw context.error("\(x.shape) does not broadcast to \(requested)")
        }
        return stridedCopyPlan(
            ValueType(dtype: x.dtype, shape: shape), base: 0, viewShape: shape,
            strides: broadcastStrides(x.shape, to: shape))
    }
}

/// Tile: repeats along every axis.
struct TileOp: Operator {
    var acceptsStrings: Bool { true }
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let repeats = try integerInput(context, 1, "Tile's repeats")
        guard repeats.count == x.shape.count, repeats.allSatisfy({ $0 >= 0 }) else {
            throw context.error("repeats \(repeats) must have one non-negative count per axis of \(x.shape)")
        }
        let strides = contiguousStrides(x.shape)
        var viewShape: [Int] = []
        var viewStrides: [Int] = []
        for axis in x.shape.indices {
            viewShape += [repeats[axis], x.shape[axis]]
            viewStrides += [0, strides[axis]]
        }
        let shape = zip(x.shape, repeats).map { $0 * $1 }
        return stridedCopyPlan(ValueType(dtype: x.dtype, shape: shape), base: 0, viewShape: viewShape, strides: viewStrides)
    }
}

/// Split along an axis into the node's outputs: sizes from the attribute (before 13), input 1, or even parts
/// (`num_outputs` from 18, or as many as there are outputs).
struct SplitOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int
    var attributeSplit: [Int]?
    var numOutputs: Int?

    init(_ attributes: Attributes) throws(EngineError) {
        self.axis = try attributes.int("axis", 0)
        self.attributeSplit = attributes.version < 13 ? try attributes.ints("split") : nil
        self.numOutputs = attributes.has("num_outputs") ? try attributes.int("num_outputs", 1) : nil
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let axis = try normalizeAxis(self.axis, rank: x.shape.count, context)
        let dim = x.shape[axis]
        var sizes: [Int]
        if let attributeSplit {
            sizes = attributeSplit
        } else if context.has(1) {
            sizes = try integerInput(context, 1, "Split's split")
        } else {
            let parts = self.numOutputs ?? context.outputCount
            guard parts >= 1 else { throw context.error("num_outputs must be positive") }
            let size = (dim + parts - 1) / parts
            sizes = (0..<parts).map { min(size, max(0, dim - $0 * size)) }
        }
        guard sizes.reduce(0, +) == dim, sizes.allSatisfy({ $0 >= 0 }) else {
            throw context.error("split sizes \(sizes) do not add up to dimension \(dim) of \(x.shape)")
        }
        let width = x.dtype.elementSize
        let outer = x.shape.prefix(axis).reduce(1, *)
        let inner = x.shape.suffix(from: axis + 1).reduce(1, *) * width
        let outputs = sizes.map { size -> ValueType in
            var shape = x.shape
            shape[axis] = size
            return ValueType(dtype: x.dtype, shape: shape)
        }
        let parts = sizes
        return OpPlan(
            outputs: outputs,
            kernel: { io in
                let source = io.input(0)
                var start = 0
                for (index, size) in parts.enumerated() {
                    defer { start += size }
                    guard index < io.outs.count, io.outs[index] >= 0 else { continue }
                    let target = io.output(index)
                    let bytes = size * inner
                    if bytes == 0 { continue }
                    for block in 0..<outer {
                        (target + block * bytes).copyMemory(
                            from: source + (block * dim + start) * inner, byteCount: bytes)
                    }
                }
            })
    }
}

/// Pad in constant, reflect, edge and wrap modes; pads from the attribute (before 11) or input 1, on the
/// axes in input 3 (from 18). Negative pads crop.
struct PadOp: Operator {
    var mode: String
    var attributePads: [Int]?
    var attributeValue: Float

    init(_ attributes: Attributes) throws(EngineError) {
        self.mode = try attributes.string("mode", "constant")
        guard ["constant", "reflect", "edge", "wrap"].contains(self.mode) else {
            throw attributes.error("mode '\(self.mode)' is not constant, reflect, edge or wrap")
        }
        if attributes.version < 11 {
            self.attributePads = try attributes.ints("pads")
            if self.attributePads == nil { self.attributePads = try attributes.ints("paddings") }
            guard self.attributePads != nil else { throw attributes.error("attribute 'pads' is required") }
        }
        self.attributeValue = try attributes.float("value", 0)
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let rank = x.shape.count
        var begin = [Int](repeating: 0, count: rank)
        var end = [Int](repeating: 0, count: rank)
        let width = x.dtype.elementSize
        let fill = AlignedBuffer(count: max(width, 8))
        if let attributePads {
            guard attributePads.count == 2 * rank else { throw context.error("pads must have \(2 * rank) values") }
            begin = Array(attributePads.prefix(rank))
            end = Array(attributePads.suffix(rank))
            store(double: Double(self.attributeValue), fill.pointer, 0, x.dtype)
        } else {
            let pads = try integerInput(context, 1, "Pad's pads")
            var axes = Array(0..<rank)
            if context.has(3) {
                axes = try integerInput(context, 3, "Pad's axes").map { value throws(EngineError) in
                    try normalizeAxis(value, rank: rank, context)
                }
            }
            guard pads.count == 2 * axes.count else {
                throw context.error("pads has \(pads.count) values for \(axes.count) axes")
            }
            for (index, axis) in axes.enumerated() {
                begin[axis] = pads[index]
                end[axis] = pads[index + axes.count]
            }
            if context.has(2) {
                let value = try context.constant(2, "Pad's constant_value")
                guard value.type.dtype == x.dtype, value.type.count >= 1 else {
                    throw context.error("constant_value must be one \(x.dtype)")
                }
                fill.pointer.copyMemory(from: value.buffer.pointer, byteCount: width)
            }
        }
        var shape = x.shape
        var maps: [[Int]] = []
        for axis in 0..<rank {
            let dim = x.shape[axis]
            shape[axis] = dim + begin[axis] + end[axis]
            guard shape[axis] >= 0 else { throw context.error("pads crop more than dimension \(axis) of \(x.shape)") }
            var map = [Int](repeating: -1, count: shape[axis])
            for position in 0..<shape[axis] {
                var source = position - begin[axis]
                if source < 0 || source >= dim {
                    guard dim > 0 else { continue }
                    switch self.mode {
                    case "edge": source = min(max(source, 0), dim - 1)
                    case "wrap": source = ((source % dim) + dim) % dim
                    case "reflect":
                        if dim == 1 {
                            source = 0
                        } else {
                            let period = 2 * (dim - 1)
                            source = ((source % period) + period) % period
                            if source >= dim { source = period - source }
                        }
                    default: source = -1
                    }
                }
                map[position] = source
            }
            maps.append(map)
        }
        let strides = contiguousStrides(x.shape)
        let count = shape.reduce(1, *)
        let (outShape, axisMaps) = (shape, maps)
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let (maps, shape) = (axisMaps, outShape)
                let source = io.input(0)
                let target = io.output(0)
                if count == 0 { return }
                var index = [Int](repeating: 0, count: rank)
                for position in 0..<count {
                    var offset = 0
                    var inside = true
                    for axis in 0..<rank {
                        let mapped = maps[axis][index[axis]]
                        if mapped < 0 {
                            inside = false
                            break
                        }
                        offset += mapped * strides[axis]
                    }
                    (target + position * width).copyMemory(
                        from: inside ? source + offset * width : UnsafeRawPointer(fill.pointer), byteCount: width)
                    var axis = rank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        if index[axis] < shape[axis] { break }
                        index[axis] = 0
                        axis -= 1
                    }
                }
            })
    }
}

/// ConstantOfShape: a tensor of the shape in input 0 filled with the `value` attribute (float 0 by default).
struct ConstantOfShapeOp: Operator {
    var value: Constant

    init(_ attributes: Attributes) throws(EngineError) {
        switch attributes.values["value"] {
        case nil: self.value = Constant([Float(0)], shape: [1])
        case .tensor(let constant)?:
            guard constant.type.count == 1 else { throw attributes.error("value must hold one element") }
            self.value = constant
        default: throw attributes.error("attribute 'value' must be a tensor")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let shape = try integerInput(context, 0, "ConstantOfShape's shape")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw context.error("shape \(shape) has a negative dimension") }
        let output = ValueType(dtype: self.value.type.dtype, shape: shape)
        let (value, count, width) = (self.value, output.count, self.value.type.dtype.elementSize)
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let target = io.output(0)
                for index in 0..<count { (target + index * width).copyMemory(from: value.buffer.pointer, byteCount: width) }
            })
    }
}

/// Range(start, limit, delta): ⌈(limit − start) / delta⌉ values.
struct RangeOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let type = try context.input(0, numericTypes)
        let start = try scalarInput(context, 0, "Range's start")
        let limit = try scalarInput(context, 1, "Range's limit")
        let delta = try scalarInput(context, 2, "Range's delta")
        guard delta != 0 else { throw context.error("delta must not be 0") }
        let count = max(Int((((limit - start) / delta)).rounded(.up)), 0)
        guard count <= maxPlannedBytes / 8 else { throw context.error("the range has too many values") }
        let dtype = type.dtype
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [count])],
            kernel: { io in
                let target = io.output(0)
                if dtype.isFloatingPoint {
                    for index in 0..<count { store(double: start + Double(index) * delta, target, index, dtype) }
                } else {
                    let (first, step) = (Int64(start), Int64(delta))
                    for index in 0..<count { store(integer: first &+ Int64(index) &* step, target, index, dtype) }
                }
            })
    }
}

/// Size: the element count as an int64 scalar, known when the plan is made.
struct SizeOp: Operator {
    var acceptsStrings: Bool { true }
    var readsInputData: Bool { false }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let count = Int64(try context.input(0).count)
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: [])],
            kernel: { io in io.output(0).storeBytes(of: count, as: Int64.self) })
    }
}

/// Trilu: keeps the upper (or lower) triangle of the last two axes from diagonal k.
struct TriluOp: Operator {
    var upper: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        guard x.shape.count >= 2 else { throw context.error("input must have rank 2 or more") }
        let k = context.has(1) ? Int(try scalarInput(context, 1, "Trilu's k")) : 0
        let (rows, columns) = (x.shape[x.shape.count - 2], x.shape[x.shape.count - 1])
        let matrices = x.shape.dropLast(2).reduce(1, *)
        let (width, upper) = (x.dtype.elementSize, self.upper)
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for matrix in 0..<matrices {
                    for row in 0..<rows {
                        for column in 0..<columns {
                            let offset = ((matrix * rows + row) * columns + column) * width
                            let keep = upper ? column - row >= k : column - row <= k
                            if keep {
                                if source != UnsafeRawPointer(target) {
                                    (target + offset).copyMemory(from: source + offset, byteCount: width)
                                }
                            } else {
                                (target + offset).initializeMemory(as: UInt8.self, repeating: 0, count: width)
                            }
                        }
                    }
                }
            }, inPlace: 0)
    }
}

/// DepthToSpace (DCR or CRD) and SpaceToDepth, as a strided copy.
struct DepthSpaceOp: Operator {
    var acceptsStrings: Bool { true }
    var blockSize: Int
    var toSpace: Bool
    var columnRowDepth: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        guard x.shape.count == 4, self.blockSize >= 1 else { throw context.error("expected NCHW input and blocksize ≥ 1") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let b = self.blockSize
        let viewShape: [Int]
        let viewStrides: [Int]
        let shape: [Int]
        if self.toSpace {
            guard c % (b * b) == 0 else { throw context.error("channels \(c) are not divisible by blocksize² \(b * b)") }
            let d = c / (b * b)
            // Output [n, d, h, b, w, b] read from the input viewed as DCR [n, b, b, d, h, w] or CRD [n, d, b, b, h, w].
            let inShape = self.columnRowDepth ? [n, d, b, b, h, w] : [n, b, b, d, h, w]
            let s = contiguousStrides(inShape)
            viewShape = [n, d, h, b, w, b]
            viewStrides = self.columnRowDepth ? [s[0], s[1], s[4], s[2], s[5], s[3]] : [s[0], s[3], s[4], s[1], s[5], s[2]]
            shape = [n, d, h * b, w * b]
        } else {
            guard h % b == 0, w % b == 0 else { throw context.error("spatial size \(h)×\(w) is not divisible by \(b)") }
            let s = contiguousStrides([n, c, h / b, b, w / b, b])
            if self.columnRowDepth {
                viewShape = [n, c, b, b, h / b, w / b]
                viewStrides = [s[0], s[1], s[3], s[5], s[2], s[4]]
            } else {
                viewShape = [n, b, b, c, h / b, w / b]
                viewStrides = [s[0], s[3], s[5], s[1], s[2], s[4]]
            }
            shape = [n, c * b * b, h / b, w / b]
        }
        return stridedCopyPlan(ValueType(dtype: x.dtype, shape: shape), base: 0, viewShape: viewShape, strides: viewStrides)
    }
}

/// CastLike: Cast to input 1's element type.
struct CastLikeOp: Operator {
    var acceptsStrings: Bool { true }
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let target = try context.input(1)
        return try CastOp(to: target.dtype).plan(context)
    }
}

/// BitCast: the same bytes as another element type of the same width.
struct BitCastOp: Operator {
    var to: DType

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        guard x.dtype.byteWidth == self.to.byteWidth, x.dtype != .bytes else {
            throw context.error("BitCast from \(x.dtype) to \(self.to) changes the element width")
        }
        return OpPlan(outputs: [ValueType(dtype: self.to, shape: x.shape)], kernel: { _ in }, alias: 0)
    }
}

/// EyeLike: ones on diagonal k of a 2-D shape.
struct EyeLikeOp: Operator {
    var dtype: DType?
    var k: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        guard x.shape.count == 2 else { throw context.error("input must be 2-D") }
        let dtype = self.dtype ?? x.dtype
        let (rows, columns, k) = (x.shape[0], x.shape[1], self.k)
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: x.shape)],
            kernel: { io in
                let target = io.output(0)
                target.initializeMemory(as: UInt8.self, repeating: 0, count: rows * columns * dtype.elementSize)
                for row in 0..<rows where row + k >= 0 && row + k < columns {
                    store(integer: 1, target, row * columns + row + k, dtype)
                }
            })
    }
}

/// OneHot(indices, depth, values[off, on]) along `axis`; negative indices count from the end.
struct OneHotOp: Operator {
    var axis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let indices = try context.input(0, numericTypes)
        let depth = Int(try scalarInput(context, 1, "OneHot's depth"))
        let values = try context.input(2)
        guard values.count == 2, depth >= 0 else { throw context.error("values must hold [off, on] and depth ≥ 0") }
        let rank = indices.shape.count + 1
        let axis = self.axis < 0 ? self.axis + rank : self.axis
        guard axis >= 0 && axis < rank else { throw context.error("axis \(self.axis) is out of range") }
        var shape = indices.shape
        shape.insert(depth, at: axis)
        let outer = indices.shape.prefix(axis).reduce(1, *)
        let inner = indices.shape.suffix(from: axis).reduce(1, *)
        let (dtype, width, indexType) = (values.dtype, values.dtype.elementSize, indices.dtype)
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: shape)],
            kernel: { io in
                let (source, pair, target) = (io.input(0), io.input(2), io.output(0))
                for position in 0..<(outer * depth * inner) {
                    (target + position * width).copyMemory(from: pair, byteCount: width)
                }
                for o in 0..<outer {
                    for i in 0..<inner {
                        let raw =
                            indexType.isFloatingPoint
                            ? Int(truncatingToInt64(loadDouble(source, o * inner + i, indexType)))
                            : Int(loadInteger(source, o * inner + i, indexType))
                        let index = raw < 0 ? raw + depth : raw
                        guard index >= 0 && index < depth else { continue }
                        (target + ((o * depth + index) * inner + i) * width).copyMemory(
                            from: pair + width, byteCount: width)
                    }
                }
            })
    }
}

/// NonZero: the indices of non-zero elements, [rank, count]; its shape depends on the data.
struct NonZeroOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let data = try context.constant(0, "NonZero's input")
        let width = x.dtype.elementSize
        var positions: [Int] = []
        for index in 0..<x.count {
            let bytes = UnsafeRawBufferPointer(start: data.buffer.pointer + index * width, count: width)
            let nonZero: Bool
            switch x.dtype {
            case .float32: nonZero = bytes.load(as: Float.self) != 0
            case .float64: nonZero = bytes.load(as: Double.self) != 0
            default: nonZero = bytes.contains { $0 != 0 }
            }
            if nonZero { positions.append(index) }
        }
        let rank = x.shape.count
        let strides = contiguousStrides(x.shape)
        var values = [Int64](repeating: 0, count: rank * positions.count)
        for (column, position) in positions.enumerated() {
            var rest = position
            for axis in 0..<rank {
                values[axis * positions.count + column] = Int64(rest / strides[axis])
                rest %= strides[axis]
            }
        }
        let result = values
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: [rank, positions.count])],
            kernel: { io in
                let target = io.output(0).assumingMemoryBound(to: Int64.self)
                for (index, value) in result.enumerated() { target[index] = value }
            })
    }
}

/// Compress: the slices along `axis` (or of the flattened input) where the condition is true.
struct CompressOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int?

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let condition = try context.constant(1, "Compress's condition")
        let flags = (0..<condition.type.count).map { condition.buffer.pointer.load(fromByteOffset: $0, as: UInt8.self) != 0 }
        let width = x.dtype.elementSize
        let shapeIn = self.axis == nil ? [x.count] : x.shape
        let axis = try self.axis.map { value throws(EngineError) in try normalizeAxis(value, rank: x.shape.count, context) } ?? 0
        let dim = shapeIn[axis]
        let kept = (0..<min(dim, flags.count)).filter { flags[$0] }
        var shape = shapeIn
        shape[axis] = kept.count
        let outer = shapeIn.prefix(axis).reduce(1, *)
        let inner = shapeIn.suffix(from: axis + 1).reduce(1, *) * width
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                var position = 0
                for o in 0..<outer {
                    for index in kept {
                        (target + position).copyMemory(from: source + (o * dim + index) * inner, byteCount: inner)
                        position += inner
                    }
                }
            })
    }
}
