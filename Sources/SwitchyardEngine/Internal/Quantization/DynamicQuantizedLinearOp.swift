import CInt8GEMM
import SwitchyardTensor

/// `DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale) [→ Add(bias)] [→ activations]` as one step: the
/// activations are quantized per call exactly as DynamicQuantizeLinear does, the int8 GEMM is ``sy_gemm_u8s8_f32``
/// (weights packed once at load for its VNNI kernel when the CPU has one), and dequantization, bias and ReLU happen
/// as the products are stored. With ``staticInput`` it is a QDQ MatMul instead — `DequantizeLinear(x: uint8) →
/// MatMul(DequantizeLinear(W: int8)) [→ Add(bias)] [→ activations]` — reading the uint8 input as it is, with the
/// input's calibrated scale and zero point.
struct DynamicQuantizedLinearOp: Operator {
    let k: Int
    let n: Int
    /// The int8 weights, row-major [K, N].
    let weights: AlignedBuffer
    /// Their packed form and column sums, on CPUs with the VNNI kernel.
    let packed: (weights: AlignedBuffer, columnSums: AlignedBuffer)?
    /// The weight scale per output column (a scalar scale repeated).
    let weightScales: [Float]
    let bias: [Float]?
    let activations: [Activation]
    /// The scale and zero point of a uint8 input quantized ahead (a QDQ MatMul); `nil`: float, quantized per call.
    let staticInput: (scale: Float, zero: UInt8)?

    /// Keeps `weights` (int8, [K, N] row-major) and packs them when the CPU has the VNNI kernel.
    init(
        weights: AlignedBuffer,
        k: Int,
        n: Int,
        weightScales: [Float],
        bias: [Float]?,
        activations: [Activation],
        staticInput: (scale: Float, zero: UInt8)? = nil
    ) {
        self.staticInput = staticInput
        self.k = k
        self.n = n
        self.weights = weights
        self.packed = Int8Packing.pack(weights.pointer.assumingMemoryBound(to: Int8.self), k: k, n: n)
        self.weightScales = weightScales.count == 1 ? Array(repeating: weightScales[0], count: n) : weightScales
        self.bias = bias
        self.activations = activations
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let staticInput = self.staticInput
        let x = try context.input(0, staticInput == nil ? [.float32] : [.uint8])
        guard let last = x.shape.last, last == self.k else {
            throw context.error("input \(x.shape) does not end in \(self.k)")
        }
        let rows = x.count / max(self.k, 1)
        let (k, n) = (self.k, self.n)
        let stride = (k + 3) / 4 * 4
        let quantizedBytes = alignUp(rows * stride + 64)
        let relu = self.activations == [.relu]
        let rest = relu ? [] : self.activations
        let (weights, packed, weightScales, bias) = (self.weights, self.packed, self.weightScales, self.bias)
        let threads = BLAS.threadCount
        let staticScales = staticInput.map { input in weightScales.map { input.scale * $0 } }
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: Array(x.shape.dropLast()) + [n])],
            kernel: { io throws(EngineError) in
                let quantized = io.scratch.assumingMemoryBound(to: UInt8.self)
                let scales = (io.scratch + quantizedBytes).assumingMemoryBound(to: Float.self)
                var scale: Float = 1
                var zero: UInt8 = 0
                if let staticInput, let staticScales {
                    // The GEMM reads rows at a stride of K rounded up to 4, and a little past the last row.
                    let input = io.input(0).assumingMemoryBound(to: UInt8.self)
                    for row in 0..<rows { (quantized + row * stride).update(from: input + row * k, count: k) }
                    zero = staticInput.zero
                    staticScales.withUnsafeBufferPointer { scales.update(from: $0.baseAddress!, count: n) }
                } else {
                    sy_quantize_dynamic(io.f32(0), Int64(rows), Int64(k), quantized, Int64(stride), &scale, &zero)
                    weightScales.withUnsafeBufferPointer { ws in
                        for column in 0..<n { scales[column] = scale * ws[column] }
                    }
                }
                let out = io.outF32(0)
                func gemm(_ biasPointer: UnsafePointer<Float>?) -> Int32 {
                    sy_gemm_u8s8_f32(
                        Int32(threads),
                        Int64(rows),
                        Int64(n),
                        Int64(k),
                        quantized,
                        Int64(stride),
                        zero,
                        weights.pointer.assumingMemoryBound(to: Int8.self),
                        Int64(n),
                        packed?.weights.pointer.assumingMemoryBound(to: Int8.self),
                        packed?.columnSums.pointer.assumingMemoryBound(to: Int32.self),
                        scales,
                        biasPointer,
                        relu ? 1 : 0,
                        out,
                        Int64(n)
                    )
                }
                let status = bias.map { bias in bias.withUnsafeBufferPointer { gemm($0.baseAddress) } } ?? gemm(nil)
                guard status == 0 else {
                    throw EngineError(.unavailable, "oneDNN's int8 GEMM failed (status \(status))")
                }
                for activation in rest { apply(activation, out, rows * n) }
            },
            scratch: quantizedBytes + alignUp(n * 4)
        )
    }
}
