import Foundation
import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// Every kind of bad model or request gets an `EngineError` with a clear message: never a crash.
struct BadInputTests {
    private func loadError(_ bytes: [UInt8]) -> EngineError? {
        do {
            _ = try Model(bytes: bytes, source: "test.onnx")
            return nil
        } catch {
            return error
        }
    }

    @Test func emptyFile() throws {
        let error = try #require(self.loadError([]))
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("empty"))
    }

    @Test(arguments: [1, 10, 100, 1000, 5000, 20000, 40000])
    func truncatedFile(_ length: Int) throws {
        let bytes = try #require(FileManager.default.contents(atPath: Fixtures.digitsModel))
        let error = try #require(self.loadError(Array(bytes.prefix(length))))
        #expect(error.code == .invalidModel)
        #expect(!error.message.contains("\n"))
    }

    @Test(arguments: 0..<20)
    func randomBytes(_ seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed))
        let length = [0, 1, 7, 64, 512, 4096][seed % 6] + seed
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let error = try #require(self.loadError(bytes))
        #expect([EngineError.Code.invalidModel, .unsupportedModel].contains(error.code), "\(error)")
    }

    @Test func notAFile() throws {
        #expect(throws: EngineError.self) { try Model(contentsOf: "/nonexistent/model.onnx") }
        let error = try #require(throws: EngineError.self) { try Model(contentsOf: Fixtures.root) }
        #expect(error.code == .io)
        #expect(error.message.contains("directory"))
    }

    @Test func unsupportedOperatorIsNamedWithItsNode() throws {
        var factory = GraphFactory.small()
        factory.node("ImageDecoder", ["y"], ["z"])
        factory.outputs = [factory.outputs[0]]
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .unsupportedOperator)
        #expect(error.message.contains("'ImageDecoder'"))
        #expect(error.message.contains("imagedecoder_3"))
    }

    @Test func zipMapWithoutClassLabelsIsRefused() throws {
        var factory = GraphFactory.small()
        factory.node("ZipMap", ["y"], ["z"], domain: "ai.onnx.ml")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("classlabels_int64s"))
        #expect(error.message.contains("zipmap_3"))
    }

    @Test func shapesThatDoNotAgree() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.floats("w", [5, 3])
        factory.node("MatMul", ["x", "w"], ["y"])
        factory.output("y")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .shapeMismatch)
        #expect(error.message.contains("MatMul"))
        #expect(error.message.contains("inner dimensions"))
    }

    @Test func declaredOutputShapeThatDisagrees() throws {
        var factory = GraphFactory.small()
        factory.outputs = []
        factory.output("y", [nil, 7])
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .shapeMismatch)
        #expect(error.message.contains("'y'"))
    }

    /// onnxmltools declares LightGBM labels as [1] on a [?, F] input: the batch follows the input, as in onnxruntime.
    @Test func declaredBatchOfOneOnADynamicBatchIsNotALimit() throws {
        var factory = GraphFactory.small()
        factory.outputs = []
        factory.output("y", [1, 3])
        let model = try Model(bytes: try factory.bytes(), source: "test.onnx")
        #expect(model.maxBatchSize == nil)
        let outputs = try model.run([NamedTensor("x", try Tensor([Float](repeating: 1, count: 12), shape: [3, 4]))])
        #expect(outputs[0].tensor.shape == [3, 3])
    }

    @Test func broadcastThatFails() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.floats("b", [3])
        factory.node("Add", ["x", "b"], ["y"])
        factory.output("y")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .shapeMismatch)
        #expect(error.message.contains("broadcast"))
    }

    @Test(arguments: [Int64(29), 30, 1000])
    func unsupportedOpset(_ opset: Int64) throws {
        var factory = GraphFactory.small()
        factory.opset = opset
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .unsupportedModel)
        #expect(error.message.contains("opset \(opset)"))
    }

    @Test func externalDataIsRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.externalFloats("w", [4, 3])
        factory.node("MatMul", ["x", "w"], ["y"])
        factory.output("y")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .unsupportedModel)
        #expect(error.message.contains("external"))
    }

    @Test func danglingValue() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.node("Relu", ["nowhere"], ["y"])
        factory.output("y")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("'nowhere'"))
    }

    @Test func initializerWithWrongDataSize() throws {
        var factory = GraphFactory.small()
        factory.initializers[0].floatData = [1, 2, 3]
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.code == .invalidModel)
        #expect(error.message.contains("'w'"))
    }

    @Test func hugeDeclaredShapesAreRefusedNotAllocated() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 1 << 40])
        factory.node("Relu", ["x"], ["y"])
        factory.output("y")
        let error = try #require(self.loadError(try factory.bytes()))
        #expect(error.message.contains("too large"))

        var matmul = GraphFactory()
        matmul.input("x", [nil, 1 << 20])
        matmul.floats("w", [1 << 20, 1], nil)
        matmul.node("MatMul", ["x", "w"], ["m"])
        matmul.node("Reshape", ["m", "s"], ["y"])
        var shape = Onnx_TensorProto()
        shape.name = "s"
        shape.dataType = 7
        shape.dims = [3]
        shape.int64Data = [1 << 40, 1 << 40, -1]
        matmul.initializers.append(shape)
        matmul.output("y")
        let reshapeError = try #require(self.loadError(try matmul.bytes()))
        #expect(reshapeError.code == .shapeMismatch)
    }

    @Test func typedInitializerFieldsAreRead() throws {
        // uint8, int8 and int32 initializers in int32_data, added to a float input after a Cast each.
        var factory = GraphFactory()
        factory.input("x", [nil, 3])
        for (name, type, values) in [
            ("u", Int32(2), [Int32(1), 200, 255]), ("i", 3, [-1, -128, 127]), ("w", 6, [7, -70000, 3]),
        ] {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dataType = type
            tensor.dims = [3]
            tensor.int32Data = values
            factory.initializers.append(tensor)
            factory.node("Cast", [name], [name + "f"], ints: ["to": 1])
        }
        factory.node("Add", ["x", "uf"], ["a"])
        factory.node("Add", ["a", "if"], ["b"])
        factory.node("Add", ["b", "wf"], ["y"])
        factory.output("y")
        let model = try Model(bytes: try factory.bytes())
        let out = try model.run([NamedTensor("x", try Tensor([Float](repeating: 0, count: 3), shape: [1, 3]))])
        #expect(try out[0].tensor.scalars(as: Float.self) == [7, -69928, 385])
    }

    // MARK: requests

    private func runError(_ model: Model, _ inputs: [NamedTensor]) -> EngineError? {
        do {
            _ = try model.run(inputs)
            return nil
        } catch {
            return error
        }
    }

    @Test func wrongFeatureCount() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let error = try #require(
            self.runError(model, [NamedTensor("X", try Tensor([Float](repeating: 0, count: 63 * 2), shape: [2, 63]))])
        )
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("is 63"))
        #expect(error.message.contains("64"))
    }

    @Test func wrongRank() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let error = try #require(
            self.runError(model, [NamedTensor("X", try Tensor([Float](repeating: 0, count: 64), shape: [64]))])
        )
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("rank 1"))
    }

    @Test func wrongDtype() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let error = try #require(
            self.runError(model, [NamedTensor("X", try Tensor([Int64](repeating: 0, count: 64), shape: [1, 64]))])
        )
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("i64"))
    }

    @Test func missingExtraAndDuplicateInputs() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try Tensor([Float](repeating: 0, count: 64), shape: [1, 64])
        #expect(self.runError(model, [])?.code == .invalidInput)
        #expect(self.runError(model, [NamedTensor("X", x), NamedTensor("Y", x)])?.message.contains("'Y'") == true)
        #expect(self.runError(model, [NamedTensor("X", x), NamedTensor("X", x)])?.message.contains("2 times") == true)
        #expect(throws: EngineError.self) { try model.run([NamedTensor("X", x)], outputNames: ["nope"]) }
    }

    @Test func batchLimitAndEmptyBatch() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel, options: .defaults { $0.maxBatchSize = 4 })
        let five = try Tensor([Float](repeating: 0, count: 5 * 64), shape: [5, 64])
        #expect(self.runError(model, [NamedTensor("X", five)])?.message.contains("limit is 4") == true)
        let empty = try Tensor([Float](), shape: [0, 64])
        #expect(self.runError(model, [NamedTensor("X", empty)])?.code == .invalidInput)
    }

    @Test func nanAndInfinityAreComputedNotCrashed() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        var values = [Float](repeating: 1, count: 4 * 64)
        values[0] = .nan
        values[64 + 3] = .infinity
        values[128 + 5] = -.infinity
        values[192] = .greatestFiniteMagnitude
        let outputs = try model.run([NamedTensor("X", try Tensor(values, shape: [4, 64]))])
        #expect(outputs[0].tensor.shape == [4])
        let probabilities = try outputs[1].tensor.scalars(as: Float.self)
        let firstRowIsNaN = probabilities.prefix(10).allSatisfy { $0.isNaN }
        #expect(firstRowIsNaN)  // NaN spreads through the row, as in onnxruntime
    }

    @Test func castOfNaNDoesNotTrap() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 3])
        factory.node("Cast", ["x"], ["y"], ints: ["to": 7])
        factory.output("y", type: 7)
        let model = try Model(bytes: try factory.bytes())
        let out = try model.run([NamedTensor("x", try Tensor([Float.nan, .infinity, -1e30], shape: [1, 3]))])
        #expect(try out[0].tensor.scalars(as: Int64.self) == [Int64.min, Int64.min, Int64.min])
    }

    // MARK: .npy files

    @Test func npyFortranOrder() throws {
        var bytes = try NPY.encode(try Tensor([Float](repeating: 1, count: 6), shape: [2, 3]))
        let from = Array("'fortran_order': False".utf8)
        let to = Array("'fortran_order': True ".utf8)
        let start = try #require(
            (0...(bytes.count - from.count)).first { Array(bytes[$0..<($0 + from.count)]) == from }
        )
        bytes.replaceSubrange(start..<(start + from.count), with: to)
        let error = try #require(throws: EngineError.self) { try NPY.decode(bytes) }
        #expect(error.message.contains("Fortran"))
    }

    @Test(arguments: ["<c8", ">f4", ">U3", "|O", "<u2"])
    func npyUnsupportedDtype(_ descr: String) throws {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (2,), }"
        header += String(repeating: " ", count: 117 - header.count) + "\n"
        let bytes: [UInt8] =
            [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
            + [UInt8](repeating: 0, count: 16)
        let error = try #require(throws: EngineError.self) { try NPY.decode(bytes) }
        #expect(error.code == .invalidInput)
        #expect(error.message.contains(descr))
    }

    @Test func npyTruncatedAndGarbage() throws {
        let good = try NPY.encode(try Tensor([Float](repeating: 1, count: 6), shape: [2, 3]))
        #expect(throws: EngineError.self) { try NPY.decode(Array(good.dropLast(3))) }
        #expect(throws: EngineError.self) { try NPY.decode(Array(good.prefix(20))) }
        #expect(throws: EngineError.self) { try NPY.decode(Array("hello world, not numpy".utf8)) }
        #expect(throws: EngineError.self) { try NPY.decode([]) }
    }

    @Test func npyRoundTrips() throws {
        for tensor in [
            try Tensor([Float(1), 2, 3, 4, 5, 6], shape: [2, 3]), try Tensor([Int64(-1), 7], shape: [2]),
            try Tensor([UInt8(1), 2, 3], shape: [3, 1, 1]), try Tensor([Double(0.5)], shape: []),
        ] {
            #expect(try NPY.decode(NPY.encode(tensor)) == tensor)
        }
    }
}

/// A deterministic generator for reproducible random inputs.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
