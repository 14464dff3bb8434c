import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Attention (opset 23 on): scaled dot-product attention over 3-D or 4-D Q, K, V with grouped KV heads, a
/// boolean or additive mask, causal and sliding-window masking, a KV cache (past and present), padding
/// lengths, softcap and the four `qk_matmul_output` modes. Scores are computed in Double.
struct AttentionOp: Operator {
    var causal: Bool
    var qHeads: Int?
    var kvHeads: Int?
    var outputMode: Int
    var scale: Double?
    var softcap: Double
    var leftWindow: Int
    var rightWindow: Int

    init(_ attributes: Attributes) throws(EngineError) {
        self.causal = try attributes.int("is_causal", 0) != 0
        self.qHeads = attributes.has("q_num_heads") ? try attributes.int("q_num_heads", 0) : nil
        self.kvHeads = attributes.has("kv_num_heads") ? try attributes.int("kv_num_heads", 0) : nil
        self.outputMode = try attributes.int("qk_matmul_output_mode", 0)
        self.scale = attributes.has("scale") ? Double(try attributes.float("scale", 1)) : nil
        self.softcap = Double(try attributes.float("softcap", 0))
        self.leftWindow = try attributes.int("left_window_size", -1)
        self.rightWindow = try attributes.int("right_window_size", -1)
        guard (0...3).contains(self.outputMode) else { throw attributes.error("qk_matmul_output_mode must be 0 to 3") }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let q = try context.input(0, floatTypes)
        let k = try context.input(1, [q.dtype])
        let v = try context.input(2, [q.dtype])
        let rank = q.shape.count
        guard rank == 3 || rank == 4, k.shape.count == rank, v.shape.count == rank else {
            throw context.error("Q, K and V must all be 3-D or all 4-D")
        }
        let batch = q.shape[0]
        let (qHeads, kvHeads, sequence, kvLength, headSize, valueSize): (Int, Int, Int, Int, Int, Int)
        if rank == 3 {
            guard let qh = self.qHeads, let kvh = self.kvHeads, qh > 0, kvh > 0, q.shape[2] % qh == 0,
                k.shape[2] % kvh == 0, v.shape[2] % kvh == 0
            else { throw context.error("3-D inputs need q_num_heads and kv_num_heads that divide their widths") }
            (qHeads, kvHeads, sequence, kvLength) = (qh, kvh, q.shape[1], k.shape[1])
            (headSize, valueSize) = (q.shape[2] / qh, v.shape[2] / kvh)
        } else {
            (qHeads, kvHeads, sequence, kvLength) = (q.shape[1], k.shape[1], q.shape[2], k.shape[2])
            (headSize, valueSize) = (q.shape[3], v.shape[3])
        }
        guard kvHeads > 0, qHeads % kvHeads == 0, (rank == 3 ? k.shape[2] / kvHeads : k.shape[3]) == headSize,
            v.shape[0] == batch, k.shape[0] == batch
        else { throw context.error("K \(k.shape) and V \(v.shape) do not fit Q \(q.shape)") }
        var past = 0
        if context.has(4) {
            let pk = try context.input(4, [q.dtype])
            guard pk.shape.count == 4, pk.shape[0] == batch, pk.shape[1] == kvHeads, pk.shape[3] == headSize,
                try context.input(5, [q.dtype]).shape == [batch, kvHeads, pk.shape[2], valueSize]
            else { throw context.error("past_key and past_value must be [batch, kv_heads, past, head]") }
            past = pk.shape[2]
        }
        let total = past + kvLength
        var maskShape: [Int]? = nil
        var maskIsBool = false
        if context.has(3) {
            let mask = try context.input(3, [.bool, q.dtype])
            maskIsBool = mask.dtype == .bool
            guard mask.shape.count >= 1, mask.shape.count <= 4,
                broadcastShapes(Array(mask.shape.dropLast()), [batch, qHeads, sequence]) != nil,
                mask.shape.last! <= total
            else {
                throw context.error(
                    "attn_mask \(mask.shape) does not broadcast to [\(batch), \(qHeads), \(sequence), \(total)]"
                )
            }
            maskShape = mask.shape
        }
        let hasLengths = context.has(6)
        let (pastLength, maskHoldsBools) = (past, maskIsBool)
        let yShape = rank == 3 ? [batch, sequence, qHeads * valueSize] : [batch, qHeads, sequence, valueSize]
        let outputs = [
            ValueType(dtype: q.dtype, shape: yShape),
            ValueType(dtype: q.dtype, shape: [batch, kvHeads, total, headSize]),
            ValueType(dtype: q.dtype, shape: [batch, kvHeads, total, valueSize]),
            ValueType(dtype: q.dtype, shape: [batch, qHeads, sequence, total]),
        ]
        let scale = self.scale ?? 1 / Double(headSize).squareRoot()
        let me = self
        let dtype = q.dtype
        let maskStrides = maskShape.map { shape -> [Int] in
            let lastLength = shape.last!
            var strides = broadcastStrides(Array(shape.dropLast()), to: [batch, qHeads, sequence])
            strides = strides.map { $0 * lastLength }
            return strides + [1]
        }
        let maskLength = maskShape?.last ?? 0
        return OpPlan(
            outputs: outputs,
            kernel: { io in
                @inline(__always) func load(_ pointer: UnsafeRawPointer, _ index: Int) -> Double {
                    loadDouble(pointer, index, dtype)
                }
                let (qp, kp, vp) = (io.input(0), io.input(1), io.input(2))
                // Element offsets of Q, K, V in their own layouts (3-D: [b, s, h·d]; 4-D: [b, h, s, d]).
                func qAt(_ b: Int, _ h: Int, _ s: Int, _ d: Int) -> Int {
                    rank == 3
                        ? (b * sequence + s) * qHeads * headSize + h * headSize + d
                        : ((b * qHeads + h) * sequence + s) * headSize + d
                }
                func kvAt(_ b: Int, _ h: Int, _ s: Int, _ d: Int, _ width: Int) -> Int {
                    rank == 3
                        ? (b * kvLength + s) * kvHeads * width + h * width + d
                        : ((b * kvHeads + h) * kvLength + s) * width + d
                }
                // Present key and value: the cache followed by this step's K and V.
                var keys = [Double](repeating: 0, count: batch * kvHeads * total * headSize)
                var values = [Double](repeating: 0, count: batch * kvHeads * total * valueSize)
                for b in 0..<batch {
                    for h in 0..<kvHeads {
                        for s in 0..<total {
                            for d in 0..<headSize {
                                let index = ((b * kvHeads + h) * total + s) * headSize + d
                                keys[index] =
                                    s < pastLength
                                    ? load(io.input(4), ((b * kvHeads + h) * pastLength + s) * headSize + d)
                                    : load(kp, kvAt(b, h, s - pastLength, d, headSize))
                            }
                            for d in 0..<valueSize {
                                let index = ((b * kvHeads + h) * total + s) * valueSize + d
                                values[index] =
                                    s < pastLength
                                    ? load(io.input(5), ((b * kvHeads + h) * pastLength + s) * valueSize + d)
                                    : load(vp, kvAt(b, h, s - pastLength, d, valueSize))
                            }
                        }
                    }
                }
                if io.outs.count > 1 && io.outs[1] >= 0 {
                    for (index, value) in keys.enumerated() { store(double: value, io.output(1), index, dtype) }
                }
                if io.outs.count > 2 && io.outs[2] >= 0 {
                    for (index, value) in values.enumerated() { store(double: value, io.output(2), index, dtype) }
                }
                let wantScores = io.outs.count > 3 && io.outs[3] >= 0
                let group = qHeads / kvHeads
                var bias = [Double](repeating: 0, count: total)
                var scores = [Double](repeating: 0, count: total)
                for b in 0..<batch {
                    let length = hasLengths ? Int(loadInteger(io.input(6), b, .int64)) : total
                    let offset = hasLengths && pastLength == 0 ? length - sequence : pastLength
                    for h in 0..<qHeads {
                        let kvh = h / group
                        for i in 0..<sequence {
                            // The additive bias of this row.
                            for j in 0..<total {
                                var value = 0.0
                                if let maskStrides {
                                    if j >= maskLength {
                                        value = -.infinity
                                    } else {
                                        let at = b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2] + j
                                        if maskHoldsBools {
                                            value =
                                                io.input(3).load(fromByteOffset: at, as: UInt8.self) != 0
                                                ? 0 : -.infinity
                                        } else {
                                            value = load(io.input(3), at)
                                        }
                                    }
                                }
                                if me.causal && j > i + offset { value = -.infinity }
                                if me.leftWindow >= 0 || me.rightWindow >= 0 {
                                    let diff = i + offset - j
                                    if (me.leftWindow >= 0 && diff > me.leftWindow)
                                        || (me.rightWindow >= 0 && -diff > me.rightWindow)
                                    {
                                        value = -.infinity
                                    }
                                }
                                if hasLengths && j >= length { value = -.infinity }
                                bias[j] = value
                            }
                            var largest = -Double.infinity
                            var allMasked = true
                            for j in 0..<total {
                                var dot = 0.0
                                for d in 0..<headSize {
                                    dot +=
                                        load(qp, qAt(b, h, i, d))
                                        * keys[((b * kvHeads + kvh) * total + j) * headSize + d]
                                }
                                var score = dot * scale
                                if me.softcap > 0 { score = me.softcap * tanh(score / me.softcap) }
                                let row = ((b * qHeads + h) * sequence + i) * total + j
                                if wantScores && me.outputMode <= 1 { store(double: score, io.output(3), row, dtype) }
                                score += bias[j]
                                if wantScores && me.outputMode == 2 { store(double: score, io.output(3), row, dtype) }
                                scores[j] = score
                                if bias[j] != -.infinity { allMasked = false }
                                if score > largest { largest = score }
                            }
                            var sum = 0.0
                            for j in 0..<total {
                                scores[j] = allMasked || largest == -.infinity ? 0 : exp(scores[j] - largest)
                                sum += scores[j]
                            }
                            for j in 0..<total {
                                scores[j] = sum == 0 ? 0 : scores[j] / sum
                                if wantScores && me.outputMode == 3 {
                                    store(
                                        double: scores[j],
                                        io.output(3),
                                        ((b * qHeads + h) * sequence + i) * total + j,
                                        dtype
                                    )
                                }
                            }
                            for d in 0..<valueSize {
                                var out = 0.0
                                for j in 0..<total where scores[j] != 0 {
                                    out += scores[j] * values[((b * kvHeads + kvh) * total + j) * valueSize + d]
                                }
                                let at =
                                    rank == 3
                                    ? (b * sequence + i) * qHeads * valueSize + h * valueSize + d
                                    : ((b * qHeads + h) * sequence + i) * valueSize + d
                                store(double: out, io.output(0), at, dtype)
                            }
                        }
                    }
                }
            }
        )
    }
}
