import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// MatMul and Gemm with constant weights, which run on oneDNN's matmul with the weights packed once at load (where
/// oneDNN has vector kernels for the CPU and the weights hold at least 65,536 floats) and on OpenBLAS otherwise: both against a direct loop at odd sizes, with a
/// fused bias and activation, rows from 1 to past a kernel block, A of rank 3, and several batch sizes sharing the
/// packed weights.
struct PackedGemmTests {
    struct Case: Sendable, CustomStringConvertible {
        var k, n: Int
        var gemm: Bool
        var bias: Bool
        var activation: String?
        var description: String {
            "\(gemm ? "Gemm" : "MatMul") K\(k) N\(n)" + (bias ? " bias" : "") + (activation.map { " " + $0 } ?? "")
        }
    }

    static let cases: [Case] = [
        Case(k: 7, n: 5, gemm: false, bias: false, activation: nil),
        Case(k: 33, n: 17, gemm: false, bias: true, activation: "Relu"),
        Case(k: 520, n: 130, gemm: true, bias: true, activation: "Sigmoid"),
        Case(k: 1, n: 3, gemm: true, bias: false, activation: nil),
        Case(k: 300, n: 257, gemm: false, bias: true, activation: "Relu"),
    ]

    @Test(arguments: cases, [true, false])
    func matchesADirectLoop(_ s: Case, oneDNN: Bool) throws {
        var random = SystemRandomNumberGenerator()
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &random) } }
        let weights = values(s.k * s.n)
        let bias = values(s.n)
        var factory = GraphFactory()
        // MatMul reads A as [batch, 2, K] (rank 3); Gemm as [rows, K].
        factory.input("x", s.gemm ? [nil, s.k] : [nil, 2, s.k])
        factory.floats("w", [s.k, s.n], weights)
        factory.floats("b", [s.n], bias)
        let product = s.bias || s.activation != nil ? "p" : "y"
        if s.gemm {
            factory.node("Gemm", s.bias ? ["x", "w", "b"] : ["x", "w"], [s.activation == nil ? "y" : "p"])
        } else {
            factory.node("MatMul", ["x", "w"], [product])
            if s.bias { factory.node("Add", ["p", "b"], [s.activation == nil ? "y" : "q"]) }
        }
        if let activation = s.activation {
            factory.node(activation, [s.gemm || !s.bias ? "p" : "q"], ["y"])
        }
        factory.output("y")
        let model = try Model(bytes: try factory.bytes(), options: .defaults { $0.oneDNNMatMul = oneDNN })
        for batch in [1, 3, 70, 2] {
            let rows = s.gemm ? batch : batch * 2
            let x = values(rows * s.k)
            let shape: [Int] = s.gemm ? [batch, s.k] : [batch, 2, s.k]
            let y = try model.run([NamedTensor("x", try Tensor(x, shape: Shape(shape)))])[0].tensor
            try #require(Array(y.shape.dims) == shape.dropLast() + [s.n])
            let got = try y.scalars(as: Float.self)
            var worst: Float = 0
            for row in 0..<rows {
                for column in 0..<s.n {
                    var sum: Float = s.bias ? bias[column] : 0
                    for i in 0..<s.k { sum += x[row * s.k + i] * weights[i * s.n + column] }
                    switch s.activation {
                    case "Relu": sum = max(sum, 0)
                    case "Sigmoid": sum = 1 / (1 + (-sum).exp)
                    default: break
                    }
                    worst = max(worst, abs(got[row * s.n + column] - sum))
                }
            }
            #expect(worst <= 1e-4, "batch \(batch): max abs difference \(worst)")
        }
    }
}

extension Float {
    fileprivate var exp: Float { Float(Foundation.exp(Double(self))) }
}
