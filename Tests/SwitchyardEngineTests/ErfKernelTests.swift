import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Erf and exact GELU on float32 (a vectorised rational erf) against the double-precision erf, on an odd length
/// with NaN, ±infinity, zero, tiny and large values.
struct ErfKernelTests {
    @Test(arguments: ["Erf", "Gelu"])
    func matchesDoublePrecision(_ op: String) throws {
        var factory = GraphFactory()
        factory.opset = 20
        factory.input("x", [nil])
        factory.node(op, ["x"], ["y"])
        factory.output("y")
        let model = try Model(bytes: try factory.bytes())
        var random = SystemRandomNumberGenerator()
        var x = (0..<1001).map { _ in Float.random(in: -6...6, using: &random) }
        x += [0, -0, 1e-30, -1e-30, 3.999, 4.001, -4.5, 30, -30, .infinity, -.infinity, .nan]
        let y = try model.run([NamedTensor("x", try Tensor(x, shape: [x.count]))])[0].tensor
        let got = try y.scalars(as: Float.self)
        try #require(got.count == x.count)
        for (index, value) in x.enumerated() {
            let v = Double(value)
            let want = op == "Erf" ? erf(v) : v * 0.5 * (1 + erf(v / 2.0.squareRoot()))
            if value.isNaN {
                #expect(got[index].isNaN, "\(op)(nan)")
            } else if value.isInfinite {
                #expect(op == "Erf" ? got[index] == Float(want) : got[index].isNaN || got[index] == Float(want))
            } else {
                // GELU's 1 + erf cancels for negative x: the erf error, scaled by |x| / 2, is what remains.
                let tolerance = 4e-7 * max(1, op == "Erf" ? abs(want) : abs(v))
                #expect(abs(Double(got[index]) - want) <= tolerance, "\(op)(\(value)) = \(got[index]), want \(want)")
            }
        }
    }
}
