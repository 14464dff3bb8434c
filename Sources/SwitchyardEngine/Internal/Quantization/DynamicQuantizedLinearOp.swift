import CQuantKernels
import SwitchyardTensor

/// `DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale) [→ Add(bias)] [→ activations]` as one step: the
/// activations are quantized per call exactly as DynamicQuantizeLinear does, the int8 weights were packed once at
/// load for the VNNI kernel, and dequantization, bias and ReLU happen as the products are stored.
struct DynamicQuantizedLinearOp: Operator {
    let k: Int
    let n: Int
    let packed: AlignedBuffer
    let columnSums: AlignedBuffer
    /// The weight scale per output column (a scalar scale repeated).
    let weightScales: [Float]
    let bias: [Float]?
    let activations: [Activation]

    /// Packs `weights` (int8, [K, N] row-major).
    init(weights: UnsafePointer<Int8>, k: Int, n: Int, weightScales: [Float], bias: [Float]?, activations: [Activation]) {
        self.k = k
        self.n = n
        self.packed = AlignedBuffer(count: syq_packed_bytes(Int64(k), Int64(n)))
        self.columnSums = AlignedBuffer(count: n * 4)
        syq_pack_s8(
            weights, Int64(k), Int64(n), Int64(n), self.packed.pointer.assumingMemoryBound(to: Int8.self),
            self.columnSums.pointer.assumingMemoryBound(to: Int32.self))
        self.weightScales = weightScales.count == 1 ? Array(repeating: weightScales[0], count: n) : weightScales
        self.bias = bias
        self.activations = activations
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard let last = x.shape.last, last == self.k else {
            throw context.error("input \(x.shape) does not end in \(self.k)")
        }
        let rows = x.count / max(self.k, 1)
        let (k, n) = (self.k, self.n)
        let stride = (k + 3) / 4 * 4
        let quantizedBytes = alignUp(rows * stride + 64)
        let relu = self.activations == [.relu]
        let rest = relu ? [] : self.activations
        let (packed, sums, weightScales, bias) = (self.packed, self.columnSums, self.weightScales, self.bias)
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: Array(x.shape.dropLast()) + [n])],
            kernel: { io in
                let quantized = io.scratch.assumingMemoryBound(to: UInt8.self)
                let scales = (io.scratch + quantizedBytes).assumingMemoryBound(to: Float.self)
                var scale: Float = 1
                var zero: UInt8 = 0
                syq_quantize_dynamic(io.f32(0), Int64(rows), Int64(k), quantized, Int64(stride), &scale, &zero)
                for column in 0..<n { scales[column] = scale * weightScales[column] }
                let out = io.outF32(0)
                func gemm(_ biasPointer: UnsafePointer<Float>?) {
                    syq_gemm_u8s8_f32(
                        Int64(rows), Int64(n), Int64(k), quantized, Int64(stride), Int32(zero),
                        packed.pointer.assumingMemoryBound(to: Int8.self), sums.pointer.assumingMemoryBound(to: Int32.self),
                        scales, biasPointer, relu ? 1 : 0, out, Int64(n))
                }
                if let bias { bias.withUnsafeBufferPointer { gemm($0.baseAddress) } } else { gemm(nil) }
                for activation in rest { apply(activation, out, rows * n) }
            }, scratch: quantizedBytes + alignUp(n * 4))
    }
}
