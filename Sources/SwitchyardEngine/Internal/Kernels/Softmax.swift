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
        let x = try context.input(0, [.float32])
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
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let input = io.f32(0)
                let y = io.outF32(0)
                if inner == 1 && !log {  // rows of contiguous values: the common classifier head
                    for block in 0..<outer {
                        let row = input + block * length
                        let out = y + block * length
                        var largest = -Float.infinity
                        for index in 0..<length { largest = max(largest, row[index]) }
                        var sum: Float = 0
                        for index in 0..<length {
                            let e = expf(row[index] - largest)
                            out[index] = e
                            sum += e
                        }
                        let scale = 1 / sum
                        for index in 0..<length { out[index] *= scale }
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
            }, inPlace: 0)
    }
}
