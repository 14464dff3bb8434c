import Foundation
import SwitchyardCompression
import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// `yard prune` and `yard convert` on the bundled digits model.
@Suite(.serialized)
struct PrunerTests {
    @Test func halfTheHiddenUnitsGoWithinOnePoint() throws {
        let original = try Fixtures.digits()
        #expect(Pruner.prunableLayers(original).count == 2)
        let result = try Pruner.prune(original, sparsity: 0.5, calibration: try Fixtures.calibration())
        #expect(result.layers.map(\.before) == [128, 64])
        #expect(result.layers.map(\.after) == [64, 32])
        let model = try ModelEvaluator.load(result.model)
        #expect(model.summary.parameterCount < 9000)  // 64·64 + 64·32 + 32·10 and biases, from 16,512 + 202
        let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
        let quality = try judge.judge(result.model)
        #expect(((judge.baseline ?? 0) - (quality.accuracy ?? 0)) * 100 <= 1.0, "\(quality)")
        // onnxruntime runs the smaller model too
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try result.model.write(to: "\(directory)/pruned.onnx")
        let ort = try Fixtures.onnxruntime("\(directory)/pruned.onnx")
        #expect(abs((ort["accuracy"] as? Double ?? 0) - (quality.accuracy ?? 1)) < 0.005)
    }

    @Test func theLeastSquaresRefitIsWhatKeepsAccuracy() throws {
        // Without the re-fit (the next layer just loses the rows of the removed units) accuracy falls further.
        let original = try Fixtures.digits()
        let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
        let refit = try judge.judge(
            try Pruner.prune(original, sparsity: 0.75, calibration: try Fixtures.calibration()).model
        )
        let truncated = try judge.judge(try Self.truncated(original, keep: 32))
        #expect((refit.accuracy ?? 0) > (truncated.accuracy ?? 0), "refit \(refit) truncated \(truncated)")
    }

    @Test func overPruningCostsAccuracy() throws {
        let original = try Fixtures.digits()
        let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
        let result = try Pruner.prune(original, sparsity: 0.97, calibration: try Fixtures.calibration())
        let quality = try judge.judge(result.model)
        #expect(quality.agreement < 0.8, "\(quality)")
    }

    @Test func badSparsityAndModelsWithoutLayersAreRefused() throws {
        let original = try Fixtures.digits()
        for sparsity in [0.0, 1.0, -0.5] {
            let error = #expect(throws: CompressionError.self) {
                try Pruner.prune(original, sparsity: sparsity, calibration: try Fixtures.calibration())
            }
            #expect(error?.code == .invalidArgument)
        }
        let logreg = try ONNXModel.read(Fixtures.path("Tests/Fixtures/engine/logreg/multiclass.onnx"))
        let error = #expect(throws: CompressionError.self) {
            try Pruner.prune(logreg, sparsity: 0.5, calibration: try Fixtures.calibration())
        }
        #expect(error?.code == .unsupportedModel)
    }

    @Test(arguments: PrecisionConverter.Format.allCases)
    func sixteenBitWeightsHalveTheFileAndAgree(_ format: PrecisionConverter.Format) throws {
        let original = try Fixtures.digits()
        let result = try PrecisionConverter.convert(original, to: format)
        #expect(result.converted == 5)  // the 10 output biases stay float32 (fewer than 16 values)
        let ratio = Double(original.weightBytes) / Double(result.model.weightBytes)
        #expect(ratio > 1.95 && ratio <= 2.0, "\(ratio)")
        let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
        #expect(try judge.judge(result.model).agreement >= 0.99)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try result.model.write(to: "\(directory)/half.onnx")
        let ort = try Fixtures.onnxruntime("\(directory)/half.onnx", reference: Fixtures.digitsModel)
        #expect((ort["agreement"] as? Double ?? 0) >= 0.99)
    }

    @Test func aNewVersionCarriesTheSourceConfigAndHowItWasMade() throws {
        let repository = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let source = "\(repository)/digits/1"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.digitsModel, toPath: "\(source)/model.onnx")
        try FileManager.default.copyItem(
            atPath: Fixtures.path("models/digits/config.json"),
            toPath: "\(repository)/digits/config.json"
        )
        let next = try #require(ModelVersionWriter.nextVersionDirectory(forModel: "\(source)/model.onnx"))
        #expect(next.hasSuffix("/digits/2"))
        let model = try Quantizer.quantize(try Fixtures.digits(), options: QuantizationOptions(mode: .dynamic)).model
        try ModelVersionWriter.write(
            model,
            to: next,
            source: "\(source)/model.onnx",
            provenance: ["tool": "yard quantize"]
        )
        let repositoryModels = ModelRepository(root: repository)
        try repositoryModels.load("digits", version: 2)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(next)/config.json")))
            as? [String: Any]
        #expect((config?["compression"] as? [String: Any])?["tool"] as? String == "yard quantize")
        #expect((config?["labels"] as? [String])?.count == 10)
        // never over an existing version
        let error = #expect(throws: CompressionError.self) {
            try ModelVersionWriter.write(model, to: next, source: "\(source)/model.onnx", provenance: [:])
        }
        #expect(error?.code == .invalidArgument)
    }

    /// The digits model with its first hidden layer cut to `keep` units and no re-fit.
    static func truncated(_ model: ONNXModel, keep: Int) throws -> ONNXModel {
        var proto = model.proto
        for (index, tensor) in proto.graph.initializer.enumerated() {
            let dims = tensor.dims.map { Int($0) }
            let values = tensor.rawData.withUnsafeBytes { raw in
                (0..<(tensor.rawData.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            }
            let floats = tensor.rawData.isEmpty ? tensor.floatData : values
            var kept: [Float]
            var newDims = dims
            switch tensor.name {
            case "coefficient":  // [64, 128] → [64, keep]
                kept = (0..<64).flatMap { row in floats[(row * 128)..<(row * 128 + keep)] }
                newDims = [64, keep]
            case "intercepts":
                kept = Array(floats.prefix(keep))
                newDims = [1, keep]
            case "coefficient1":  // [128, 64] → [keep, 64]
                kept = Array(floats.prefix(keep * 64))
                newDims = [keep, 64]
            default:
                continue
            }
            proto.graph.initializer[index].clearRawData()
            proto.graph.initializer[index].floatData = kept
            proto.graph.initializer[index].dims = newDims.map { Int64($0) }
        }
        return ONNXModel(proto: proto, source: "truncated")
    }
}
