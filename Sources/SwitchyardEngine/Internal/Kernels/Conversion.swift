import SwitchyardTensor

/// Cast between the numeric types, bool and strings. Float to integer truncates toward zero; NaN and values
/// out of range give the minimum integer (what x86 conversion instructions give) instead of trapping. Numbers
/// become strings as onnxruntime writes them (`%.8g`, `NaN`, `INF`, `-INF`); strings become numbers as C's
/// `strtod`/`strtoll` read them (leading blanks skipped, the longest numeric prefix), and a string with no
/// number is an invalid input.
struct CastOp: Operator {
    /// Rounding kept when a float16 or bfloat16 model runs widened to f32 (``HalfPrecision``).
    enum Rounding: Sendable { case none, half, brain }

    var to: DType
    /// Round every value through float16 or bfloat16 on the way (a half-precision model's Cast, run in f32).
    var rounding = Rounding.none
    var acceptsStrings: Bool { true }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        let output = ValueType(dtype: self.to, shape: x.shape)
        let rounding = self.rounding
        if x.dtype == self.to && rounding == .none { return OpPlan(outputs: [output], kernel: { _ in }, alias: 0) }
        let (from, to, count, node) = (x.dtype, self.to, x.count, context.node)
        if from == .bytes {
            return OpPlan(
                outputs: [output],
                kernel: { io throws(EngineError) in
                    try StringConversion.parse(io.input(0), count: count, into: io.output(0), to, node: node)
                })
        }
        if to == .bytes {
            return OpPlan(
                outputs: [output],
                kernel: { io in StringConversion.format(io.input(0), count: count, from, into: io.output(0), io.strings) })
        }
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let source = io.input(0)
                let target = io.output(0)
                if from == .int32 && to == .float32 {  // MatMulInteger's accumulators, in quantized models
                    let input = source.assumingMemoryBound(to: Int32.self)
                    let output = target.assumingMemoryBound(to: Float.self)
                    for index in 0..<count { output[index] = Float(input[index]) }
                } else if rounding != .none {
                    for index in 0..<count {
                        let value = Float(
                            from.isFloatingPoint ? loadDouble(source, index, from) : Double(loadInteger(source, index, from)))
                        let rounded = rounding == .half ? Float(Float16(value)) : widenBrain(narrowToBrain(value))
                        store(double: Double(rounded), target, index, to)
                    }
                } else if from.isFloatingPoint {
                    for index in 0..<count { store(double: loadDouble(source, index, from), target, index, to) }
                } else {
                    for index in 0..<count { store(integer: loadInteger(source, index, from), target, index, to) }
                }
            })
    }
}

/// bfloat16 bits of a float, rounded to nearest even (NaN stays a quiet NaN), as ONNX and onnxruntime round.
@inline(__always)
func narrowToBrain(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// The float a bfloat16 holds (exact).
@inline(__always)
func widenBrain(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

extension DType {
    var isFloatingPoint: Bool { self == .float32 || self == .float64 || self == .float16 || self == .bfloat16 }
}

@inline(__always)
func loadDouble(_ pointer: UnsafeRawPointer, _ index: Int, _ dtype: DType) -> Double {
    switch dtype {
    case .float32: Double(pointer.load(fromByteOffset: index * 4, as: Float.self))
    case .float16: Double(Float(pointer.load(fromByteOffset: index * 2, as: Float16.self)))
    case .bfloat16: Double(widenBrain(pointer.load(fromByteOffset: index * 2, as: UInt16.self)))
    default: pointer.load(fromByteOffset: index * 8, as: Double.self)
    }
}

@inline(__always)
func loadInteger(_ pointer: UnsafeRawPointer, _ index: Int, _ dtype: DType) -> Int64 {
    switch dtype {
    case .int64: pointer.load(fromByteOffset: index * 8, as: Int64.self)
    case .int32: Int64(pointer.load(fromByteOffset: index * 4, as: Int32.self))
    case .int8: Int64(pointer.load(fromByteOffset: index, as: Int8.self))
    default: Int64(pointer.load(fromByteOffset: index, as: UInt8.self))  // uint8, bool
    }
}

/// Truncates toward zero without trapping.
@inline(__always)
func truncatingToInt64(_ value: Double) -> Int64 {
    guard value >= -0x1p63 && value < 0x1p63 else { return Int64.min }  // also NaN
    return Int64(value)
}

@inline(__always)
func store(double value: Double, _ pointer: UnsafeMutableRawPointer, _ index: Int, _ dtype: DType) {
    switch dtype {
    case .float32: pointer.storeBytes(of: Float(value), toByteOffset: index * 4, as: Float.self)
    case .float64: pointer.storeBytes(of: value, toByteOffset: index * 8, as: Double.self)
    case .float16: pointer.storeBytes(of: Float16(Float(value)), toByteOffset: index * 2, as: Float16.self)
    case .bfloat16: pointer.storeBytes(of: narrowToBrain(Float(value)), toByteOffset: index * 2, as: UInt16.self)
    case .bool: pointer.storeBytes(of: value != 0 ? 1 : 0, toByteOffset: index, as: UInt8.self)
    case .int32:
        let wide = truncatingToInt64(value)
        pointer.storeBytes(
            of: wide == Int64.min ? Int32.min : Int32(truncatingIfNeeded: wide), toByteOffset: index * 4, as: Int32.self
        )
    default: store(integer: truncatingToInt64(value), pointer, index, dtype)
    }
}

@inline(__always)
func store(integer value: Int64, _ pointer: UnsafeMutableRawPointer, _ index: Int, _ dtype: DType) {
    switch dtype {
    case .float32: pointer.storeBytes(of: Float(value), toByteOffset: index * 4, as: Float.self)
    case .float64: pointer.storeBytes(of: Double(value), toByteOffset: index * 8, as: Double.self)
    case .float16: pointer.storeBytes(of: Float16(Float(value)), toByteOffset: index * 2, as: Float16.self)
    case .bfloat16: pointer.storeBytes(of: narrowToBrain(Float(value)), toByteOffset: index * 2, as: UInt16.self)
    case .int64: pointer.storeBytes(of: value, toByteOffset: index * 8, as: Int64.self)
    case .int32: pointer.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: index * 4, as: Int32.self)
    case .int8: pointer.storeBytes(of: Int8(truncatingIfNeeded: value), toByteOffset: index, as: Int8.self)
    case .bool: pointer.storeBytes(of: value != 0 ? 1 : 0, toByteOffset: index, as: UInt8.self)
    default: pointer.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: index, as: UInt8.self)
    }
}

/// ArgMax (or ArgMin) along one axis; ties go to the first (or, with `select_last_index`, the last) one.
struct ArgMaxOp: Operator {
    var axis: Int
    var keepDims: Bool
    var selectLast: Bool
    var minimum = false

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        let rank = x.shape.count
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        guard rank > 0, x.shape[axis] > 0 else { throw context.error("ArgMax over an empty axis of \(x.shape)") }
        var shape = x.shape
        if self.keepDims { shape[axis] = 1 } else { shape.remove(at: axis) }
        let outer = x.shape.prefix(axis).reduce(1, *)
        let length = x.shape[axis]
        let inner = x.shape.suffix(from: axis + 1).reduce(1, *)
        let (dtype, selectLast, minimum) = (x.dtype, self.selectLast, self.minimum)
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: shape)],
            kernel: { io in
                let source = io.input(0)
                let y = io.output(0).assumingMemoryBound(to: Int64.self)
                if dtype == .float32 && inner == 1 && !minimum {  // contiguous float rows: the classifier head
                    let values = source.assumingMemoryBound(to: Float.self)
                    for block in 0..<outer {
                        let row = values + block * length
                        var best = 0
                        var largest = row[0]
                        for index in 1..<length where row[index] > largest || (selectLast && row[index] == largest) {
                            largest = row[index]
                            best = index
                        }
                        y[block] = Int64(best)
                    }
                    return
                }
                for block in 0..<outer {
                    for lane in 0..<inner {
                        let base = block * length * inner + lane
                        var best = 0
                        if dtype.isFloatingPoint {
                            var largest = loadDouble(source, base, dtype)
                            for index in 1..<length {
                                let value = loadDouble(source, base + index * inner, dtype)
                                if (minimum ? value < largest : value > largest) || (selectLast && value == largest) {
                                    largest = value
                                    best = index
                                }
                            }
                        } else {
                            var largest = loadInteger(source, base, dtype)
                            for index in 1..<length {
                                let value = loadInteger(source, base + index * inner, dtype)
                                if (minimum ? value < largest : value > largest) || (selectLast && value == largest) {
                                    largest = value
                                    best = index
                                }
                            }
                        }
                        y[block * inner + lane] = Int64(best)
                    }
                }
            })
    }
}
