import Foundation
import Synchronization
import SwitchyardTensor
import Testing

@testable import SwitchyardEngine

/// The loops split across the engine's thread team (``Parallel``) cover every item once on more than one thread, and
/// the kernels split on it (attention's batched MatMul with Kᵀ folded in, a mask Add broadcast over heads, Softmax,
/// the head Transpose, LayerNormalization, exact GELU fused from PyTorch's five nodes) give the answers of direct
/// loops on inputs large enough to be split.
@Suite(.serialized)
struct ThreadTeamTests {
    @Test func splitLoopsCoverEveryItemOnceOnSeveralThreads() {
        let previous = BLAS.threadCount
        BLAS.setThreadCount(max(2, previous))
        defer { BLAS.setThreadCount(previous) }
        let count = 1000
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: count)
        seen.initialize(repeating: 0, count: count)
        defer { seen.deallocate() }
        let threads = Mutex<Set<UInt>>([])
        let ranges = Mutex<[Range<Int>]>([])
        Parallel.forEach(count, minimumPerThread: 100) { range in
            threads.withLock { _ = $0.insert(UInt(pthread_self())) }
            ranges.withLock { $0.append(range) }
            for index in range { seen[index] += 1 }
        }
        #expect((0..<count).allSatisfy { seen[$0] == 1 })
        #expect(ranges.withLock { $0.allSatisfy { $0.count >= 100 } })
        #expect(threads.withLock { $0.count } >= 2)
        // Short loops stay on the caller in one range.
        ranges.withLock { $0.removeAll() }
        Parallel.forEach(150, minimumPerThread: 100) { range in ranges.withLock { $0.append(range) } }
        #expect(ranges.withLock { $0 } == [0..<150])
    }

    @Test func attentionKernelsMatchDirectLoops() throws {
        let previous = BLAS.threadCount
        BLAS.setThreadCount(max(2, previous))
        defer { BLAS.setThreadCount(previous) }
        let (batch, heads, length, size) = (2, 8, 128, 32)  // 64k values per tensor: every step splits
        var factory = GraphFactory()
        factory.opset = 17
        factory.input("q", [batch, heads, length, size])
        factory.input("k", [batch, heads, length, size])
        factory.input("mask", [batch, 1, 1, length])
        factory.node("Transpose", ["k"], ["kt"], lists: ["perm": [0, 1, 3, 2]])
        factory.node("MatMul", ["q", "kt"], ["scores"])
        factory.node("Add", ["scores", "mask"], ["masked"])
        factory.node("Softmax", ["masked"], ["p"], ints: ["axis": -1])
        factory.node("MatMul", ["p", "q"], ["context"])
        factory.node("Transpose", ["context"], ["moved"], lists: ["perm": [0, 2, 1, 3]])
        factory.floats("gamma", [size], (0..<size).map { Float($0) / 16 - 1 })
        factory.floats("beta", [size], (0..<size).map { Float($0) / 32 })
        factory.node("LayerNormalization", ["moved", "gamma", "beta"], ["y"], ints: ["axis": -1])
        factory.output("y")
        factory.output("p")
        let model = try Model(bytes: try factory.bytes())
        var random = SystemRandomNumberGenerator()
        let q = (0..<batch * heads * length * size).map { _ in Float.random(in: -1...1, using: &random) }
        let k = (0..<batch * heads * length * size).map { _ in Float.random(in: -1...1, using: &random) }
        let mask = (0..<batch * length).map { _ in Float.random(in: -3...0, using: &random) }
        let outputs = try model.run([
            NamedTensor("q", try Tensor(q, shape: [batch, heads, length, size])),
            NamedTensor("k", try Tensor(k, shape: [batch, heads, length, size])),
            NamedTensor("mask", try Tensor(mask, shape: [batch, 1, 1, length])),
        ])
        let y = try outputs[0].tensor.scalars(as: Float.self)
        let p = try outputs[1].tensor.scalars(as: Float.self)
        var worst = (p: 0.0, y: 0.0)
        for b in 0..<batch {
            for h in 0..<heads {
                let base = (b * heads + h) * length * size
                var probabilities = [Double](repeating: 0, count: length * length)
                for row in 0..<length {
                    var scores = (0..<length).map { column in
                        (0..<size).reduce(0.0) { $0 + Double(q[base + row * size + $1] * k[base + column * size + $1]) }
                            + Double(mask[b * length + column])
                    }
                    let largest = scores.max()!
                    scores = scores.map { exp($0 - largest) }
                    let sum = scores.reduce(0, +)
                    for column in 0..<length {
                        probabilities[row * length + column] = scores[column] / sum
                        let got = Double(p[(b * heads + h) * length * length + row * length + column])
                        worst.p = max(worst.p, abs(got - scores[column] / sum))
                    }
                }
                for row in 0..<length {
                    let context = (0..<size).map { column in
                        (0..<length).reduce(0.0) {
                            $0 + probabilities[row * length + $1] * Double(q[base + $1 * size + column])
                        }
                    }
                    let mean = context.reduce(0, +) / Double(size)
                    let variance = context.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(size)
                    for column in 0..<size {
                        let normalized = (context[column] - mean) / (variance + 1e-5).squareRoot()
                        let want = normalized * (Double(column) / 16 - 1) + Double(column) / 32
                        let got = Double(y[((b * length + row) * heads + h) * size + column])
                        worst.y = max(worst.y, abs(got - want))
                    }
                }
            }
        }
        #expect(worst.p < 1e-5)
        #expect(worst.y < 1e-3)
    }

    /// PyTorch's exact GELU before opset 20; `keepErf` also makes the Erf a graph output, which must stop the fusion.
    static func geluModel(keepErf: Bool) throws -> Model {
        var factory = GraphFactory()
        factory.opset = 17
        factory.input("x", [nil, 64])
        factory.floats("root2", [], [Float(2).squareRoot()])
        factory.floats("one", [], [1])
        factory.floats("half", [], [0.5])
        factory.node("Div", ["x", "root2"], ["scaled"])
        factory.node("Erf", ["scaled"], ["erf"])
        factory.node("Add", ["erf", "one"], ["shifted"])
        factory.node("Mul", ["x", "shifted"], ["product"])
        factory.node("Mul", ["product", "half"], ["y"])
        factory.output("y")
        if keepErf { factory.output("erf") }
        return try Model(bytes: try factory.bytes())
    }

    @Test(arguments: [false, true])
    func exportedGeluFusesIntoOneStep(keepErf: Bool) throws {
        let model = try Self.geluModel(keepErf: keepErf)
        #expect(model.graph.nodes.contains { $0.opType == "Gelu" } == !keepErf)
        #expect(model.graph.nodes.contains { $0.opType == "Erf" } == keepErf)
        var random = SystemRandomNumberGenerator()
        let rows = 1100  // 70k values: split across the team
        let x = (0..<rows * 64).map { _ in Float.random(in: -6...6, using: &random) }
        let y = try model.run([NamedTensor("x", try Tensor(x, shape: [rows, 64]))])[0].tensor.scalars(as: Float.self)
        var worst = 0.0
        for (index, value) in x.enumerated() {
            let v = Double(value)
            worst = max(worst, abs(Double(y[index]) - v * 0.5 * (1 + erf(v / 2.0.squareRoot()))) / max(1, abs(v)))
        }
        #expect(worst < 1e-6)
    }
}
