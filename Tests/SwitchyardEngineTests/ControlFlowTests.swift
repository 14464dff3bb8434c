import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// If, Loop and Scan: bodies that read enclosing-scope values, conditions known at load or only per request, and
/// bad bodies or inputs refused with a message instead of a crash or a hang.
struct ControlFlowTests {
    /// A body with no inputs whose output `out` is `op(x, captured)`: it reads `x` from the enclosing graph.
    private static func branch(_ op: String, _ captured: String, out: String) -> GraphFactory {
        var body = GraphFactory()
        body.node(op, ["x", captured], [out])
        body.output(out, nil)
        return body
    }

    /// y = x + w when sum(x) > 0, else x * w; w is an initializer of the enclosing graph.
    private static func ifModel() -> GraphFactory {
        var factory = GraphFactory()
        factory.input("x", [nil, 3])
        factory.floats("w", [3], [1, 2, 3])
        factory.floats("zero", [], [0])
        factory.node("ReduceSum", ["x"], ["s"], ints: ["keepdims": 0])
        factory.node("Greater", ["s", "zero"], ["c"])
        factory.node(
            "If",
            ["c"],
            ["y"],
            graphs: [
                "then_branch": Self.branch("Add", "w", out: "t"), "else_branch": Self.branch("Mul", "w", out: "e"),
            ]
        )
        factory.output("y", [nil, 3])
        return factory
    }

    @Test func ifTakesTheBranchTheRequestsDataChooses() throws {
        let model = try Model(bytes: try Self.ifModel().bytes(), source: "if.onnx")
        let positive = try model.run([NamedTensor("x", try Tensor([Float(1), 2, 3], shape: [1, 3]))])
        #expect(try positive[0].tensor.scalars(as: Float.self) == [2, 4, 6])
        let negative = try model.run([NamedTensor("x", try Tensor([Float(-1), -2, -3], shape: [1, 3]))])
        #expect(try negative[0].tensor.scalars(as: Float.self) == [-1, -4, -9])
    }

    /// Loop: M = n (an input), a carried sum, and a scan output of each partial sum.
    private static func loopModel(condition: Bool = false) -> GraphFactory {
        var body = GraphFactory()
        body.input("i", [], type: 7)
        body.input("cond_in", [], type: 9)
        body.input("acc", [3])
        body.node("Cast", ["i"], ["fi"], ints: ["to": 1])
        body.node("Mul", ["x", "fi"], ["step"])
        body.node("Add", ["acc", "step"], ["acc_out"])
        body.node("Identity", ["acc_out"], ["partial"])
        body.node("Identity", ["cond_in"], ["cond_out"])
        body.output("cond_out", [], type: 9)
        body.output("acc_out", [3])
        body.output("partial", [3])
        var factory = GraphFactory()
        factory.input("x", [3])
        factory.input("n", [], type: 7)
        factory.floats("start", [3], [0, 0, 0])
        factory.node("Loop", ["n", condition ? "n" : "", "start"], ["sum", "partials"], graphs: ["body": body])
        factory.output("sum", [3])
        factory.output("partials", nil)
        return factory
    }

    @Test func loopCarriesValuesAndStacksScanOutputs() throws {
        let model = try Model(bytes: try Self.loopModel().bytes(), source: "loop.onnx")
        let x = try Tensor([Float(1), 10, 100])
        let outputs = try model.run([NamedTensor("x", x), NamedTensor("n", try Tensor([Int64(3)], shape: []))])
        // acc = x * (0 + 1 + 2)
        #expect(try outputs[0].tensor.scalars(as: Float.self) == [3, 30, 300])
        #expect(outputs[1].tensor.shape == [3, 3])
        #expect(try outputs[1].tensor.scalars(as: Float.self) == [0, 0, 0, 1, 10, 100, 3, 30, 300])
        let none = try model.run([NamedTensor("x", x), NamedTensor("n", try Tensor([Int64(0)], shape: []))])
        #expect(try none[0].tensor.scalars(as: Float.self) == [0, 0, 0])
        #expect(none[1].tensor.shape == [0, 3])
    }

    @Test func loopWithAConditionThatIsNotBoolIsRefusedAtLoad() throws {
        let error = try #require(throws: EngineError.self) {
            try Model(bytes: try Self.loopModel(condition: true).bytes(), source: "loop.onnx")
        }
        #expect(error.message.contains("loop_0") && error.message.contains("expected bool"), "\(error.message)")
    }

    @Test func loopWhoseBodyTakesTheWrongInputsIsRefusedAtLoad() throws {
        var factory = Self.loopModel()
        factory.nodes[0].input = ["n", "", "start", "start"]  // two carried values; the body takes one
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "l.onnx") }
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("loop_0") && error.message.contains("body takes 3 inputs"), "\(error.message)")
    }

    @Test func loopTripCountOfTheWrongTypeIsRefusedAtLoad() throws {
        var factory = Self.loopModel()
        factory.inputs[1] = GraphFactory.info("n", [], 1)
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "l.onnx") }
        #expect(error.message.contains("trip count"), "\(error.message)")
    }

    @Test func aBodyReadingAValueNoScopeDefinesIsRefusedAtLoad() throws {
        var factory = Self.ifModel()
        factory.nodes[2] = {
            var node = factory.nodes[2]
            node.attribute[0].g.node[0].input = ["x", "nowhere"]
            return node
        }()
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "if.onnx") }
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("'nowhere'"), "\(error.message)")
    }

    @Test func ifConditionWithMoreThanOneElementIsRefusedAtLoad() throws {
        var factory = Self.ifModel()
        factory.nodes[1].input = ["x", "zero"]  // condition [N, 3]
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "if.onnx") }
        #expect(error.message.contains("condition must hold one element"), "\(error.message)")
    }

    /// Scan (opset 9+): a running sum over axis 1 of x [2, T], scanned backwards, outputs stacked on axis 1.
    private static func scanModel(axes: [Int64] = [1]) -> GraphFactory {
        var body = GraphFactory()
        body.input("sum_in", [2])
        body.input("column", [2])
        body.node("Add", ["sum_in", "column"], ["sum_out"])
        body.node("Mul", ["sum_out", "scale"], ["scaled"])  // scale: an enclosing-scope value
        body.output("sum_out", [2])
        body.output("scaled", [2])
        var factory = GraphFactory()
        factory.input("x", [2, nil])
        factory.floats("init", [2], [0, 0])
        factory.floats("scale", [], [10])
        factory.node(
            "Scan",
            ["init", "x"],
            ["total", "running"],
            ints: ["num_scan_inputs": 1],
            lists: ["scan_input_axes": axes, "scan_input_directions": [1], "scan_output_axes": [1]],
            graphs: ["body": body]
        )
        factory.output("total", [2])
        factory.output("running", nil)
        return factory
    }

    @Test func scanRunsAlongAnAxisInEitherDirection() throws {
        let model = try Model(bytes: try Self.scanModel().bytes(), source: "scan.onnx")
        let x = try Tensor([Float(1), 2, 3, 4, 5, 6], shape: [2, 3])
        let outputs = try model.run([NamedTensor("x", x)])
        #expect(try outputs[0].tensor.scalars(as: Float.self) == [6, 15])
        #expect(outputs[1].tensor.shape == [2, 3])
        #expect(try outputs[1].tensor.scalars(as: Float.self) == [30, 50, 60, 60, 110, 150])
    }

    @Test func scanAxisOutOfRangeIsRefused() throws {
        let model = try Model(bytes: try Self.scanModel(axes: [5]).bytes(), source: "scan.onnx")
        let error = try #require(throws: EngineError.self) {
            try model.run([NamedTensor("x", try Tensor([Float(1), 2], shape: [2, 1]))])
        }
        #expect(error.message.contains("axis 5"), "\(error.message)")
    }

    @Test func optionalsOfTensorsAndTheEmptyOptionalRefused() throws {
        var factory = GraphFactory()
        factory.opset = 18
        factory.input("x", [2])
        factory.node("Optional", ["x"], ["o"])
        factory.node("OptionalHasElement", ["o"], ["has"])
        factory.node("OptionalHasElement", [""], ["none"])
        factory.node("OptionalGetElement", ["o"], ["y"])
        factory.output("has", [], type: 9)
        factory.output("none", [], type: 9)
        factory.output("y", [2])
        let model = try Model(bytes: try factory.bytes(), source: "optional.onnx")
        let outputs = try model.run([NamedTensor("x", try Tensor([Float(1), 2]))])
        #expect(try outputs[0].tensor.scalars(as: Bool.self) == [true])
        #expect(try outputs[1].tensor.scalars(as: Bool.self) == [false])
        #expect(try outputs[2].tensor.scalars(as: Float.self) == [1, 2])
        factory.nodes[3].input = [""]
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "o.onnx") }
        #expect(
            error.message.contains("optionalgetelement_3") && error.message.contains("no element"),
            "\(error.message)"
        )
    }
}
