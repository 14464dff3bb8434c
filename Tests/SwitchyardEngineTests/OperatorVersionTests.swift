import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Operators whose parameters moved from attributes to inputs between opsets: the engine reads each version's
/// form (the node tests cover the newest forms).
struct OperatorVersionTests {
    private func run(_ factory: GraphFactory, _ x: Tensor) throws -> Tensor {
        let model = try Model(bytes: try factory.bytes())
        return try model.run([NamedTensor("x", x)])[0].tensor
    }

    private let x = try! Tensor((0..<12).map { Float($0) - 4 }, shape: [3, 4])

    @Test func clipBoundsAreAttributesBeforeOpset11() throws {
        var factory = GraphFactory()
        factory.opset = 6
        factory.input("x", [3, 4])
        factory.node("Clip", ["x"], ["y"], reals: ["min": -1, "max": 2])
        factory.output("y")
        #expect(
            try self.run(factory, self.x).scalars(as: Float.self) == (0..<12).map { min(max(Float($0) - 4, -1), 2) }
        )
    }

    @Test func sliceTakesAttributesBeforeOpset10AndInputsAfter() throws {
        var old = GraphFactory()
        old.opset = 9
        old.input("x", [3, 4])
        old.node("Slice", ["x"], ["y"], lists: ["starts": [1], "ends": [3], "axes": [1]])
        old.output("y")
        var new = GraphFactory()
        new.opset = 13
        new.input("x", [3, 4])
        new.int64s("starts", [1])
        new.int64s("ends", [3])
        new.int64s("axes", [1])
        new.node("Slice", ["x", "starts", "ends", "axes"], ["y"])
        new.output("y")
        let expected: [Float] = [-3, -2, 1, 2, 5, 6]
        #expect(try self.run(old, self.x).scalars(as: Float.self) == expected)
        #expect(try self.run(new, self.x).scalars(as: Float.self) == expected)
    }

    @Test func reduceAxesAreAnAttributeUntilTheirVersionMovesThem() throws {
        // ReduceSum's axes became an input at 13, ReduceMean's at 18: at opset 17 both meet in one graph.
        var factory = GraphFactory()
        factory.opset = 17
        factory.input("x", [3, 4])
        factory.int64s("axes", [1])
        factory.node("ReduceSum", ["x", "axes"], ["s"], ints: ["keepdims": 0])
        factory.node("ReduceMean", ["x"], ["m"], ints: ["keepdims": 0], lists: ["axes": [1]])
        factory.node("Add", ["s", "m"], ["y"])
        factory.output("y")
        #expect(try self.run(factory, self.x).scalars(as: Float.self) == [-10 - 2.5, 6 + 1.5, 22 + 5.5])
    }

    @Test func splitSizesAreAnAttributeBeforeOpset13() throws {
        var factory = GraphFactory()
        factory.opset = 11
        factory.input("x", [3, 4])
        factory.node("Split", ["x"], ["a", "b"], ints: ["axis": 1], lists: ["split": [1, 3]])
        factory.output("b")
        let y = try self.run(factory, self.x)
        #expect(y.shape == [3, 3])
        #expect(try y.scalars(as: Float.self) == [-3, -2, -1, 1, 2, 3, 5, 6, 7])
    }

    @Test func groupNormalizationScalesPerGroupBeforeOpset21AndPerChannelAfter() throws {
        for opset in [Int64(18), 21] {
            var factory = GraphFactory()
            factory.opset = opset
            factory.input("x", [1, 4, 2])
            let count = opset < 21 ? 2 : 4
            factory.floats("scale", [count], (0..<count).map { Float($0 + 1) })
            factory.floats("bias", [count], Array(repeating: 0, count: count))
            factory.node("GroupNormalization", ["x", "scale", "bias"], ["y"], ints: ["num_groups": 2])
            factory.output("y")
            let model = try Model(bytes: try factory.bytes())
            let input = try Tensor((0..<8).map { Float($0) }, shape: [1, 4, 2])
            let y = try model.run([NamedTensor("x", input)])[0].tensor.scalars(as: Float.self)
            // Each group of 4 values normalizes to ±1.342, ±0.447; the scale multiplies per group or per channel.
            let unit: [Float] = [-1.3416, -0.4472, 0.4472, 1.3416]
            let scales: [Float] = opset < 21 ? [1, 1, 1, 1, 2, 2, 2, 2] : [1, 1, 2, 2, 3, 3, 4, 4]
            for index in 0..<8 { #expect(abs(y[index] - unit[index % 4] * scales[index]) < 1e-3) }
        }
    }
}
