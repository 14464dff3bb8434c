import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Small models written the way exporters write them (Tests/Fixtures/engine/zoo, made by
/// tools/make_zoo_models.py: transformers, recurrent and convolutional models, a detection head with
/// NonMaxSuppression and RoiAlign, a Loop/If greedy decoder, a Scan RNN) against onnxruntime: maximum difference
/// relative to the output's largest magnitude ≤ 1e-4, and the same top-1 class for classifier outputs.
struct ZooModelTests {
    static var root: String { Fixtures.path("Tests/Fixtures/engine/zoo") }

    static let cases: [Fixtures.Case] = {
        guard let data = FileManager.default.contents(atPath: root + "/cases.json"),
            let manifest = try? JSONDecoder().decode(Fixtures.Manifest.self, from: data)
        else { return [] }
        return manifest.cases
    }()

    @Test func zooIsPresent() {
        #expect(
            Self.cases.map(\.name).sorted() == [
                "bert_encoder", "deeplab_head", "detection_postprocess", "gpt_decoder", "greedy_decoder",
                "gru_classifier", "lstm_classifier", "mobilenet_v3_block", "scan_rnn", "unet", "vit",
            ]
        )
    }

    @Test(arguments: Self.cases)
    func matchesOnnxRuntime(_ testCase: Fixtures.Case) throws {
        let directory = Self.root + "/" + testCase.name
        let model = try Model(contentsOf: directory + "/model.onnx")
        var inputs: [NamedTensor] = []
        for (index, name) in testCase.inputs.enumerated() {
            inputs.append(NamedTensor(name, try NPY.read(directory + "/input_\(index).npy")))
        }
        let outputs = try model.run(inputs)
        for (index, output) in outputs.enumerated() {
            let expected = try NPY.read(directory + "/output_\(index).npy")
            try #require(
                output.tensor.shape == expected.shape,
                "\(output.name): \(output.tensor.shape) vs \(expected.shape)"
            )
            let actual = try output.tensor.scalars(as: Float.self)
            let reference = try expected.scalars(as: Float.self)
            let scale = reference.map { abs($0) }.max() ?? 1
            let worst = zip(actual, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(
                Double(worst / max(scale, 1e-6)) <= testCase.tolerance,
                "\(output.name): max difference \(worst) at scale \(scale)"
            )
            if expected.shape.count == 2 {  // classifier logits: the same top-1 per row
                let classes = expected.shape[1]
                for row in 0..<expected.shape[0] {
                    let a = actual[(row * classes)..<((row + 1) * classes)]
                    let b = reference[(row * classes)..<((row + 1) * classes)]
                    #expect(a.firstIndex(of: a.max()!)! - row * classes == b.firstIndex(of: b.max()!)! - row * classes)
                }
            }
        }
    }

    /// The transformer and recurrent models take other sequence lengths than the fixture's, and a row run alone
    /// gives the row of the batch.
    @Test(arguments: ["bert_encoder", "gpt_decoder", "lstm_classifier"])
    func sequenceLengthAndBatchAreDynamic(_ name: String) throws {
        let directory = Self.root + "/" + name
        let model = try Model(contentsOf: directory + "/model.onnx")
        let testCase = try #require(Self.cases.first { $0.name == name })
        let inputs = try testCase.inputs.indices.map { try NPY.read(directory + "/input_\($0).npy") }
        let full = try model.run(zip(testCase.inputs, inputs).map { NamedTensor($0, $1) })[0].tensor
        let single = try model.run(zip(testCase.inputs, inputs).map { NamedTensor($0, try $1.rows(0..<1)) })[0].tensor
        #expect(try maxDifference(single, try full.rows(0..<1)) <= 1e-4)
        // Shorter sequences: the first five steps or tokens.
        let shorter = try inputs.map { tensor -> Tensor in
            let dims = Array(tensor.shape)
            let width = dims.dropFirst(2).reduce(1, *) * (tensor.dtype.byteWidth ?? 1)
            var bytes: [UInt8] = []
            for row in 0..<dims[0] {
                let start = row * dims[1] * width
                bytes += tensor.data.bytes[start..<(start + 5 * width)]
            }
            var shape = dims
            shape[1] = 5
            return try Tensor(dtype: tensor.dtype, shape: Shape(shape), data: ByteView(bytes))
        }
        let short = try model.run(zip(testCase.inputs, shorter).map { NamedTensor($0, $1) })[0].tensor
        #expect(short.shape[0] == full.shape[0])
    }
}
