import Foundation
import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// StringConcat, StringSplit, StringNormalizer and RegexFullMatch: what they answer, and bad attributes or shapes
/// refused at load naming the node.
struct TextOperatorTests {
    private func model(
        _ op: String,
        inputs: [String] = ["x"],
        outputs: [String] = ["y"],
        texts: [String: String] = [:],
        ints: [String: Int64] = [:],
        outputType: Int32 = 8
    ) throws -> Model {
        var factory = GraphFactory()
        factory.opset = 20
        factory.input("x", [nil], type: 8)
        if inputs.count > 1 { factory.input(inputs[1], [1], type: 8) }
        factory.node(op, inputs, outputs, ints: ints, texts: texts)
        for output in outputs { factory.output(output, nil, type: output == "counts" ? 7 : outputType) }
        return try Model(bytes: try factory.bytes(), source: "text.onnx")
    }

    @Test func splitKeepsEmptyPartsWithADelimiterAndPadsToTheLongest() throws {
        let model = try self.model("StringSplit", outputs: ["y", "counts"], texts: ["delimiter": ","])
        let outputs = try model.run([NamedTensor("x", try Tensor(strings: ["a,,b", "c"]))])
        #expect(outputs[0].tensor.shape == [2, 3])
        #expect(try outputs[0].tensor.strings() == ["a", "", "b", "c", "", ""])
        #expect(try outputs[1].tensor.scalars(as: Int64.self) == [3, 1])
    }

    @Test func splitOnWhitespaceWithAMaximum() throws {
        let model = try self.model("StringSplit", outputs: ["y", "counts"], ints: ["maxsplit": 1])
        let outputs = try model.run([NamedTensor("x", try Tensor(strings: ["  one two  three ", ""]))])
        #expect(try outputs[0].tensor.strings() == ["one", "two  three", "", ""])
        #expect(try outputs[1].tensor.scalars(as: Int64.self) == [2, 0])
    }

    @Test func negativeMaxsplitIsRefused() throws {
        let error = try #require(throws: EngineError.self) { try self.model("StringSplit", ints: ["maxsplit": -1]) }
        #expect(error.message.contains("stringsplit_0") && error.message.contains("maxsplit"), "\(error.message)")
    }

    @Test func concatBroadcastsAndRefusesShapesThatDoNot() throws {
        let model = try self.model("StringConcat", inputs: ["x", "suffix"])
        let y = try model.run([
            NamedTensor("x", try Tensor(strings: ["a", "bc"])), NamedTensor("suffix", try Tensor(strings: ["!"])),
        ])[0]
        #expect(try y.tensor.strings() == ["a!", "bc!"])
        var factory = GraphFactory()
        factory.opset = 20
        factory.input("x", [2], type: 8)
        factory.input("suffix", [3], type: 8)
        factory.node("StringConcat", ["x", "suffix"], ["y"])
        factory.output("y", nil, type: 8)
        let error = try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "t.onnx") }
        #expect(error.message.contains("do not broadcast"), "\(error.message)")
    }

    @Test func normalizerRemovesStopWordsAndChangesCase() throws {
        var factory = GraphFactory()
        factory.input("x", [nil], type: 8)
        factory.node("StringNormalizer", ["x"], ["y"], texts: ["case_change_action": "UPPER"])
        factory.nodes[0].attribute.append(
            {
                var attribute = factory.nodes[0].attribute[0]
                attribute.name = "stopwords"
                attribute.type = .strings
                attribute.strings = [Data("monday".utf8)]
                attribute.s = Data()
                return attribute
            }()
        )
        factory.output("y", nil, type: 8)
        let model = try Model(bytes: try factory.bytes(), source: "normalizer.onnx")
        let y = try model.run([NamedTensor("x", try Tensor(strings: ["Monday", "tuesday", "MONDAY"]))])[0]
        #expect(try y.tensor.strings() == ["TUESDAY"])
        let none = try model.run([NamedTensor("x", try Tensor(strings: ["monday"]))])[0]
        #expect(try none.tensor.strings() == [""])
        let error = try #require(throws: EngineError.self) {
            try self.model("StringNormalizer", texts: ["case_change_action": "TITLE"])
        }
        #expect(error.message.contains("case_change_action"), "\(error.message)")
    }

    @Test func regexMatchesWholeElementsAndRefusesABadPattern() throws {
        let model = try self.model("RegexFullMatch", texts: ["pattern": "[a-z]+@[a-z]+\\.com"], outputType: 9)
        let y = try model.run([NamedTensor("x", try Tensor(strings: ["me@site.com", "me@site.com.au", "x"]))])[0]
        #expect(y.tensor.dtype == .bool)
        #expect(try y.tensor.scalars(as: Bool.self) == [true, false, false])
        let error = try #require(throws: EngineError.self) {
            try self.model("RegexFullMatch", texts: ["pattern": "(a"], outputType: 9)
        }
        #expect(error.message.contains("regexfullmatch_0") && error.message.contains("pattern"), "\(error.message)")
    }
}
