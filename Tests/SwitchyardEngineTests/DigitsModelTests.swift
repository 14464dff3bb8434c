import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// The bundled demo model against onnxruntime and scikit-learn on the whole test split.
struct DigitsModelTests {
    struct Expected: Decodable {
        var sklearn_accuracy: Double
        var test_rows: Int
    }

    @Test func matchesOnnxRuntimeOnTheTestSplit() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try NPY.read(Fixtures.digits("x_test.npy"))
        let outputs = try model.run([NamedTensor("X", x)])
        let labels = try #require(outputs.first { $0.name == "label" }).tensor
        let probabilities = try #require(outputs.first { $0.name == "probabilities" }).tensor
        let ortLabels = try NPY.read(Fixtures.digits("ort_label.npy"))
        let ortProbabilities = try NPY.read(Fixtures.digits("ort_probabilities.npy"))
        #expect(try labels.scalars(as: Int64.self) == ortLabels.scalars(as: Int64.self))
        #expect(probabilities.shape == ortProbabilities.shape)
        #expect(try maxDifference(probabilities, ortProbabilities) <= 1e-5)

        let truth = try NPY.read(Fixtures.digits("y_test.npy")).scalars(as: Int64.self)
        let predicted = try labels.scalars(as: Int64.self)
        let accuracy = Double(zip(truth, predicted).filter { $0 == $1 }.count) / Double(truth.count)
        let data = try #require(FileManager.default.contents(atPath: Fixtures.digits("expected.json")))
        let expected = try JSONDecoder().decode(Expected.self, from: data)
        #expect(truth.count == expected.test_rows)
        #expect(abs(accuracy - expected.sklearn_accuracy) < 1e-9)
    }

    @Test func describesItsInputsAndOutputs() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        #expect(model.inputs == [TensorInfo(name: "X", dtype: .float32, dims: [nil, 64])])
        #expect(model.outputs.map(\.name) == ["label", "probabilities"])
        #expect(model.outputs[0].dims == [nil])
        #expect(model.outputs[1].dims == [nil, 10])
        #expect(model.outputs[0].dtype == .int64)
        #expect(model.summary.operators["ai.onnx.ml.ArrayFeatureExtractor"] == 1)
        #expect(model.summary.parameterCount == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10 + 10 + 1)
        // Cast, bias adds and the Relu are folded away.
        #expect(model.summary.plannedNodeCount < model.summary.nodeCount)
    }

    @Test(arguments: ["multiclass", "binary", "multiclass_default_opset"])
    func logisticRegressionExports(_ name: String) throws {
        let directory = Fixtures.path("Tests/Fixtures/engine/logreg")
        let model = try Model(contentsOf: "\(directory)/\(name).onnx")
        let outputs = try model.run([NamedTensor("X", try NPY.read("\(directory)/\(name)_x.npy"))])
        #expect(
            try outputs[0].tensor.scalars(as: Int64.self)
                == NPY.read("\(directory)/\(name)_label.npy").scalars(as: Int64.self)
        )
        #expect(try maxDifference(outputs[1].tensor, NPY.read("\(directory)/\(name)_probabilities.npy")) <= 1e-5)
    }
}
