import SwitchyardTensor

/// Reads index `position` of an int32/int64 tensor.
@inline(__always)
func loadIndex(_ pointer: UnsafeRawPointer, _ position: Int, wide: Bool) -> Int {
    wide
        ? Int(pointer.load(fromByteOffset: position * 8, as: Int64.self))
        : Int(pointer.load(fromByteOffset: position * 4, as: Int32.self))
}

/// An index checked against its axis length, negative values counting from the end.
@inline(__always)
func checkedIndex(_ raw: Int, _ extent: Int, _ node: String, _ op: String) throws(EngineError) -> Int {
    let index = raw < 0 ? raw + extent : raw
    guard index >= 0 && index < extent else {
        throw EngineError(.invalidInput, "node '\(node)' (\(op)): index \(raw) is out of range for a dimension of \(extent)")
    }
    return index
}

/// GatherElements: `out[i][j][k] = data[index[i][j][k]][j][k]` along `axis`.
struct GatherElementsOp: Operator {
    var acceptsStrings: Bool { true }
    var axis: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let data = try context.input(0)
        let indices = try context.input(1, [.int32, .int64])
        let rank = data.shape.count
        guard indices.shape.count == rank else { throw context.error("indices must have the rank of data") }
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        let dataStrides = contiguousStrides(data.shape)
        var strided = dataStrides
        strided[axis] = 0
        let viewStrides = strided
        let (width, wide, extent, stride, node) = (
            data.dtype.elementSize, indices.dtype == .int64, data.shape[axis], dataStrides[axis], context.node
        )
        let shape = indices.shape
        return OpPlan(
            outputs: [ValueType(dtype: data.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let (source, index, target) = (io.input(0), io.input(1), io.output(0))
                var failure: EngineError? = nil
                forEachOffset(shape, viewStrides) { position, offset in
                    guard failure == nil else { return }
                    do {
                        let i = try checkedIndex(loadIndex(index, position, wide: wide), extent, node, "GatherElements")
                        (target + position * width).copyMemory(from: source + (offset + i * stride) * width, byteCount: width)
                    } catch let error as EngineError {
                        failure = error
                    } catch {}
                }
                if let failure { throw failure }
            })
    }
}

/// GatherND with `batch_dims`: slices of data addressed by the last axis of indices.
struct GatherNDOp: Operator {
    var acceptsStrings: Bool { true }
    var batchDims: Int

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let data = try context.input(0)
        let indices = try context.input(1, [.int64, .int32])
        let b = self.batchDims
        guard let depth = indices.shape.last, indices.shape.count >= 1, b < min(data.shape.count, indices.shape.count),
            depth + b <= data.shape.count, Array(data.shape.prefix(b)) == Array(indices.shape.prefix(b))
        else { throw context.error("indices \(indices.shape) do not address data \(data.shape) with batch_dims \(b)") }
        let shape = Array(indices.shape.dropLast()) + Array(data.shape.suffix(from: b + depth))
        let width = data.dtype.elementSize
        let slice = data.shape.suffix(from: b + depth).reduce(1, *) * width
        let batch = data.shape.prefix(b).reduce(1, *)
        let perBatch = indices.shape.dropFirst(b).dropLast().reduce(1, *)
        let dataStrides = contiguousStrides(data.shape)
        let batchStride = b == 0 ? 0 : dataStrides[b - 1]
        let (wide, node, dims) = (indices.dtype == .int64, context.node, data.shape)
        return OpPlan(
            outputs: [ValueType(dtype: data.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let (source, index, target) = (io.input(0), io.input(1), io.output(0))
                var position = 0
                for batchIndex in 0..<batch {
                    for tuple in 0..<perBatch {
                        var offset = batchIndex * batchStride
                        for k in 0..<depth {
                            let raw = loadIndex(index, (batchIndex * perBatch + tuple) * depth + k, wide: wide)
                            offset += try checkedIndex(raw, dims[b + k], node, "GatherND") * dataStrides[b + k]
                        }
                        if slice > 0 { (target + position).copyMemory(from: source + offset * width, byteCount: slice) }
                        position += slice
                    }
                }
            })
    }
}

/// How scatter ops combine an update with the value already there.
enum ScatterReduction: String, Sendable {
    case none, add, mul, max, min
}

/// ScatterND: copies data, then writes (or combines) update slices at the addresses in indices.
struct ScatterNDOp: Operator {
    var reduction: ScatterReduction

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let data = try context.input(0)
        let indices = try context.input(1, [.int64, .int32])
        let updates = try context.input(2, [data.dtype])
        guard let depth = indices.shape.last, depth <= data.shape.count,
            updates.shape == Array(indices.shape.dropLast()) + Array(data.shape.suffix(from: depth))
        else { throw context.error("updates \(updates.shape) do not fit indices \(indices.shape) and data \(data.shape)") }
        let tuples = indices.shape.dropLast().reduce(1, *)
        let slice = data.shape.suffix(from: depth).reduce(1, *)
        let strides = contiguousStrides(data.shape)
        let (wide, node, dims, reduction, count) = (
            indices.dtype == .int64, context.node, data.shape, self.reduction, data.count
        )
        let combine = try ScatterCombine(reduction: reduction)(data.dtype)
        let width = data.dtype.elementSize
        return OpPlan(
            outputs: [data],
            kernel: { io throws(EngineError) in
                let (source, index, update, target) = (io.input(0), io.input(1), io.input(2), io.output(0))
                if UnsafeRawPointer(target) != source { target.copyMemory(from: source, byteCount: count * width) }
                for tuple in 0..<tuples {
                    var offset = 0
                    for k in 0..<depth {
                        let raw = loadIndex(index, tuple * depth + k, wide: wide)
                        offset += try checkedIndex(raw, dims[k], node, "ScatterND") * strides[k]
                    }
                    combine(target, offset, update, tuple * slice, slice)
                }
            }, inPlace: 0)
    }
}

/// ScatterElements (and the deprecated Scatter): element-wise writes along `axis`.
struct ScatterElementsOp: Operator {
    var axis: Int
    var reduction: ScatterReduction

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let data = try context.input(0)
        let indices = try context.input(1, [.int64, .int32])
        let updates = try context.input(2, [data.dtype])
        let rank = data.shape.count
        guard indices.shape == updates.shape, indices.shape.count == rank else {
            throw context.error("indices \(indices.shape) and updates \(updates.shape) must match in shape and rank")
        }
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        var strided = contiguousStrides(data.shape)
        let stride = strided[axis]
        strided[axis] = 0
        let viewStrides = strided
        let (wide, node, extent, count, shape) = (indices.dtype == .int64, context.node, data.shape[axis], data.count, indices.shape)
        let combine = try ScatterCombine(reduction: self.reduction)(data.dtype)
        let width = data.dtype.elementSize
        return OpPlan(
            outputs: [data],
            kernel: { io throws(EngineError) in
                let (source, index, update, target) = (io.input(0), io.input(1), io.input(2), io.output(0))
                if UnsafeRawPointer(target) != source { target.copyMemory(from: source, byteCount: count * width) }
                var failure: EngineError? = nil
                forEachOffset(shape, viewStrides) { position, offset in
                    guard failure == nil else { return }
                    do {
                        let i = try checkedIndex(loadIndex(index, position, wide: wide), extent, node, "ScatterElements")
                        combine(target, offset + i * stride, update, position, 1)
                    } catch let error as EngineError {
                        failure = error
                    } catch {}
                }
                if let failure { throw failure }
            }, inPlace: 0)
    }
}

/// Combines `count` updates starting at element `from` into the target starting at element `at`.
typealias ScatterWrite = @Sendable (UnsafeMutableRawPointer, _ at: Int, UnsafeRawPointer, _ from: Int, _ count: Int) -> Void

private struct ScatterCombine: NumericVisitor {
    var reduction: ScatterReduction

    func callAsFunction(_ dtype: DType) throws(EngineError) -> ScatterWrite {
        if self.reduction == .none {
            let width = dtype.elementSize
            return { target, at, source, from, count in
                if count > 0 { (target + at * width).copyMemory(from: source + from * width, byteCount: count * width) }
            }
        }
        switch dtype {
        case .float32: return try self.visit(Float.self)
        case .float64: return try self.visit(Double.self)
        case .int64: return try self.visit(Int64.self)
        case .int32: return try self.visit(Int32.self)
        case .int8: return try self.visit(Int8.self)
        case .uint8: return try self.visit(UInt8.self)
        default: throw EngineError(.unsupportedOperator, "scatter reduction on \(dtype) is not supported")
        }
    }

    func visit<T: NumericScalar>(_ type: T.Type) throws(EngineError) -> ScatterWrite {
        let reduction = self.reduction
        return { target, at, source, from, count in
            let y = target.assumingMemoryBound(to: T.self) + at
            let u = source.assumingMemoryBound(to: T.self) + from
            for index in 0..<count {
                switch reduction {
                case .add: y[index] = T.plus(y[index], u[index])
                case .mul: y[index] = T.times(y[index], u[index])
                case .max: y[index] = Swift.max(y[index], u[index])
                case .min: y[index] = Swift.min(y[index], u[index])
                case .none: y[index] = u[index]
                }
            }
        }
    }
}
