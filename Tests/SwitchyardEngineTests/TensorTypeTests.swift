import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// bfloat16 and string tensors in and out of the engine: the types the model declares are the types callers send
/// and receive, and a string that is no number is an input error naming its element.
struct TensorTypeTests {
    /// bf16 bits, rounded to nearest even.
    static func brain(_ values: [Float]) -> [UInt8] {
        values.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
            return [UInt8(rounded & 0xFF), UInt8(rounded >> 8)]
        }
    }

    static func floats(brain bytes: [UInt8]) -> [Float] {
        stride(from: 0, to: bytes.count, by: 2).map { Float(bitPattern: UInt32(bytes[$0]) << 16 | UInt32(bytes[$0 + 1]) << 24) }
    }

    /// A bf16 model (input, weights and output bf16) runs in f32 and answers bf16.
    @Test func bfloat16InputAndOutput() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 3], type: 16)
        factory.node("Relu", ["x"], ["r"])
        factory.node("Add", ["r", "r"], ["y"])
        factory.output("y", [nil, 3], type: 16)
        let model = try Model(bytes: try factory.bytes())
        #expect(model.inputs[0].dtype == .bfloat16)
        #expect(model.outputs[0].dtype == .bfloat16)
        let values: [Float] = [1.5, -2, 3.140625, 0.1, 100, -0.5]
        let x = try Tensor(dtype: .bfloat16, shape: [2, 3], data: ByteView(Self.brain(values)))
        let y = try model.run([NamedTensor("x", x)])[0].tensor
        #expect(y.dtype == .bfloat16)
        #expect(y.shape == [2, 3])
        let expected = Self.floats(brain: Self.brain(values)).map { max($0, 0) * 2 }
        #expect(Self.floats(brain: y.data.bytes) == Self.floats(brain: Self.brain(expected)))
    }

    /// Cast to bfloat16 inside an f32 graph rounds as bf16 does (nearest even), though it computes in f32.
    @Test func castToBfloat16Rounds() throws {
        var factory = GraphFactory()
        factory.input("x", [nil])
        factory.node("Cast", ["x"], ["h"], ints: ["to": 16])
        factory.node("Cast", ["h"], ["y"], ints: ["to": 1])
        factory.output("y", [nil])
        let model = try Model(bytes: try factory.bytes())
        // 1 + 2^-8 is halfway between two bf16 values: it rounds to the even one, 1.0; 1 + 3·2^-8 rounds up.
        let x = try Tensor([1 + 1 / 256, 1 + 3 / 256, -3.3] as [Float], shape: [3])
        let y = try model.run([NamedTensor("x", x)])[0].tensor
        #expect(try y.scalars(as: Float.self) == [1, 1 + 4 / 256, Float(bitPattern: Float(-3.3).bitPattern & 0xFFFF_0000)])
    }

    /// Strings in, strings out through the shaping operators; the output holds the request's strings.
    @Test func stringsThroughShaping() throws {
        var factory = GraphFactory()
        factory.input("s", [nil, 2], type: 8)
        factory.node("Transpose", ["s"], ["t"], lists: ["perm": [1, 0]])
        factory.node("Reshape", ["t", "shape"], ["y"])
        factory.int64s("shape", [-1])
        factory.output("y", [nil], type: 8)
        let model = try Model(bytes: try factory.bytes())
        let s = try Tensor(strings: ["a", "", "ünï", "dd"], shape: [2, 2])
        for _ in 0..<3 {  // arenas are reused: strings from one run never leak into the next
            let y = try model.run([NamedTensor("s", s)])[0].tensor
            #expect(y.dtype == .bytes)
            #expect(try y.strings() == ["a", "ünï", "", "dd"])
        }
    }

    /// An operator that cannot take strings refuses them when the model loads, naming the node.
    @Test func stringsIntoANumericOperatorAreRefused() throws {
        var factory = GraphFactory()
        factory.input("s", [4], type: 8)
        factory.node("Relu", ["s"], ["y"])
        factory.output("y", [4], type: 8)
        #expect {
            _ = try Model(bytes: try factory.bytes())
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.code == .unsupportedOperator && error.message.contains("relu_0")
                && error.message.contains("string tensors are not supported")
        }
    }

    /// A string that holds no number fails Cast with the element named; numbers round-trip through strings.
    @Test func castBetweenStringsAndNumbers() throws {
        var factory = GraphFactory()
        factory.input("s", [nil], type: 8)
        factory.node("Cast", ["s"], ["f"], ints: ["to": 1])
        factory.node("Cast", ["f"], ["y"], ints: ["to": 8])
        factory.output("y", [nil], type: 8)
        let model = try Model(bytes: try factory.bytes())
        let y = try model.run([NamedTensor("s", try Tensor(strings: ["1.5", " -2", "1e3", "inf"]))])[0].tensor
        #expect(try y.strings() == ["1.5", "-2", "1000", "INF"])
        #expect {
            _ = try model.run([NamedTensor("s", try Tensor(strings: ["1", "one"]))])
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.code == .invalidInput && error.message.contains("element 1") && error.message.contains("one")
        }
    }
}
