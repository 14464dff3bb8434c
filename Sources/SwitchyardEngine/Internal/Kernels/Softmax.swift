import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax and LogSoftmax. Opset 13 and later normalize along one axis; earlier opsets flatten the
/// input to 2-D at the axis and normalize each row.
struct SoftmaxOp: Operator {
    var log: Bool
    var axis: Int
    var coerce2D: Bool

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let rank = x.shape.count
        let axis = try normalizeAxis(self.axis, rank: rank, context)
        let outer: Int
        let length: Int
        let inner: Int
        if self.coerce2D {
            outer = x.shape.prefix(axis).reduce(1, *)
            length = x.shape.suffix(from: axis).reduce(1, *)
            inner = 1
        } else {
            outer = x.shape.prefix(axis).reduce(1, *)
            length = rank == 0 ? 1 : x.shape[axis]
            inner = rank == 0 ? 1 : x.shape.suffix(from: axis + 1).reduce(1, *)
        }
        let log = self.log
        if x.dtype == .float64 {  // the plain loop, in Double
            return OpPlan(
                outputs: [x],
                kernel: { io in
                    let input = io.input(0).assumingMemoryBound(to: Double.self)
                    let y = io.output(0).assumingMemoryBound(to: Double.self)
                    for block in 0..<outer {
                        for lane in 0..<inner {
                            let base = block * length * inner + lane
                            var largest = -Double.infinity
                            for index in 0..<length { largest = max(largest, input[base + index * inner]) }
                            var sum = 0.0
                            for index in 0..<length { sum += Double.exponential(input[base + index * inner] - largest) }
                            let shift = largest + Double.logarithm(sum)
                            for index in 0..<length {
                                let value = input[base + index * inner] - shift
                                y[base + index * inner] = log ? value : Double.exponential(value)
                            }
                        }
                    }
                },
                inPlace: 0
            )
        }
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                if inner == 1 && !log {  // rows of contiguous values: the common classifier head, attention
                    // Subtract each row's max, exponentiate the rows in one vectorizable loop, normalize; rows split
                    // across threads.
                    Parallel.forEach(outer, minimumPerThread: max(1, Parallel.elementGrain / max(length, 1))) {
                        rows in
                        for block in rows {
                            let row = input + block * length
                            let out = y + block * length
                            var largest = -Float.infinity
                            for index in 0..<length { largest = max(largest, row[index]) }
                            for index in 0..<length { out[index] = row[index] - largest }
                        }
                        exponentiate(y + rows.lowerBound * length, count: rows.count * length)
                        for block in rows {
                            let out = y + block * length
                            var sum: Float = 0
                            for index in 0..<length { sum += out[index] }
                            let scale = 1 / sum
                            for index in 0..<length { out[index] *= scale }
                        }
                    }
                    return
                }
                for block in 0..<outer {
                    for lane in 0..<inner {
                        let base = block * length * inner + lane
                        var largest = -Float.infinity
                        for index in 0..<length { largest = max(largest, input[base + index * inner]) }
                        var sum: Float = 0
                        if log {  // y may be the input (in place): read it all before writing
                            for index in 0..<length { sum += expf(input[base + index * inner] - largest) }
                        } else {
                            for index in 0..<length {
                                let e = expf(input[base + index * inner] - largest)
                                y[base + index * inner] = e
                                sum += e
                            }
                        }
                        if log {
                            let shift = largest + logf(sum)
                            for index in 0..<length { y[base + index * inner] = input[base + index * inner] - shift }
                        } else {
                            let scale = 1 / sum
                            for index in 0..<length { y[base + index * inner] *= scale }
                        }
                    }
                }
            },
            inPlace: 0
        )
    }
}

/// `e^x` in place, in a loop the compiler vectorizes: range reduction to `x = n·ln2 + r`, a degree-6
/// polynomial for `e^r` (relative error below 2e-7 on |r| ≤ ln2/2), and `2^n` built from its bits.
/// NaN stays NaN; arguments below -87.3 give about 1e-38 instead of 0.
func exponentiate(_ data: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<count {
        let x = min(max(data[index], -87.3), 88.7)
        let shifted = x * 1.442_695_04 + 12_582_912  // 1.5·2^23: adding it rounds to an integer
        let n = shifted - 12_582_912
        let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6  // ln 2 split in two for precision
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000 &+ 127) << 23
        data[index] = p * Float(bitPattern: UInt32(bitPattern: exponent))
    }
}
