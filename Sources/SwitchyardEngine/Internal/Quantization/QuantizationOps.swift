import CInt8GEMM
import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a scale and zero point apply to a tensor: one pair for all, one per slice along an axis, or (opset 21+)
/// one per block of `blockSize` elements along the axis.
struct QuantizationLayout: Sendable {
    /// Elements before the axis, along it, and after it.
    let outer: Int
    let length: Int
    let inner: Int
    /// 0 for per-tensor; the axis length for per-axis; blocks along the axis for blocked.
    let groups: Int
    let blockSize: Int

    init(_ x: ValueType, scale: ValueType, axis: Int, blockSize: Int, _ context: PlanContext) throws(EngineError) {
        let rank = x.shape.count
        if scale.count == 1 && blockSize == 0 {
            (self.outer, self.length, self.inner, self.groups, self.blockSize) = (1, x.count, 1, 0, 0)
            return
        }
        let axis = try normalizeAxis(axis, rank: rank, context)
        self.outer = x.shape.prefix(axis).reduce(1, *)
        self.length = x.shape[axis]
        self.inner = x.shape.suffix(from: axis + 1).reduce(1, *)
        if blockSize > 0 {
            let blocks = (self.length + blockSize - 1) / blockSize
            var expected = x.shape
            expected[axis] = blocks
            guard scale.shape == expected else {
                throw context.error(
                    "a blocked scale must have shape \(expected) for block size \(blockSize), got \(scale.shape)"
                )
            }
            (self.groups, self.blockSize) = (blocks, blockSize)
        } else {
            guard scale.shape.count == 1, scale.count == self.length else {
                throw context.error(
                    "a per-axis scale must be 1-D with \(self.length) values (axis \(axis)), got \(scale.shape)"
                )
            }
            (self.groups, self.blockSize) = (self.length, 1)
        }
    }

    /// Calls `body(start, count, parameter)` for each run of elements that share one scale and zero point.
    @inline(__always)
    func forEachRun(_ body: (Int, Int, Int) -> Void) {
        if self.groups == 0 {
            body(0, self.length, 0)
            return
        }
        for o in 0..<self.outer {
            for position in 0..<self.length {
                let group = position / self.blockSize
                let parameter = self.blockSize == 1 ? group : (o * self.groups + group) * self.inner
                let start = (o * self.length + position) * self.inner
                if self.blockSize == 1 {
                    body(start, self.inner, parameter)
                } else {
                    for lane in 0..<self.inner { body(start + lane, 1, parameter + lane) }
                }
            }
        }
    }
}

/// The element types the engine quantizes to: the 8-bit ones (int16, int4 and float8 are refused by name).
let quantizedTypes: Set<DType> = [.uint8, .int8]

@inline(__always)
func saturate(_ value: Float, _ dtype: DType) -> Int32 {
    guard !value.isNaN else { return 0 }  // NaN has no quantized value; 0 rather than a trap
    let low: Float = dtype == .int8 ? -128 : 0
    let high: Float = dtype == .int8 ? 127 : 255
    return Int32(min(max(value, low), high))
}

@inline(__always)
func loadQuantized(_ pointer: UnsafeRawPointer, _ index: Int, _ dtype: DType) -> Int32 {
    switch dtype {
    case .int8: Int32(pointer.load(fromByteOffset: index, as: Int8.self))
    case .uint8: Int32(pointer.load(fromByteOffset: index, as: UInt8.self))
    default: pointer.load(fromByteOffset: index * 4, as: Int32.self)
    }
}

/// QuantizeLinear 10, 13, 19, 21+: `saturate(round_half_even(x / scale) + zero_point)`, per tensor, per axis or per
/// block, to uint8 or int8.
struct QuantizeLinearOp: Operator {
    let axis: Int
    let blockSize: Int
    let outputType: DType?

    init(_ attributes: Attributes) throws(EngineError) {
        self.axis = try attributes.int("axis", 1)
        self.blockSize = try attributes.int("block_size", 0)
        guard self.blockSize >= 0 else { throw attributes.error("block_size must not be negative") }
        let code = try attributes.int("output_dtype", 0)
        if code == 0 {
            self.outputType = nil
        } else {
            guard let value = UInt8(exactly: code), let dtype = DType(rawValue: value), quantizedTypes.contains(dtype)
            else {
                throw attributes.error(
                    "output_dtype \(code) is not supported (uint8 and int8 are)",
                    .unsupportedOperator
                )
            }
            self.outputType = dtype
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32, .int32])
        let scale = try context.input(1, [.float32])
        var chosen = self.outputType ?? .uint8
        if context.has(2) {
            let zero = try context.input(2)
            guard quantizedTypes.contains(zero.dtype) else {
                throw context.error(
                    "zero point of type \(zero.dtype) is not supported (uint8 and int8 are)",
                    .unsupportedOperator
                )
            }
            guard zero.shape == scale.shape else {
                throw context.error("zero point \(zero.shape) and scale \(scale.shape) differ")
            }
            chosen = zero.dtype
        }
        let dtype = chosen
        let layout = try QuantizationLayout(x, scale: scale, axis: self.axis, blockSize: self.blockSize, context)
        let hasZero = context.has(2)
        let source = x.dtype
        if layout.groups == 0, source == .float32, dtype == .uint8 {
            // Per tensor from float: one vector loop.
            let count = x.count
            return OpPlan(
                outputs: [ValueType(dtype: dtype, shape: x.shape)],
                kernel: { io in
                    let zero = hasZero ? io.input(2).load(as: UInt8.self) : 0
                    quantizeUInt8(
                        io.f32(0),
                        count,
                        scale: io.f32(1).pointee,
                        zero: zero,
                        io.output(0).assumingMemoryBound(to: UInt8.self)
                    )
                }
            )
        }
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: x.shape)],
            kernel: { io in
                let input = io.input(0)
                let scales = io.f32(1)
                let zeros = hasZero ? io.input(2) : nil
                let out = io.output(0)
                layout.forEachRun { start, count, parameter in
                    let s = scales[parameter]
                    let z = zeros.map { Float(loadQuantized($0, parameter, dtype)) } ?? 0
                    for index in start..<(start + count) {
                        let value =
                            source == .float32
                            ? input.load(fromByteOffset: index * 4, as: Float.self)
                            : Float(input.load(fromByteOffset: index * 4, as: Int32.self))
                        let q = saturate(roundHalfEven(value / s) + z, dtype)
                        if dtype == .int8 {
                            out.storeBytes(of: Int8(q), toByteOffset: index, as: Int8.self)
                        } else {
                            out.storeBytes(of: UInt8(q), toByteOffset: index, as: UInt8.self)
                        }
                    }
                }
            }
        )
    }
}

/// DequantizeLinear 10, 13, 19, 21+: `(x - zero_point) * scale` per tensor, per axis or per block; int8, uint8 or
/// int32 in, float out.
struct DequantizeLinearOp: Operator {
    let axis: Int
    let blockSize: Int

    init(_ attributes: Attributes) throws(EngineError) {
        self.axis = try attributes.int("axis", 1)
        self.blockSize = try attributes.int("block_size", 0)
        guard self.blockSize >= 0 else { throw attributes.error("block_size must not be negative") }
        let code = try attributes.int("output_dtype", 0)
        guard code == 0 || code == Int(DType.float32.rawValue) else {
            throw attributes.error("output_dtype \(code) is not supported (float32 is)", .unsupportedOperator)
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0)
        guard quantizedTypes.contains(x.dtype) || x.dtype == .int32 else {
            throw context.error(
                "input of type \(x.dtype) is not supported (uint8, int8 and int32 are)",
                .unsupportedOperator
            )
        }
        let scale = try context.input(1, [.float32])
        if context.has(2) {
            let zero = try context.input(2, [x.dtype])
            guard zero.shape == scale.shape else {
                throw context.error("zero point \(zero.shape) and scale \(scale.shape) differ")
            }
        }
        let layout = try QuantizationLayout(x, scale: scale, axis: self.axis, blockSize: self.blockSize, context)
        let hasZero = context.has(2)
        let dtype = x.dtype
        if layout.groups == 0, dtype == .uint8 {
            // Per tensor from uint8: one tight loop the compiler vectorizes.
            let count = x.count
            return OpPlan(
                outputs: [ValueType(dtype: .float32, shape: x.shape)],
                kernel: { io in
                    let scale = io.f32(1).pointee
                    let zero = hasZero ? Int32(io.input(2).load(as: UInt8.self)) : 0
                    let input = io.input(0).assumingMemoryBound(to: UInt8.self)
                    let out = io.outF32(0)
                    for index in 0..<count { out[index] = Float(Int32(input[index]) - zero) * scale }
                }
            )
        }
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: x.shape)],
            kernel: { io in
                let input = io.input(0)
                let scales = io.f32(1)
                let zeros = hasZero ? io.input(2) : nil
                let out = io.outF32(0)
                layout.forEachRun { start, count, parameter in
                    let s = scales[parameter]
                    let z = zeros.map { loadQuantized($0, parameter, dtype) } ?? 0
                    for index in start..<(start + count) {
                        out[index] = Float(loadQuantized(input, index, dtype) - z) * s
                    }
                }
            }
        )
    }
}

/// DynamicQuantizeLinear 11: uint8 quantization with the scale and zero point that cover the tensor's range
/// (and 0), as onnxruntime computes them.
struct DynamicQuantizeLinearOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        let count = x.count
        return OpPlan(
            outputs: [
                ValueType(dtype: .uint8, shape: x.shape), ValueType(dtype: .float32, shape: []),
                ValueType(dtype: .uint8, shape: []),
            ],
            kernel: { io in
                let input = io.f32(0)
                let (scale, zero) = dynamicQuantization(input, count)
                io.outF32(1).pointee = scale
                io.output(2).storeBytes(of: zero, as: UInt8.self)
                quantizeUInt8(input, count, scale: scale, zero: zero, io.output(0).assumingMemoryBound(to: UInt8.self))
            }
        )
    }
}

/// The uint8 scale and zero point of DynamicQuantizeLinear for `count` floats (CInt8GEMM, AVX-512 where the CPU
/// has it).
@inline(__always)
func dynamicQuantization(_ x: UnsafePointer<Float>, _ count: Int) -> (Float, UInt8) {
    var scale: Float = 1
    var zero: UInt8 = 0
    sy_dynamic_range(x, Int64(count), &scale, &zero)
    return (scale, zero)
}

/// `saturate(round_half_even(x / scale) + zero)` to uint8, NaN to 0 (CInt8GEMM, AVX-512 where the CPU has it).
@inline(__always)
func quantizeUInt8(
    _ x: UnsafePointer<Float>,
    _ count: Int,
    scale: Float,
    zero: UInt8,
    _ out: UnsafeMutablePointer<UInt8>
) {
    sy_quantize_u8(x, Int64(count), scale, zero, out)
}

/// Round half to even for values that are then saturated to 8 bits: clamped to ±2^16 (which saturates the same),
/// then rounded by adding and subtracting 1.5 · 2^23, which the FPU rounds to nearest even and vectorises (no call
/// to rintf per element).
@inline(__always)
func roundHalfEven(_ value: Float) -> Float {
    let clamped = min(max(value, -65536), 65536)
    let magic: Float = 12_582_912
    return (clamped + magic) - magic
}
