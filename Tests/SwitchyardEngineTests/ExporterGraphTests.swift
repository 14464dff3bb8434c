import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Graphs as exporters write them: current opsets, parameters as inputs, dynamic sequence lengths,
/// external tensor data.
struct ExporterGraphTests {
    /// The newest opset and IR version the onnx release defines load; newer ones are refused by name.
    @Test func currentOpsetAndIRVersionLoad() throws {
        var factory = GraphFactory.small()
        factory.opset = 28
        factory.irVersion = 14
        let model = try Model(bytes: try factory.bytes(), source: "new.onnx")
        #expect(model.summary.opsetVersion == 28)
        factory.irVersion = 15
        #expect {
            _ = try Model(bytes: try factory.bytes(), source: "newer.onnx")
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.code == .unsupportedModel && error.message.contains("IR version 15")
        }
    }

    /// An operator used at an opset that does not define it is refused with the opset it needs.
    @Test func operatorNewerThanTheOpsetIsRefused() throws {
        var factory = GraphFactory()
        factory.opset = 17
        factory.input("x", [nil, 4])
        factory.node("Gelu", ["x"], ["y"])
        factory.output("y")
        #expect {
            _ = try Model(bytes: try factory.bytes())
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.code == .invalidModel && error.message.contains("'Gelu'")
                && error.message.contains("opset 20") && error.message.contains("gelu_0")
        }
    }

    /// PyTorch's flatten-by-shape: Shape → Gather → Unsqueeze → Concat → Reshape, folded per request shape,
    /// with a dynamic sequence length (the second dimension) as well as the batch.
    @Test func shapeArithmeticWithDynamicSequenceLength() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, nil, 4])
        factory.int64s("zero", [0])
        factory.int64s("minus_one", [-1])
        factory.node("Shape", ["x"], ["shape"])
        factory.node("Gather", ["shape", "zero"], ["batch"])
        factory.node("Concat", ["batch", "minus_one"], ["target"], ints: ["axis": 0])
        factory.node("Reshape", ["x", "target"], ["y"])
        factory.output("y")
        let model = try Model(bytes: try factory.bytes())
        for (batch, sequence) in [(1, 1), (2, 7), (3, 128)] {
            let values = (0..<(batch * sequence * 4)).map { Float($0) }
            let x = try Tensor(values, shape: [batch, sequence, 4])
            let y = try model.run([NamedTensor("x", x)])[0].tensor
            #expect(y.shape == [batch, sequence * 4])
            #expect(try y.scalars(as: Float.self) == values)
        }
    }

    /// A Reshape whose shape is a request input runs node by node; a bad shape is the request's error.
    @Test func parameterFromRequestData() throws {
        var factory = GraphFactory()
        factory.input("x", [2, 6])
        factory.input("shape", [2], type: 7)
        factory.node("Reshape", ["x", "shape"], ["r"])
        factory.node("Relu", ["r"], ["y"])
        factory.output("y")
        let model = try Model(bytes: try factory.bytes())
        let x = try Tensor((0..<12).map { Float($0) - 6 }, shape: [2, 6])
        for target in [[3, 4], [12, 1], [-1, 2]] as [[Int64]] {
            let y = try model.run([NamedTensor("x", x), NamedTensor("shape", try Tensor(target))])[0].tensor
            let expected = target.contains(-1) ? [6, 2] : target.map(Int.init)
            #expect(Array(y.shape) == expected)
            #expect(try y.scalars(as: Float.self) == (0..<12).map { max(Float($0) - 6, 0) })
        }
        #expect {
            _ = try model.run([NamedTensor("x", x), NamedTensor("shape", try Tensor([Int64(5), 5]))])
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.message.contains("Reshape") && error.message.contains("[5, 5]")
        }
    }

    /// Tensors saved beside the model load from the model's folder.
    @Test func externalDataLoads() throws {
        let folder = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let weights: [Float] = (0..<12).map { Float($0) / 4 }
        var bytes = [UInt8](repeating: 0xAB, count: 16)  // an offset before the tensor
        weights.withUnsafeBytes { bytes += $0 }
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/weights.bin"))
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.externalFloats("w", [4, 3], offset: 16)
        factory.node("MatMul", ["x", "w"], ["y"])
        factory.output("y")
        try Data(try factory.bytes()).write(to: URL(fileURLWithPath: folder + "/model.onnx"))
        let model = try Model(contentsOf: folder + "/model.onnx")
        let y = try model.run([NamedTensor("x", try Tensor([Float(1), 0, 0, 1], shape: [1, 4]))])[0].tensor
        #expect(try y.scalars(as: Float.self) == [0 + 2.25, 0.25 + 2.5, 0.5 + 2.75])
    }

    /// External data may not lead outside the model's folder, nor past the end of its file.
    @Test(arguments: ["../outside.bin", "/etc/hostname", "link.bin", "short.bin", "missing.bin"])
    func externalDataPathsAreChecked(_ location: String) throws {
        let root = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let folder = root + "/model"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(repeating: 1, count: 48).write(to: URL(fileURLWithPath: root + "/outside.bin"))
        try Data(repeating: 1, count: 8).write(to: URL(fileURLWithPath: folder + "/short.bin"))
        try FileManager.default.createSymbolicLink(
            atPath: folder + "/link.bin",
            withDestinationPath: root + "/outside.bin"
        )
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.externalFloats("w", [4, 3], location: location)
        factory.node("MatMul", ["x", "w"], ["y"])
        factory.output("y")
        try Data(try factory.bytes()).write(to: URL(fileURLWithPath: folder + "/model.onnx"))
        #expect {
            _ = try Model(contentsOf: folder + "/model.onnx")
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.message.contains("initializer 'w'") && error.message.contains(location)
        }
    }
}
