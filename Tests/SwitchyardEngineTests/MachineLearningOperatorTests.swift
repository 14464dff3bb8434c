import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// The ai.onnx.ml operators against onnxruntime's outputs (Tests/Fixtures/engine/ml, made by
/// tools/make_ml_fixtures.py): hand-made graphs for every mode and rule, and models exported from scikit-learn.
struct MachineLearningOperatorTests {
    static let root = Fixtures.path("Tests/Fixtures/engine/ml")

    static let cases: [Fixtures.Case] = {
        guard let data = FileManager.default.contents(atPath: root + "/cases.json"),
            let manifest = try? JSONDecoder().decode(Fixtures.Manifest.self, from: data)
        else { return [] }
        return manifest.cases
    }()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 25)
    }

    @Test(arguments: cases)
    func matchesOnnxRuntime(_ testCase: Fixtures.Case) throws {
        let directory = Self.root + "/" + testCase.name
        let model = try Model(contentsOf: directory + "/model.onnx")
        var inputs: [NamedTensor] = []
        for (index, name) in testCase.inputs.enumerated() {
            inputs.append(NamedTensor(name, try NPY.read(directory + "/input_\(index).npy")))
        }
        let outputs = try model.run(inputs)
        try #require(outputs.count == testCase.outputs.count)
        for (index, output) in outputs.enumerated() {
            let expected = try NPY.read(directory + "/output_\(index).npy")
            #expect(output.name == testCase.outputs[index])
            #expect(output.tensor.dtype == expected.dtype, "\(output.name)")
            #expect(
                output.tensor.shape == expected.shape,
                "\(output.name): \(output.tensor.shape) vs \(expected.shape)"
            )
            if output.tensor.shape == expected.shape && output.tensor.dtype == expected.dtype {
                let difference = try maxDifference(output.tensor, expected)
                #expect(difference <= testCase.tolerance, "\(output.name): max abs difference \(difference)")
            }
        }
    }

    /// Every row alone gives the row of the batch (the fast walk runs eight rows at a time, NaN rows apart).
    @Test(arguments: [
        "tree_regressor_deep", "tree_classifier_multiclass_softmax", "sklearn_hist_gradient_boosting_binary_nan",
    ])
    func rowsAreIndependentOfBatch(_ name: String) throws {
        let directory = Self.root + "/" + name
        let model = try Model(contentsOf: directory + "/model.onnx")
        let input = try NPY.read(directory + "/input_0.npy")
        let full = try model.run([NamedTensor(model.inputs[0].name, input)])
        for row in 0..<input.shape[0] {
            let single = try model.run([NamedTensor(model.inputs[0].name, try input.rows(row..<(row + 1)))])
            for (one, all) in zip(single, full) {
                #expect(try maxDifference(one.tensor, try all.tensor.rows(row..<(row + 1))) == 0)
            }
        }
    }
}

/// Values that have no quantized form answer, never trap: NaN and infinities through DynamicQuantizeLinear and
/// QuantizeLinear.
struct QuantizationEdgeTests {
    @Test func nanAndInfinityQuantizeWithoutTrapping() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"])
        factory.floats("scale", [], [0.5])
        factory.node("QuantizeLinear", ["x", "scale"], ["p"])
        factory.output("q", type: 2)
        factory.output("p", type: 2)
        let model = try Model(bytes: try factory.bytes(), source: "test.onnx")
        let x = try Tensor([Float.nan, 1, -2, .infinity, 3, -.infinity, 0.5, 1e30], shape: [2, 4])
        let outputs = try model.run([NamedTensor("x", x)])
        let quantized = try outputs[1].tensor.scalars(as: UInt8.self)
        #expect(quantized == [0, 2, 0, 255, 6, 0, 1, 255])
        #expect(try outputs[0].tensor.scalars(as: UInt8.self).count == 8)
    }
}
