import SwitchyardTensor

/// Ops whose output is their input's bytes under another shape share the input's buffer.
func aliasPlan(_ type: ValueType) -> OpPlan {
    OpPlan(outputs: [type], kernel: { _ in }, alias: 0)
}

/// Flatten: 2-D at `axis`.
struct FlattenOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let rank = x.shape.count
        let axis = self.axis < 0 ? self.axis + rank : self.axis
        guard axis >= 0 && axis <= rank else {
            throw context.error("axis \(self.axis) is out of range for rank \(rank)")
        }
        return aliasPlan(
            ValueType(
                dtype: x.dtype,
                shape: [x.shape.prefix(axis).reduce(1, *), x.shape.suffix(from: axis).reduce(1, *)]
            )
        )
    }
}

/// Reshape, with 0 (copy the input's dimension unless `allowzero`) and -1 (infer).
struct ReshapeOp: Operator {
    var acceptsStrings: Bool { true }
    var allowZero: Bool
    /// Before opset 5 the shape is an attribute.
    var shape: [Int]?

    init(_ attributes: Attributes) throws(EngineError) {
        self.allowZero = try attributes.int("allowzero", 0) != 0
        self.shape = attributes.version < 5 ? try attributes.ints("shape") : nil
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let requested: [Int]
        if let shape = self.shape {
            requested = shape
        } else {
            guard let values = try context.constant(1, "Reshape's shape").integers else {
                throw context.error("shape must be int64")
            }
            requested = values
        }
        var shape: [Int] = []
        var inferred: Int? = nil
        for (index, dim) in requested.enumerated() {
            switch dim {
            case -1:
                guard inferred == nil else { throw context.error("shape \(requested) has more than one -1") }
                inferred = index
                shape.append(1)
            case 0 where !self.allowZero:
                guard index < x.shape.count else {
                    throw context.error("shape \(requested) copies dimension \(index) of \(x.shape), which has none")
                }
                shape.append(x.shape[index])
            case _ where dim < -1:
                throw context.error("shape \(requested) has a negative dimension")
            default:
                shape.append(dim)
            }
        }
        guard let known = checkedProduct(shape) else { throw context.error("shape \(requested) is too large") }
        if let inferred {
            guard known > 0, x.count % known == 0 else {
                throw context.error("cannot reshape \(x.shape) (\(x.count) elements) to \(requested)")
            }
            shape[inferred] = x.count / known
        }
        guard shape.reduce(1, *) == x.count else {
            throw context.error("cannot reshape \(x.shape) (\(x.count) elements) to \(requested)")
        }
        return aliasPlan(ValueType(dtype: x.dtype, shape: shape))
    }
}

/// Identity.
struct IdentityOp: Operator {
    var acceptsStrings: Bool { true }
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan { aliasPlan(try context.input(0)) }
}

/// Dropout at inference: the input unchanged and, when asked for, a mask. The mask is all false, as
/// onnxruntime returns it (the ONNX reference returns all true; no consumer reads it at inference).
struct DropoutOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        if context.has(2), let training = context.constants[2], training.type.dtype == .bool,
            training.values(Bool.self).first == true
        {
            throw context.error("training_mode = true is not supported", .unsupportedOperator)
        }
        let mask = ValueType(dtype: .bool, shape: x.shape)
        let count = x.count
        return OpPlan(
            outputs: [x, mask],
            kernel: { io in
                if io.outs.count > 1 && io.outs[1] >= 0 {
                    io.output(1).initializeMemory(as: UInt8.self, repeating: 0, count: count)
                }
            },
            alias: 0
        )
    }
}

/// Squeeze and Unsqueeze; axes come from the attribute before opset 13 and from input 1 after.
struct SqueezeOp: Operator {
    var acceptsStrings: Bool { true }
    var axes: [Int]?
    var squeeze: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        var axes = self.axes
        if axes == nil && context.has(1) {
            guard let values = try context.constant(1, "axes").integers else {
                throw context.error("axes must be int64")
            }
            axes = values
        }
        if self.squeeze {
            let rank = x.shape.count
            let chosen: Set<Int>
            if let axes {
                var set = Set<Int>()
                for axis in axes {
                    let value = try normalizeAxis(axis, rank: rank, context)
                    guard x.shape[value] == 1 else {
                        throw context.error("cannot squeeze dimension \(axis) of \(x.shape)")
                    }
                    set.insert(value)
                }
                chosen = set
            } else {
                chosen = Set(x.shape.indices.filter { x.shape[$0] == 1 })
            }
            let shape = x.shape.indices.filter { !chosen.contains($0) }.map { x.shape[$0] }
            return aliasPlan(ValueType(dtype: x.dtype, shape: shape))
        }
        guard let axes else { throw context.error("Unsqueeze needs axes") }
        let rank = x.shape.count + axes.count
        var positions = Set<Int>()
        for axis in axes {
            let value = axis < 0 ? axis + rank : axis
            guard value >= 0 && value < rank, positions.insert(value).inserted else {
                throw context.error("axes \(axes) are out of range or repeated for output rank \(rank)")
            }
        }
        var shape: [Int] = []
        var source = x.shape.makeIterator()
        for index in 0..<rank { shape.append(positions.contains(index) ? 1 : source.next()!) }
        return aliasPlan(ValueType(dtype: x.dtype, shape: shape))
    }
}

/// Transpose by a permutation (default: reverse the axes).
struct TransposeOp: Operator {
    var acceptsStrings: Bool { true }
    var perm: [Int]?

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let rank = x.shape.count
        let perm = self.perm ?? Array((0..<rank).reversed())
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw context.error("perm \(perm) is not a permutation of \(rank) axes")
        }
        let shape = perm.map { x.shape[$0] }
        let width = x.dtype.elementSize
        var inStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            inStrides[axis] = inStrides[axis + 1] * x.shape[axis + 1]
        }
        let strides = perm.map { inStrides[$0] }  // input stride for each output axis
        let count = x.count
        // Trailing output axes that stay contiguous in the input are copied as one run (attention's head moves copy
        // rows of the head size); the rows are split across threads.
        var runAxes = 0
        var run = 1
        while runAxes < rank, strides[rank - 1 - runAxes] == run {
            run *= shape[rank - 1 - runAxes]
            runAxes += 1
        }
        let outerShape = Array(shape.prefix(rank - runAxes))
        let outerStrides = Array(strides.prefix(rank - runAxes))
        let rows = outerShape.reduce(1, *)
        let runBytes = run * width
        let grain = max(1, Parallel.elementGrain / max(run, 1))
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io in
                let source = UnsafeRawPointer(io.input(0))
                let target = io.output(0)
                if count == 0 { return }
                Parallel.forEach(rows, minimumPerThread: grain) { range in
                    var index = [Int](repeating: 0, count: outerShape.count)
                    var offset = 0
                    var rest = range.lowerBound
                    for axis in stride(from: outerShape.count - 1, through: 0, by: -1) {
                        index[axis] = rest % outerShape[axis]
                        rest /= outerShape[axis]
                        offset += index[axis] * outerStrides[axis]
                    }
                    for row in range {
                        switch runBytes {
                        case 4:
                            target.storeBytes(
                                of: source.loadUnaligned(fromByteOffset: offset * width, as: UInt32.self),
                                toByteOffset: row * 4,
                                as: UInt32.self
                            )
                        case 8:
                            target.storeBytes(
                                of: source.loadUnaligned(fromByteOffset: offset * width, as: UInt64.self),
                                toByteOffset: row * 8,
                                as: UInt64.self
                            )
                        default:
                            (target + row * runBytes).copyMemory(from: source + offset * width, byteCount: runBytes)
                        }
                        var axis = outerShape.count - 1
                        while axis >= 0 {
                            index[axis] += 1
                            offset += outerStrides[axis]
                            if index[axis] < outerShape[axis] { break }
                            offset -= outerStrides[axis] * outerShape[axis]
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
        )
    }
}

/// Concat along one axis, any element type.
struct ConcatOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let first = try context.input(0)
        let rank = first.shape.count
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        var total = 0
        var parts: [Int] = []
        for index in context.inputs.indices {
            let part = try context.input(index)
            guard part.dtype == first.dtype, part.shape.count == rank else {
                throw context.error("input \(index) \(part) does not match input 0 \(first)")
            }
            for dim in 0..<rank where dim != axis && part.shape[dim] != first.shape[dim] {
                throw context.error("input \(index) \(part) differs from input 0 \(first) outside axis \(axis)")
            }
            total += part.shape[axis]
            parts.append(part.shape[axis])
        }
        var shape = first.shape
        shape[axis] = total
        let width = first.dtype.elementSize
        let outer = first.shape.prefix(axis).reduce(1, *)
        let inner = first.shape.suffix(from: axis + 1).reduce(1, *) * width
        let sizes = parts
        return OpPlan(
            outputs: [ValueType(dtype: first.dtype, shape: shape)],
            kernel: { io in
                let target = io.output(0)
                var position = 0
                for block in 0..<outer {
                    for (index, size) in sizes.enumerated() {
                        let bytes = size * inner
                        if bytes > 0 {
                            (target + position).copyMemory(from: io.input(index) + block * bytes, byteCount: bytes)
                        }
                        position += bytes
                    }
                }
            }
        )
    }
}

/// Shape (with start and end since opset 15): evaluated when the plan is made.
struct ShapeOp: Operator {
    var acceptsStrings: Bool { true }
    var start: Int
    var end: Int?
    var readsInputData: Bool { false }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let rank = x.shape.count
        func clamp(_ value: Int) -> Int { min(max(value < 0 ? value + rank : value, 0), rank) }
        let from = clamp(self.start)
        let to = max(from, clamp(self.end ?? rank))
        let values = x.shape[from..<to].map { Int64($0) }
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: [values.count])],
            kernel: { io in
                let target = io.output(0).assumingMemoryBound(to: Int64.self)
                for (index, value) in values.enumerated() { target[index] = value }
            }
        )
    }
}

/// Gather along one axis with int64 or int32 indices (negative indices count from the end).
struct GatherOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let data = try context.input(0)
        let indices = try context.input(1, [.int64, .int32])
        let rank = data.shape.count
        guard rank >= 1 else { throw context.error("data must have rank 1 or more") }
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        let shape = Array(data.shape.prefix(axis)) + indices.shape + Array(data.shape.suffix(from: axis + 1))
        let width = data.dtype.elementSize
        let outer = data.shape.prefix(axis).reduce(1, *)
        let extent = data.shape[axis]
        let inner = data.shape.suffix(from: axis + 1).reduce(1, *) * width
        let count = indices.count
        let wide = indices.dtype == .int64
        let node = context.node
        return OpPlan(
            outputs: [ValueType(dtype: data.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let source = io.input(0)
                let target = io.output(0)
                let raw = io.input(1)
                for position in 0..<count {
                    var index =
                        wide
                        ? Int(raw.load(fromByteOffset: position * 8, as: Int64.self))
                        : Int(raw.load(fromByteOffset: position * 4, as: Int32.self))
                    if index < 0 { index += extent }
                    guard index >= 0 && index < extent else {
                        throw EngineError(
                            .invalidInput,
                            "node '\(node)' (Gather): index \(index) is out of range 0..<\(extent)"
                        )
                    }
                    for block in 0..<outer {
                        (target + (block * count + position) * inner).copyMemory(
                            from: source + (block * extent + index) * inner,
                            byteCount: inner
                        )
                    }
                }
            }
        )
    }
}
