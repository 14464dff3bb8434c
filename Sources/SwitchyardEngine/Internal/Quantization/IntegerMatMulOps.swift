import CInt8GEMM
import SwitchyardTensor

/// The shapes of an integer MatMul with numpy broadcasting of the batch dimensions.
struct IntegerMatMulShape: Sendable {
    let m: Int
    let k: Int
    let n: Int
    let output: [Int]
    /// Per output batch: the A and B matrix indices.
    let pairs: [(Int, Int)]

    init(_ a: ValueType, _ b: ValueType, _ context: PlanContext) throws(EngineError) {
        guard !a.shape.isEmpty, !b.shape.isEmpty else { throw context.error("inputs must not be scalars") }
        var aShape = a.shape
        var bShape = b.shape
        if aShape.count == 1 { aShape.insert(1, at: 0) }
        if bShape.count == 1 { bShape.append(1) }
        (self.m, self.k, self.n) = (aShape[aShape.count - 2], aShape[aShape.count - 1], bShape[bShape.count - 1])
        guard bShape[bShape.count - 2] == self.k else {
            throw context.error("inner dimensions differ: \(a.shape) × \(b.shape)")
        }
        let aBatch = Array(aShape.dropLast(2))
        let bBatch = Array(bShape.dropLast(2))
        guard let batch = broadcastShapes(aBatch, bBatch) else {
            throw context.error("batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        var output = batch + [self.m, self.n]
        if a.shape.count == 1 { output.remove(at: output.count - 2) }
        if b.shape.count == 1 { output.removeLast() }
        self.output = output
        let aStrides = broadcastStrides(aBatch, to: batch)
        let bStrides = broadcastStrides(bBatch, to: batch)
        var pairs: [(Int, Int)] = []
        let count = batch.reduce(1, *)
        for index in 0..<count {
            var rest = index
            var aIndex = 0
            var bIndex = 0
            for axis in stride(from: batch.count - 1, through: 0, by: -1) {
                let position = rest % batch[axis]
                rest /= batch[axis]
                aIndex += position * aStrides[axis]
                bIndex += position * bStrides[axis]
            }
            pairs.append((aIndex, bIndex))
        }
        self.pairs = pairs
    }
}

/// `(A - a_zero) · (B - b_zero)` to int32 for uint8/int8 operands, with scalar zero points or per-row (A) and
/// per-column (B) ones, through oneDNN's u8·s8 GEMM: int8 A and uint8 B are shifted by 128 (with their zero
/// points) so that every case runs on that one kernel, exactly.
struct IntegerGEMM: Sendable {
    let shape: IntegerMatMulShape
    let aType: DType
    let bType: DType
    /// Zero points given as vectors (per row of A, per column of B) rather than scalars.
    let aRows: Bool
    let bColumns: Bool

    /// Scratch: shifted A and B and the correction sums.
    var scratch: Int {
        let batches = self.shape.pairs.count
        return alignUp(batches * self.shape.m * self.shape.k)
            + alignUp(self.shape.k * self.shape.n * (self.bShiftsAll ? batches : 1))
            + alignUp((self.shape.m + self.shape.n) * 4)
    }
    private var bShiftsAll: Bool { self.bType == .uint8 }

    /// Runs every batch; `aZero`/`bZero` point at the zero points (or are nil for 0).
    func run(
        a: UnsafeRawPointer,
        b: UnsafeRawPointer,
        aZero: UnsafeRawPointer?,
        bZero: UnsafeRawPointer?,
        out: UnsafeMutablePointer<Int32>,
        scratch: UnsafeMutableRawPointer,
        threads: Int
    ) throws(EngineError) {
        let (m, k, n) = (self.shape.m, self.shape.k, self.shape.n)
        let aCount = self.shape.pairs.map(\.0).max().map { ($0 + 1) * m * k } ?? 0
        let bCount = self.shape.pairs.map(\.1).max().map { ($0 + 1) * k * n } ?? 0
        // A as uint8 (int8 shifted up by 128), B as int8 (uint8 shifted down by 128).
        var aPointer = a.assumingMemoryBound(to: UInt8.self)
        if self.aType == .int8 {
            let shifted = scratch.assumingMemoryBound(to: UInt8.self)
            let source = a.assumingMemoryBound(to: Int8.self)
            for index in 0..<aCount { shifted[index] = UInt8(Int(source[index]) + 128) }
            aPointer = UnsafePointer(shifted)
        }
        var bPointer = b.assumingMemoryBound(to: Int8.self)
        let bBase = scratch + alignUp(self.shape.pairs.count * m * k)
        if self.bType == .uint8 {
            let shifted = bBase.assumingMemoryBound(to: Int8.self)
            let source = b.assumingMemoryBound(to: UInt8.self)
            for index in 0..<bCount { shifted[index] = Int8(Int(source[index]) - 128) }
            bPointer = UnsafePointer(shifted)
        }
        let aShift = self.aType == .int8 ? 128 : 0
        let bShift = self.bType == .uint8 ? -128 : 0
        @inline(__always) func aZeroAt(_ row: Int) -> Int {
            guard let aZero else { return aShift }
            return Int(loadQuantized(aZero, self.aRows ? row : 0, self.aType)) + aShift
        }
        @inline(__always) func bZeroAt(_ column: Int) -> Int {
            guard let bZero else { return bShift }
            return Int(loadQuantized(bZero, self.bColumns ? column : 0, self.bType)) + bShift
        }
        let vectors = self.aRows || self.bColumns
        let sums = (bBase + alignUp(k * n * (self.bShiftsAll ? self.shape.pairs.count : 1))).assumingMemoryBound(
            to: Int32.self
        )
        for (batch, pair) in self.shape.pairs.enumerated() {
            let aMatrix = aPointer + pair.0 * m * k
            let bMatrix = bPointer + pair.1 * k * n
            let c = out + batch * m * n
            let ao = vectors ? 0 : aZeroAt(0)
            let bo = vectors ? 0 : bZeroAt(0)
            let status = sy_gemm_u8s8s32(
                Int32(threads),
                Int64(m),
                Int64(n),
                Int64(k),
                aMatrix,
                Int64(k),
                UInt8(ao),
                bMatrix,
                Int64(n),
                Int8(bo),
                c,
                Int64(n)
            )
            guard status == 0 else { throw EngineError(.unavailable, "oneDNN integer GEMM failed (status \(status))") }
            guard vectors else { continue }
            // (A - za)(B - zb) = A·B - za·colsum(B) - rowsum(A)·zb + k·za·zb, per row and column.
            let rowSums = sums
            let columnSums = sums + m
            for row in 0..<m {
                var total: Int32 = 0
                for index in 0..<k { total &+= Int32(aMatrix[row * k + index]) }
                rowSums[row] = total
            }
            for column in 0..<n { columnSums[column] = 0 }
            for index in 0..<k {
                for column in 0..<n { columnSums[column] &+= Int32(bMatrix[index * n + column]) }
            }
            for row in 0..<m {
                let za = Int32(aZeroAt(row))
                for column in 0..<n {
                    let zb = Int32(bZeroAt(column))
                    c[row * n + column] &+= -za &* columnSums[column] &- rowSums[row] &* zb &+ Int32(k) &* za &* zb
                }
            }
        }
    }

    init(a: ValueType, b: ValueType, aZero: ValueType?, bZero: ValueType?, _ context: PlanContext) throws(EngineError) {
        guard quantizedTypes.contains(a.dtype), quantizedTypes.contains(b.dtype) else {
            throw context.error(
                "operands \(a.dtype) × \(b.dtype) are not supported (uint8 and int8 are)",
                .unsupportedOperator
            )
        }
        self.shape = try IntegerMatMulShape(a, b, context)
        self.aType = a.dtype
        self.bType = b.dtype
        if let aZero {
            guard aZero.dtype == a.dtype else { throw context.error("a_zero_point is \(aZero.dtype), A is \(a.dtype)") }
            guard aZero.count == 1 || (aZero.shape.count == 1 && aZero.count == self.shape.m) else {
                throw context.error("a_zero_point must be a scalar or hold one value per row (\(self.shape.m))")
            }
        }
        if let bZero {
            guard bZero.dtype == b.dtype else { throw context.error("b_zero_point is \(bZero.dtype), B is \(b.dtype)") }
            guard bZero.count == 1 || (bZero.shape.count == 1 && bZero.count == self.shape.n) else {
                throw context.error("b_zero_point must be a scalar or hold one value per column (\(self.shape.n))")
            }
        }
        self.aRows = (aZero?.count ?? 1) > 1
        self.bColumns = (bZero?.count ?? 1) > 1
    }
}

/// MatMulInteger 10: the int32 product of zero-point-shifted uint8/int8 matrices (what onnxruntime's
/// `quantize_dynamic` writes for MatMul and Gemm weights).
struct MatMulIntegerOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0)
        let b = try context.input(1)
        let gemm = try IntegerGEMM(
            a: a,
            b: b,
            aZero: context.has(2) ? try context.input(2) : nil,
            bZero: context.has(3) ? try context.input(3) : nil,
            context
        )
        let (hasA, hasB) = (context.has(2), context.has(3))
        return OpPlan(
            outputs: [ValueType(dtype: .int32, shape: gemm.shape.output)],
            kernel: { io throws(EngineError) in
                try gemm.run(
                    a: io.input(0),
                    b: io.input(1),
                    aZero: hasA ? io.input(2) : nil,
                    bZero: hasB ? io.input(3) : nil,
                    out: io.output(0).assumingMemoryBound(to: Int32.self),
                    scratch: io.scratch,
                    threads: BLAS.threadCount
                )
            },
            scratch: gemm.scratch
        )
    }
}

/// QLinearMatMul 10 and 21: the integer product requantized, `saturate(round(acc · a_scale · b_scale / y_scale) +
/// y_zero)`, with a per-tensor or per-column B scale.
struct QLinearMatMulOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0)
        let aScale = try context.input(1, [.float32])
        let aZero = try context.input(2)
        let b = try context.input(3)
        let bScale = try context.input(4, [.float32])
        let bZero = try context.input(5)
        let yScale = try context.input(6, [.float32])
        let yZero = try context.input(7)
        guard quantizedTypes.contains(yZero.dtype) else {
            throw context.error(
                "output type \(yZero.dtype) is not supported (uint8 and int8 are)",
                .unsupportedOperator
            )
        }
        guard aScale.count == 1, yScale.count == 1, yZero.count == 1 else {
            throw context.error("a_scale, y_scale and y_zero_point must be scalars")
        }
        let gemm = try IntegerGEMM(a: a, b: b, aZero: aZero, bZero: bZero, context)
        let n = gemm.shape.n
        guard bScale.count == 1 || bScale.count == n else {
            throw context.error("b_scale must be a scalar or hold one value per column (\(n))")
        }
        let outputType = yZero.dtype
        let total = gemm.shape.output.reduce(1, *)
        let accumulator = alignUp(total * 4)
        let perColumn = bScale.count > 1
        return OpPlan(
            outputs: [ValueType(dtype: outputType, shape: gemm.shape.output)],
            kernel: { io throws(EngineError) in
                let acc = io.scratch.assumingMemoryBound(to: Int32.self)
                try gemm.run(
                    a: io.input(0),
                    b: io.input(3),
                    aZero: io.input(2),
                    bZero: io.input(5),
                    out: acc,
                    scratch: io.scratch + accumulator,
                    threads: BLAS.threadCount
                )
                let aS = io.f32(1).pointee
                let bS = io.f32(4)
                let yS = io.f32(6).pointee
                let yZ = Float(loadQuantized(io.input(7), 0, outputType))
                let out = io.output(0)
                for index in 0..<total {
                    let scale = aS * bS[perColumn ? index % n : 0] / yS
                    let q = saturate(roundHalfEven(Float(acc[index]) * scale) + yZ, outputType)
                    if outputType == .int8 {
                        out.storeBytes(of: Int8(q), toByteOffset: index, as: Int8.self)
                    } else {
                        out.storeBytes(of: UInt8(q), toByteOffset: index, as: UInt8.self)
                    }
                }
            },
            scratch: accumulator + gemm.scratch
        )
    }
}
