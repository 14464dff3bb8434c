import SwitchyardTensor
import Testing

@testable import SwitchyardEngine

/// Graphs whose shapes follow a request's data from some node on: the nodes before it run as a plan made once
/// per input shapes, the rest node by node, and the answers are those of running every node by node.
struct SplitPlanTests {
    /// y = relu(x·w + b) (planned), then the positions of its positive elements (NonZero: data-dependent) and
    /// those elements gathered (GatherND on the computed positions); `y` is an output too.
    private static func model() throws -> Model {
        var factory = GraphFactory()
        factory.input("x", [nil, 3])
        factory.floats("w", [3, 4], [1, -1, 0.5, 2, -2, 1, 0, 1, 0.5, 0.5, -1, -3])
        factory.floats("b", [4], [0.1, -0.2, 0.3, 0])
        factory.node("MatMul", ["x", "w"], ["xw"])
        factory.node("Add", ["xw", "b"], ["z"])
        factory.node("Relu", ["z"], ["y"])
        factory.node("NonZero", ["y"], ["where"])
        factory.node("Transpose", ["where"], ["positions"], lists: ["perm": [1, 0]])
        factory.node("GatherND", ["y", "positions"], ["positive"])
        factory.output("y", [nil, 4])
        factory.output("where", nil, type: 7)
        factory.output("positive", nil)
        return try Model(bytes: try factory.bytes(), source: "split.onnx")
    }

    /// The expected outputs, computed here: y, NonZero's [2, k] positions in row-major order, and the values.
    private static func expected(_ x: [Float], rows: Int) -> (y: [Float], positions: [Int64], positive: [Float]) {
        let w: [Float] = [1, -1, 0.5, 2, -2, 1, 0, 1, 0.5, 0.5, -1, -3]
        let b: [Float] = [0.1, -0.2, 0.3, 0]
        var y = [Float](repeating: 0, count: rows * 4)
        for row in 0..<rows {
            for column in 0..<4 {
                var sum: Float = 0
                for k in 0..<3 { sum += x[row * 3 + k] * w[k * 4 + column] }
                y[row * 4 + column] = max(sum + b[column], 0)
            }
        }
        let hits = y.indices.filter { y[$0] != 0 }
        return (y, hits.map { Int64($0 / 4) } + hits.map { Int64($0 % 4) }, hits.map { y[$0] })
    }

    @Test func theNodesBeforeTheDataDependentOneArePlannedOnceAndAnswersFollowEachRequest() throws {
        let model = try Self.model()
        for (rows, seed) in [(2, 1), (2, 2), (3, 3), (2, 4)] {
            var generator = SplitMix(seed: UInt64(seed))
            let x = (0..<(rows * 3)).map { _ in Float(Int(generator.next() % 9)) - 4 }
            let outputs = try model.run([NamedTensor("x", try Tensor(x, shape: [rows, 3]))])
            let expected = Self.expected(x, rows: rows)
            #expect(try outputs[0].tensor.scalars(as: Float.self) == expected.y)
            #expect(outputs[1].tensor.shape == [2, expected.positive.count])
            #expect(try outputs[1].tensor.scalars(as: Int64.self) == expected.positions)
            #expect(try outputs[2].tensor.scalars(as: Float.self) == expected.positive)
        }
        // MatMul+Add+Relu fuse into one step, planned once per shape; NonZero and what follows run per request.
        #expect(model.plannedNodeCount(for: [[2, 3]]) == 1)
        #expect(model.plannedNodeCount(for: [[3, 3]]) == 1)
    }

    @Test func aRequestTheTailRefusesGetsAnErrorAndTheModelKeepsServing() throws {
        // The tail reshapes the [2, k] positions to [-1, 3]: only a count of positive elements divisible by 3 fits.
        var factory = GraphFactory()
        factory.input("x", [1, 4])
        factory.int64s("shape", [-1, 3])
        factory.node("Relu", ["x"], ["y"])
        factory.node("NonZero", ["y"], ["where"])
        factory.node("Reshape", ["where", "shape"], ["pairs"])
        factory.output("pairs", nil, type: 7)
        let model = try Model(bytes: try factory.bytes(), source: "split-refusal.onnx")
        let one = try Tensor([Float(1), -1, -1, -1], shape: [1, 4])
        #expect(throws: EngineError.self) { try model.run([NamedTensor("x", one)]) }
        let three = try model.run([NamedTensor("x", try Tensor([Float(1), 2, 3, -1], shape: [1, 4]))])
        #expect(three[0].tensor.shape == [2, 3])
        #expect(try three[0].tensor.scalars(as: Int64.self) == [0, 0, 0, 0, 1, 2])
        #expect(model.plannedNodeCount(for: [[1, 4]]) == 1)
    }
}

/// A small deterministic generator for test inputs.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
