import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Every operator case against onnxruntime's outputs (Tests/Fixtures/engine/ops, made by
/// tools/make_op_fixtures.py).
struct OperatorConformanceTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.cases.count >= 70)
    }

    @Test(arguments: Fixtures.cases)
    func matchesOnnxRuntime(_ testCase: Fixtures.Case) throws {
        let directory = Fixtures.ops + "/" + testCase.name
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

    /// Running a model at other batch sizes than the fixture's gives the same rows.
    @Test(arguments: ["fused_matmul_add_relu", "small_cnn", "conv_group_depthwise", "softmax_default"])
    func rowsAreIndependentOfBatch(_ name: String) throws {
        let directory = Fixtures.ops + "/" + name
        let model = try Model(contentsOf: directory + "/model.onnx")
        let input = try NPY.read(directory + "/input_0.npy")
        let full = try model.run([NamedTensor(model.inputs[0].name, input)])[0].tensor
        for row in 0..<input.shape[0] {
            let single = try model.run([NamedTensor(model.inputs[0].name, try input.rows(row..<(row + 1)))])[0].tensor
            #expect(try maxDifference(single, try full.rows(row..<(row + 1))) <= 1e-5)
        }
    }

    /// Conv → BatchNormalization → Relu runs as one step; MatMul → Add → Relu too.
    @Test func fusionFoldsWhatItShould() throws {
        let cnn = try Model(contentsOf: Fixtures.ops + "/small_cnn/model.onnx")
        #expect(cnn.summary.nodeCount == 9)
        #expect(cnn.summary.plannedNodeCount == 6)
        let mlp = try Model(contentsOf: Fixtures.ops + "/fused_matmul_add_relu/model.onnx")
        #expect(mlp.summary.plannedNodeCount == 1)
        // The bias add folds into the MatMul, but its output is a graph output, so the Relu stays apart.
        let kept = try Model(contentsOf: Fixtures.ops + "/not_fused_intermediate_output/model.onnx")
        #expect(kept.summary.plannedNodeCount == 2)
        let unfused = try Model(
            contentsOf: Fixtures.ops + "/small_cnn/model.onnx",
            options: .defaults { $0.fuse = false }
        )
        #expect(unfused.summary.plannedNodeCount == 9)
    }
}
