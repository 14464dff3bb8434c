import COpenBLAS
import SwitchyardTensor

/// Row-major `C = alpha * op(A) * op(B) + beta * C` through OpenBLAS.
@inline(__always)
func sgemm(
    transA: Bool,
    transB: Bool,
    m: Int,
    n: Int,
    k: Int,
    alpha: Float,
    a: UnsafePointer<Float>,
    lda: Int,
    b: UnsafePointer<Float>,
    ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>,
    ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {  // BLAS leaves C alone when k is 0; ONNX wants beta * C
        if beta == 0 {
            c.update(repeating: 0, count: m * ldc)
        } else if beta != 1 {
            for index in 0..<(m * ldc) { c[index] *= beta }
        }
        return
    }
    // Large products are split across the engine's threads, each share a single-threaded OpenBLAS call: by rows
    // in blocks of 16 (the kernel's row step), or by columns when there are too few rows.
    let threads = Parallel.threads
    if threads > 1 && m * n * k >= gemmSplitWork {
        if m >= 32 * threads || (m > 3 && m >= n) {
            let blocks = (m + 15) / 16
            Parallel.forEach(blocks, minimumPerThread: 1) { range in
                let first = range.lowerBound * 16
                let rows = min(range.upperBound * 16, m) - first
                blasGemm(
                    transA: transA,
                    transB: transB,
                    m: rows,
                    n: n,
                    k: k,
                    alpha: alpha,
                    a: transA ? a + first : a + first * lda,
                    lda: lda,
                    b: b,
                    ldb: ldb,
                    beta: beta,
                    c: c + first * ldc,
                    ldc: ldc
                )
            }
            return
        }
        let blocks = (n + 15) / 16
        Parallel.forEach(blocks, minimumPerThread: 1) { range in
            let first = range.lowerBound * 16
            let columns = min(range.upperBound * 16, n) - first
            blasGemm(
                transA: transA,
                transB: transB,
                m: m,
                n: columns,
                k: k,
                alpha: alpha,
                a: a,
                lda: lda,
                b: transB ? b + first * ldb : b + first,
                ldb: ldb,
                beta: beta,
                c: c + first,
                ldc: ldc
            )
        }
        return
    }
    blasGemm(
        transA: transA,
        transB: transB,
        m: m,
        n: n,
        k: k,
        alpha: alpha,
        a: a,
        lda: lda,
        b: b,
        ldb: ldb,
        beta: beta,
        c: c,
        ldc: ldc
    )
}

/// Multiply-adds (m·n·k) from which a GEMM is split across threads: about 50 µs of one core's work.
let gemmSplitWork = 1 << 21

/// One OpenBLAS call for ``sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)`` (m, n, k > 0).
@inline(__always)
private func blasGemm(
    transA: Bool,
    transB: Bool,
    m: Int,
    n: Int,
    k: Int,
    alpha: Float,
    a: UnsafePointer<Float>,
    lda: Int,
    b: UnsafePointer<Float>,
    ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>,
    ldc: Int
) {
    if m <= 3 {
        // A few rows: matrix-vector products read the weights once per row without the packing that
        // sgemm does on every call, which costs more than the arithmetic at these sizes.
        for row in 0..<m {
            let x = transA ? a + row : a + row * lda
            let incX = transA ? Int32(lda) : 1
            if transB {  // B is [N,K]: y = B x
                cblas_sgemv(
                    CblasRowMajor,
                    CblasNoTrans,
                    Int32(n),
                    Int32(k),
                    alpha,
                    b,
                    Int32(ldb),
                    x,
                    incX,
                    beta,
                    c + row * ldc,
                    1
                )
            } else {  // B is [K,N]: y = Bᵀ x
                cblas_sgemv(
                    CblasRowMajor,
                    CblasTrans,
                    Int32(k),
                    Int32(n),
                    alpha,
                    b,
                    Int32(ldb),
                    x,
                    incX,
                    beta,
                    c + row * ldc,
                    1
                )
            }
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor,
        transA ? CblasTrans : CblasNoTrans,
        transB ? CblasTrans : CblasNoTrans,
        Int32(m),
        Int32(n),
        Int32(k),
        alpha,
        a,
        Int32(lda),
        b,
        Int32(ldb),
        beta,
        c,
        Int32(ldc)
    )
}

/// `C = alpha * op(A) * op(B) + bias row`, then the activations: the fused GEMM.
///
/// On the GEMM path C is first filled with the bias (or zeros) and OpenBLAS accumulates onto it with
/// beta = 1, which skips its own pass that zeroes C; for these small outputs that pass cost more than
/// the bias copy. The few-row path adds the bias in the epilogue instead.
@inline(__always)
func fusedGemm(
    transA: Bool,
    transB: Bool,
    m: Int,
    n: Int,
    k: Int,
    alpha: Float,
    a: UnsafePointer<Float>,
    lda: Int,
    b: UnsafePointer<Float>,
    ldb: Int,
    bias: UnsafePointer<Float>?,
    activations: [Activation],
    c: UnsafeMutablePointer<Float>
) {
    if m <= 3 || k == 0 {
        sgemm(
            transA: transA,
            transB: transB,
            m: m,
            n: n,
            k: k,
            alpha: alpha,
            a: a,
            lda: lda,
            b: b,
            ldb: ldb,
            beta: 0,
            c: c,
            ldc: n
        )
        epilogue(c, rows: m, columns: n, bias: bias, activations: activations)
        return
    }
    if let bias {
        for row in 0..<m { (c + row * n).update(from: bias, count: n) }
    } else {
        c.update(repeating: 0, count: m * n)
    }
    sgemm(
        transA: transA,
        transB: transB,
        m: m,
        n: n,
        k: k,
        alpha: alpha,
        a: a,
        lda: lda,
        b: b,
        ldb: ldb,
        beta: 1,
        c: c,
        ldc: n
    )
    epilogue(c, rows: m, columns: n, bias: nil, activations: activations)
}

/// Gemm: `Y = alpha * A' * B' + beta * C`, with an epilogue of fused activations.
struct GemmOp: Operator {
    var alpha: Float
    var beta: Float
    var transA: Bool
    var transB: Bool
    /// Activations fused in from the nodes that followed.
    var activations: [Activation] = []
    /// Constant B the Gemm holds itself for oneDNN (``PackedWeights/adopt(_:convolutions:gemm:)``); input 1 is then
    /// omitted.
    var weights: PackedWeights?

    init(_ attributes: Attributes) throws(EngineError) {
        self.alpha = try attributes.float("alpha", 1)
        self.beta = try attributes.float("beta", 1)
        self.transA = try attributes.int("transA", 0) != 0
        self.transB = try attributes.int("transB", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, [.float32])
        let b: ValueType
        if let weights = self.weights { b = weights.type } else { b = try context.input(1, [.float32]) }
        guard a.shape.count == 2, b.shape.count == 2 else {
            throw context.error("A and B must be 2-D, got \(a.shape) and \(b.shape)")
        }
        let (m, k) = self.transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = self.transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else {
            throw context.error("inner dimensions differ: A \(a.shape) and B \(b.shape) give K = \(k) and \(kb)")
        }
        let output = ValueType(dtype: .float32, shape: [m, n])
        let (alpha, beta, transA, transB, activations) = (
            self.alpha, self.beta, self.transA, self.transB, self.activations
        )
        var biasRow: [Float]? = nil
        var cShape: [Int]? = nil
        if context.has(2) && beta != 0 {
            let c = try context.input(2, [.float32])
            guard let shape = broadcastShapes(c.shape, [m, n]), shape == [m, n] else {
                throw context.error("C \(c.shape) does not broadcast to [\(m),\(n)]")
            }
            if let constant = context.constants[2], c.count == n, c.shape.last == n {
                biasRow = constant.values(Float.self).map { $0 * beta }  // a bias row: add it in the epilogue
            } else {
                cShape = c.shape
            }
        }
        let cStrides = cShape.map { broadcastStrides($0, to: [m, n]) }
        let lda = a.shape[1]
        let ldb = b.shape[1]
        let bias = biasRow.map { Constant($0, shape: [n]) }
        var held: AlignedBuffer? = nil
        if let weights = self.weights {
            let what = "node '\(context.node)' (Gemm)"
            let onednn = OneDNNMatMul(rows: m, k: k, n: n, bias: bias, activations: activations)
            if cShape == nil, let plan = try onednn.plan(weights: weights, what: what) {
                return OpPlan(outputs: [output], kernel: plan.kernel, scratch: plan.scratch)
            }
            held = try weights.plain(dims: b.shape, what: what)
        }
        let plainWeights = held
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let y = io.outF32(0)
                let w = plainWeights?.floats ?? io.f32(1)
                var gemmBeta: Float = 0
                if let cStrides {  // general C: broadcast it into Y, then accumulate onto it
                    let c = io.f32(2)
                    for row in 0..<m {
                        for column in 0..<n { y[row * n + column] = beta * c[row * cStrides[0] + column * cStrides[1]] }
                    }
                    gemmBeta = 1
                }
                if gemmBeta == 1 {
                    sgemm(
                        transA: transA,
                        transB: transB,
                        m: m,
                        n: n,
                        k: k,
                        alpha: alpha,
                        a: io.f32(0),
                        lda: lda,
                        b: w,
                        ldb: ldb,
                        beta: 1,
                        c: y,
                        ldc: n
                    )
                    epilogue(y, rows: m, columns: n, bias: nil, activations: activations)
                } else {
                    let biasPointer = bias.map { UnsafePointer($0.buffer.pointer.assumingMemoryBound(to: Float.self)) }
                    fusedGemm(
                        transA: transA,
                        transB: transB,
                        m: m,
                        n: n,
                        k: k,
                        alpha: alpha,
                        a: io.f32(0),
                        lda: lda,
                        b: w,
                        ldb: ldb,
                        bias: biasPointer,
                        activations: activations,
                        c: y
                    )
                }
            }
        )
    }
}

/// MatMul with NumPy semantics (1-D promotion, broadcast batch dimensions); after fusion it may carry
/// a constant bias row (input 2) and activations.
struct MatMulOp: Operator {
    var activations: [Activation] = []
    /// Input 1 holds Bᵀ (its last two axes swapped): a Transpose folded in at load, so attention's K is read in
    /// place instead of copied per head.
    var transB = false
    /// Constant 2-D float32 B the MatMul holds itself for oneDNN (``PackedWeights/adopt(_:convolutions:gemm:)``);
    /// input 1 is then omitted.
    var weights: PackedWeights?

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, floatTypes)
        let b: ValueType
        if let weights = self.weights {
            guard a.dtype == .float32 else { throw context.error("A is \(a.dtype); B is float32", .shapeMismatch) }
            b = weights.type
        } else {
            b = try context.input(1, [a.dtype])
        }
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw context.error("MatMul inputs must not be scalars") }
        var aShape = a.shape
        var bShape = b.shape
        if aShape.count == 1 { aShape.insert(1, at: 0) }
        if bShape.count == 1 { bShape.append(1) }
        let transB = self.transB && b.shape.count >= 2
        if transB { bShape.swapAt(bShape.count - 1, bShape.count - 2) }
        let m = aShape[aShape.count - 2]
        let k = aShape[aShape.count - 1]
        let n = bShape[bShape.count - 1]
        guard bShape[bShape.count - 2] == k else {
            throw context.error("inner dimensions differ: \(a.shape) × \(b.shape)")
        }
        let aBatch = Array(aShape.dropLast(2))
        let bBatch = Array(bShape.dropLast(2))
        guard let batch = broadcastShapes(aBatch, bBatch) else {
            throw context.error("batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        var outShape = batch + [m, n]
        if a.shape.count == 1 { outShape.remove(at: outShape.count - 2) }
        if b.shape.count == 1 { outShape.removeLast() }
        var biasPointerConstant: Constant? = nil
        if context.has(2) {
            let bias = try context.constant(2, "the fused bias")
            guard bias.type.dtype == .float32, bias.type.count == n, bias.type.shape.last == n else {
                throw context.error("fused bias \(bias.type) is not a row of \(n) floats")
            }
            guard let shape = broadcastShapes(outShape, bias.type.shape) else {
                throw context.error("bias \(bias.type.shape) does not broadcast to \(outShape)")
            }
            outShape = shape
            biasPointerConstant = bias
        }
        let output = ValueType(dtype: a.dtype, shape: outShape)
        let activations = self.activations
        let batchCount = batch.reduce(1, *)
        if a.dtype == .float64 {
            guard biasPointerConstant == nil, activations.isEmpty else {
                throw context.error("a fused bias or activation needs float32", .unsupportedOperator)
            }
            let (aStrides, bStrides) = (broadcastStrides(aBatch, to: batch), broadcastStrides(bBatch, to: batch))
            let transB = self.transB && b.shape.count >= 2
            return OpPlan(
                outputs: [output],
                kernel: { io in
                    let x = io.input(0).assumingMemoryBound(to: Double.self)
                    let w = io.input(1).assumingMemoryBound(to: Double.self)
                    let y = io.output(0).assumingMemoryBound(to: Double.self)
                    if m == 0 || n == 0 { return }
                    var step = 0
                    forEachIndex(batch) { index in
                        var (aOffset, bOffset) = (0, 0)
                        for dim in 0..<batch.count {
                            aOffset += index[dim] * aStrides[dim]
                            bOffset += index[dim] * bStrides[dim]
                        }
                        let c = y + step * m * n
                        if k == 0 {
                            c.update(repeating: 0, count: m * n)
                        } else {
                            cblas_dgemm(
                                CblasRowMajor,
                                CblasNoTrans,
                                transB ? CblasTrans : CblasNoTrans,
                                Int32(m),
                                Int32(n),
                                Int32(k),
                                1,
                                x + aOffset * m * k,
                                Int32(k),
                                w + bOffset * k * n,
                                Int32(transB ? k : n),
                                0,
                                c,
                                Int32(n)
                            )
                        }
                        step += 1
                    }
                }
            )
        }
        let biasConstant = biasPointerConstant
        let bIsShared = bBatch.reduce(1, *) == 1
        let aStrides = broadcastStrides(aBatch, to: batch)
        let bStrides = broadcastStrides(bBatch, to: batch)
        var held: AlignedBuffer? = nil
        if let weights = self.weights {
            let what = "node '\(context.node)' (MatMul)"
            let rows = aBatch.reduce(1, *) * m
            let onednn = OneDNNMatMul(rows: rows, k: k, n: n, bias: biasConstant, activations: activations)
            if output.count == rows * n, let plan = try onednn.plan(weights: weights, what: what) {
                return OpPlan(outputs: [output], kernel: plan.kernel, scratch: plan.scratch)
            }
            held = try weights.plain(dims: b.shape, what: what)
        }
        let plainWeights = held
        // Buffers, not the Constant: reading a captured struct copied (retained and released) its three references
        // on every call.
        let biasBuffer = biasConstant?.buffer
        let sharedRows = aBatch.reduce(1, *) * m
        return OpPlan(
            outputs: [output],
            kernel: { io in
                let x = io.f32(0)
                let w = plainWeights?.floats ?? io.f32(1)
                let y = io.outF32(0)
                let bias = biasBuffer?.floats
                if bIsShared {
                    // Every batch of A against one B: a single GEMM over all rows.
                    let rows = sharedRows
                    fusedGemm(
                        transA: false,
                        transB: transB,
                        m: rows,
                        n: n,
                        k: k,
                        alpha: 1,
                        a: x,
                        lda: k,
                        b: w,
                        ldb: transB ? k : n,
                        bias: bias,
                        activations: activations,
                        c: y
                    )
                    return
                } else if m == 0 || n == 0 || k == 0 {
                    y.update(repeating: 0, count: batchCount * m * n)
                } else {
                    // One single-threaded GEMM per batch item (attention's heads), the items split across threads.
                    let perThread = max(1, gemmSplitWork / max(1, m * n * k))
                    Parallel.forEach(batchCount, minimumPerThread: perThread) { range in
                        var index = [Int](repeating: 0, count: batch.count)
                        var rest = range.lowerBound
                        for dim in stride(from: batch.count - 1, through: 0, by: -1) {
                            index[dim] = rest % batch[dim]
                            rest /= batch[dim]
                        }
                        for step in range {
                            var aOffset = 0
                            var bOffset = 0
                            for dim in 0..<batch.count {
                                aOffset += index[dim] * aStrides[dim]
                                bOffset += index[dim] * bStrides[dim]
                            }
                            blasGemm(
                                transA: false,
                                transB: transB,
                                m: m,
                                n: n,
                                k: k,
                                alpha: 1,
                                a: x + aOffset * m * k,
                                lda: k,
                                b: w + bOffset * k * n,
                                ldb: transB ? k : n,
                                beta: 0,
                                c: y + step * m * n,
                                ldc: n
                            )
                            var dim = batch.count - 1
                            while dim >= 0 {
                                index[dim] += 1
                                if index[dim] < batch[dim] { break }
                                index[dim] = 0
                                dim -= 1
                            }
                        }
                    }
                }
                let total = output.count
                epilogue(y, rows: n == 0 ? 0 : total / n, columns: n, bias: bias, activations: activations)
            }
        )
    }
}
