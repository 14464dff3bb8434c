import CInt8GEMM
import Testing

/// The packed VNNI int8 GEMM (few rows) against oneDNN's (the path every CPU has) on the same operands: the int32
/// products are exact on both, and dequantization, bias and ReLU are the same float steps, so they agree bit for bit.
/// The shapes take the one-row path (batch 1, a batch's last row) through one to four 16-wide blocks and past.
struct Int8GEMMTests {
    @Test(arguments: [1, 2, 5, 6], [(7, 10), (64, 20), (33, 40), (64, 50), (128, 70), (20, 128)])
    func packedKernelMatchesOneDNN(rows m: Int, shape: (k: Int, n: Int)) throws {
        let (k, n) = shape
        guard sy_int8_has_vnni() != 0 else { return }  // no packed kernel on this CPU: nothing to compare
        var random = SystemRandomNumberGenerator()
        let lda = (k + 3) / 4 * 4
        // The kernel reads rows at a stride of K rounded up to 4 and a little past the last one.
        let a = (0..<(m * lda + 64)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let b = (0..<(k * n)).map { _ in Int8.random(in: -127...127, using: &random) }
        let scales = (0..<n).map { _ in Float.random(in: 0.001...0.01, using: &random) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &random) }
        var packed = [Int8](repeating: 0, count: sy_int8_packed_bytes(Int64(k), Int64(n)))
        var sums = [Int32](repeating: 0, count: n)
        sy_int8_pack(b, Int64(k), Int64(n), Int64(n), &packed, &sums)
        for relu in [Int32(0), 1] {
            var fast = [Float](repeating: .nan, count: m * n)
            var reference = [Float](repeating: .nan, count: m * n)
            let zero: UInt8 = 131
            #expect(
                sy_gemm_u8s8_f32(
                    1,
                    Int64(m),
                    Int64(n),
                    Int64(k),
                    a,
                    Int64(lda),
                    zero,
                    b,
                    Int64(n),
                    packed,
                    sums,
                    scales,
                    bias,
                    relu,
                    &fast,
                    Int64(n)
                ) == 0
            )
            #expect(
                sy_gemm_u8s8_f32(
                    1,
                    Int64(m),
                    Int64(n),
                    Int64(k),
                    a,
                    Int64(lda),
                    zero,
                    b,
                    Int64(n),
                    nil,
                    nil,
                    scales,
                    bias,
                    relu,
                    &reference,
                    Int64(n)
                ) == 0
            )
            #expect(fast == reference, "\(m)×\(k)×\(n), relu \(relu)")
        }
    }
}
