import Foundation
import SwitchyardCompression
import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// `yard quantize` on the bundled digits model: budgets on the committed test split, the forms written, onnxruntime.
@Suite(.serialized)
struct QuantizerTests {
    @Test func dynamicQuantizationKeepsAccuracyAndShrinksTheWeights() throws {
        let original = try Fixtures.digits()
        let result = try Quantizer.quantize(original, options: QuantizationOptions(mode: .dynamic))
        #expect(result.quantized.count == 3)
        let operators = Fixtures.operators(result.model)
        #expect(operators.filter { $0 == "MatMulInteger" }.count == 3)
        #expect(operators.filter { $0 == "DynamicQuantizeLinear" }.count == 3)
        #expect(!operators.contains("MatMul"))
        #expect(Double(original.weightBytes) / Double(result.model.weightBytes) >= 3.5)
        let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
        let quality = try judge.judge(result.model)
        let baseline = try #require(judge.baseline)
        #expect(abs(baseline - 0.9889) < 0.001)
        #expect(
            (baseline - (quality.accuracy ?? 0)) * 100 <= 0.5,
            "accuracy \(quality.accuracy ?? 0) against \(baseline)"
        )
        #expect(quality.agreement >= 0.99)
    }

    @Test func staticQuantizationWritesQDQWithinOnePoint() throws {
        let original = try Fixtures.digits()
        var options = QuantizationOptions(mode: .static)
        let tensors = Quantizer.activationsToCalibrate(original, options: options)
        #expect(tensors == ["cast_input", "next_activations", "next_activations1"])
        for method in QuantizationOptions.CalibrationMethod.allCases {
            options.method = method
            let ranges = try Calibrator.ranges(
                original,
                tensors: tensors,
                data: try Fixtures.calibration(),
                method: method
            )
            let result = try Quantizer.quantize(original, options: options, ranges: ranges)
            let operators = Fixtures.operators(result.model)
            #expect(operators.filter { $0 == "QuantizeLinear" }.count == 3)
            #expect(operators.filter { $0 == "DequantizeLinear" }.count == 6)  // 3 activations, 3 weights
            #expect(operators.filter { $0 == "MatMul" }.count == 3)
            #expect(Double(original.weightBytes) / Double(result.model.weightBytes) >= 3.5)
            let judge = try QualityJudge(original: original, data: try Fixtures.test(), output: nil)
            let quality = try judge.judge(result.model)
            #expect(((judge.baseline ?? 0) - (quality.accuracy ?? 0)) * 100 <= 1.0, "\(method): \(quality)")
        }
    }

    @Test func percentileAndEntropyRangesLieInsideTheMinMaxRange() throws {
        let original = try Fixtures.digits()
        let tensors = ["next_activations", "next_activations1"]
        let calibration = try Fixtures.calibration()
        let minMax = try Calibrator.ranges(original, tensors: tensors, data: calibration, method: .minMax)
        for method in [QuantizationOptions.CalibrationMethod.percentile, .entropy] {
            let clipped = try Calibrator.ranges(
                original,
                tensors: tensors,
                data: calibration,
                method: method,
                percentile: 99.9
            )
            for name in tensors {
                let (wide, narrow) = (try #require(minMax[name]), try #require(clipped[name]))
                #expect(narrow.low >= wide.low && narrow.high <= wide.high && narrow.high > 0, "\(method) \(name)")
            }
        }
        // ReLU outputs: nothing below zero
        #expect(minMax["next_activations"]?.low == 0)
    }

    @Test func excludedNodesStayFloatAndUnknownNamesAreRefused() throws {
        let original = try Fixtures.digits()
        var options = QuantizationOptions(mode: .dynamic)
        let names = Quantizer.candidates(original)
        #expect(names.count == 3)
        options.exclude = [names[2]]
        let result = try Quantizer.quantize(original, options: options)
        #expect(result.quantized.count == 2)
        #expect(result.keptInFloat.contains { $0.node == names[2] && $0.reason == "excluded" })
        #expect(Fixtures.operators(result.model).filter { $0 == "MatMul" }.count == 1)
        options.exclude = ["no-such-node"]
        let error = #expect(throws: CompressionError.self) { try Quantizer.quantize(original, options: options) }
        #expect(error?.code == .invalidArgument)
        // static mode without a range for an activation is refused, not guessed
        let missing = #expect(throws: CompressionError.self) {
            try Quantizer.quantize(original, options: QuantizationOptions(mode: .static), ranges: [:])
        }
        #expect(missing?.code == .invalidData)
    }

    @Test func theSensitivitySearchKeepsLayersInFloatUntilTheBudgetHolds() throws {
        let original = try Fixtures.digits()
        let data = try Fixtures.test()
        let judge = try QualityJudge(
            original: original,
            data: try EvaluationData(inputs: data.inputs, labels: nil),
            output: nil
        )
        // the last hidden layer's range squeezed to a tenth: its MatMul loses, so the search must keep it in float
        // to reach 99.5% agreement
        var options = QuantizationOptions(mode: .static)
        let tensors = Quantizer.activationsToCalibrate(original, options: options)
        var ranges = try Calibrator.ranges(
            original,
            tensors: tensors,
            data: try Fixtures.calibration(),
            method: .minMax
        )
        let squeezedRange = try #require(ranges["next_activations1"])
        ranges["next_activations1"] = ActivationRange(low: squeezedRange.low / 10, high: squeezedRange.high / 10)
        let squeezed = try judge.judge(try Quantizer.quantize(original, options: options, ranges: ranges).model)
        #expect(squeezed.agreement < 0.995)
        let budget = QualityBudget(maxAccuracyLoss: 0.5, minAgreement: 0.995)
        let (result, steps) = try SensitivitySearch.quantize(
            original,
            options: options,
            ranges: ranges,
            judge: judge,
            budget: budget
        )
        #expect(steps.count >= 2)
        #expect(result.keptInFloat.contains { $0.node == Quantizer.candidates(original)[2] }, "\(result.keptInFloat)")
        #expect(try judge.judge(result.model).agreement >= 0.995)
        // an impossible budget (more than perfect) ends in a clear error
        options.exclude = []
        let error = #expect(throws: CompressionError.self) {
            try SensitivitySearch.quantize(
                original,
                options: options,
                ranges: ranges,
                judge: judge,
                budget: QualityBudget(maxAccuracyLoss: 0, minAgreement: 1.01)
            )
        }
        #expect(error?.code == .budgetNotMet)
    }

    @Test func theFusedInt8StepAnswersAsTheOperatorsOneByOne() throws {
        let result = try Quantizer.quantize(try Fixtures.digits(), options: QuantizationOptions(mode: .dynamic))
        let bytes = try result.model.serialized()
        let fused = try Model(bytes: bytes)
        var plain = ModelOptions()
        plain.fuse = false
        let unfused = try Model(bytes: bytes, options: plain)
        let x = try Fixtures.test().inputs
        for rows in [1, 3, 64] {
            let input = [NamedTensor("X", try x.rows(0..<rows))]
            let a = try fused.run(input, outputNames: ["probabilities"])[0].tensor.scalars(as: Float.self)
            let b = try unfused.run(input, outputNames: ["probabilities"])[0].tensor.scalars(as: Float.self)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5, "batch \(rows): \(worst)")
        }
    }

    @Test func onnxruntimeRunsWhatTheQuantizerWrites() throws {
        let original = try Fixtures.digits()
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engineJudge = try QualityJudge(original: original, data: try Fixtures.test(), output: "label")
        var models: [(String, ONNXModel)] = [
            ("dynamic", try Quantizer.quantize(original, options: QuantizationOptions(mode: .dynamic)).model)
        ]
        let options = QuantizationOptions(mode: .static)
        let ranges = try Calibrator.ranges(
            original,
            tensors: Quantizer.activationsToCalibrate(original, options: options),
            data: try Fixtures.calibration(),
            method: .minMax
        )
        models.append(("static", try Quantizer.quantize(original, options: options, ranges: ranges).model))
        for (name, model) in models {
            let path = "\(directory)/\(name).onnx"
            try model.write(to: path)
            let ort = try Fixtures.onnxruntime(path, reference: Fixtures.digitsModel)
            let accuracy = try #require(ort["accuracy"] as? Double)
            #expect((0.9889 - accuracy) * 100 <= (name == "dynamic" ? 0.5 : 1.0), "\(name): \(accuracy)")
            // onnxruntime and the engine give the same classes on (nearly) every row
            let classes = try #require(ort["classes"] as? [Int])
            let engine = try ModelEvaluator.predict(try ModelEvaluator.load(model), engineJudge.data, output: "label")
            #expect(ModelEvaluator.agreement(classes, engine.classes) >= 0.99, "\(name)")
        }
    }
}
