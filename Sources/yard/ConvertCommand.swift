import ArgumentParser
import Foundation
import SwitchyardCompression

/// `yard convert`: float32 weights stored as float16 or bfloat16, written as a new version.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Store a model's weights as float16 or bfloat16 (half the size) and write it as a new version.",
        discussion: """
            Each float32 initializer of 16 or more values is stored in 16 bits and followed by a Cast to float32, so \
            the file halves while inputs, outputs and computation stay float32 (the engine widens the weights once \
            at load). float16 saturates values beyond ±65504 (counted in the report); bfloat16 keeps float32's range \
            with 8 bits of precision and needs opset 13.
            """
    )

    @OptionGroup var common: CompressionOptions

    @Flag(name: .customLong("fp16"), help: "Store weights as float16.")
    var fp16 = false

    @Flag(name: .customLong("bf16"), help: "Store weights as bfloat16.")
    var bf16 = false

    func validate() throws {
        try self.common.check()
        guard self.fp16 != self.bf16 else { throw ValidationError("give one of --fp16 or --bf16") }
    }

    func run() throws {
        try runCompression("convert") {
            let original = try ONNXModel.read(self.common.modelPath)
            let format: PrecisionConverter.Format = self.fp16 ? .float16 : .bfloat16
            let result = try PrecisionConverter.convert(original, to: format)
            guard result.converted > 0 else {
                throw CompressionError(
                    .unsupportedModel,
                    "the model has no float32 weights of 16 or more values to convert"
                )
            }
            var notes = [
                "\(result.converted) initializers stored as \(format.rawValue), each cast to float32 in the graph"
            ]
            if result.saturated > 0 { notes.append("\(result.saturated) values beyond ±65504 saturated") }
            let validation = try self.common.validation()
            let judge = try validation.map { data throws(CompressionError) in
                try QualityJudge(original: original, data: data, output: self.common.output)
            }
            let timing = try validation ?? ReportBuilder.randomRows(original, rows: 64)
            try self.common.finish(
                tool: "convert",
                original: original,
                compressed: result.model,
                settings: ["format": format.rawValue],
                notes: notes,
                judge: judge,
                timing: timing
            )
        }
    }
}
