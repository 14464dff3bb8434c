import ArgumentParser
import Foundation
import SwitchyardEngine
import SwitchyardTensor

/// `yard model`: look inside model files and make synthetic ones.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect ONNX models and synthesize benchmark models.",
        subcommands: [Inspect.self, Synth.self, ModelBench.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a model's inputs, outputs, operators, parameter count and opset."
        )

        @Argument(help: "The .onnx model file.")
        var path: String

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            try runReportingErrors("model inspect") {
                let path = resolveModelPath(self.path)
                let model = try Model(contentsOf: path)
                let summary = model.summary
                let blas = BLAS.coreSelection
                if self.json {
                    let object: [String: Any] = [
                        "path": path,
                        "producer": summary.producer,
                        "ir_version": summary.irVersion,
                        "opset": summary.opsetVersion,
                        "ml_opset": summary.mlOpsetVersion as Any? ?? NSNull(),
                        "parameters": summary.parameterCount,
                        "nodes": summary.nodeCount,
                        "planned_nodes": summary.plannedNodeCount,
                        "max_batch_size": model.maxBatchSize as Any? ?? NSNull(),
                        "operators": summary.operators,
                        "inputs": model.inputs.map { Self.json($0) },
                        "outputs": model.outputs.map { Self.json($0) },
                        "blas": [
                            "core": blas.core, "library_core": blas.libraryCore, "selection": blas.outcome.rawValue,
                            "cpu": blas.cpu.summary, "threads": BLAS.threadCount,
                        ] as [String: Any],
                    ]
                    let data = try JSONSerialization.data(
                        withJSONObject: object,
                        options: [.prettyPrinted, .sortedKeys]
                    )
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                print("model:      \(path)")
                if !summary.producer.isEmpty { print("producer:   \(summary.producer)") }
                let ml = summary.mlOpsetVersion.map { ", ai.onnx.ml \($0)" } ?? ""
                print("opset:      \(summary.opsetVersion)\(ml) (IR version \(summary.irVersion))")
                print("parameters: \(summary.parameterCount)")
                if let limit = model.maxBatchSize { print("max batch:  \(limit)") }
                print("inputs:")
                for input in model.inputs { print("  \(input.name)  \(input.dtype) \(input.shapeText)") }
                print("outputs:")
                for output in model.outputs { print("  \(output.name)  \(output.dtype) \(output.shapeText)") }
                print(
                    "operators:  \(summary.nodeCount) nodes, \(summary.plannedNodeCount) steps after fusion and folding"
                )
                for (op, count) in summary.operators.sorted(by: { $0.key < $1.key }) { print("  \(op) ×\(count)") }
                print("blas:       OpenBLAS core \(blas), \(BLAS.threadCount) thread(s)")
            }
        }

        private static func json(_ info: TensorInfo) -> [String: Any] {
            ["name": info.name, "dtype": info.dtype.name, "shape": info.dims.map { $0 ?? -1 }]
        }
    }

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an ONNX MLP (Gemm + Relu layers, softmax output) with seeded random weights."
        )

        @Option(name: .long, help: "Layer widths, input first, comma-separated (e.g. 784,512,512,10).")
        var layers: String

        @Option(name: .long, help: "The .onnx file to write.")
        var out: String

        @Option(name: .long, help: "Random seed; the same seed writes the same file.")
        var seed: UInt64 = 1

        func run() throws {
            try runReportingErrors("model synth") {
                let widths = self.layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard widths.allSatisfy({ $0 != nil }) else {
                    throw EngineError(.invalidInput, "--layers must be comma-separated integers, got '\(self.layers)'")
                }
                let bytes = try ModelSynthesizer(layers: widths.map { $0! }, seed: self.seed).serialized()
                do {
                    try Data(bytes).write(to: URL(fileURLWithPath: self.out), options: .atomic)
                } catch {
                    throw EngineError(.io, "\(self.out): cannot write: \(error)")
                }
                print("\(self.out): MLP \(self.layers), seed \(self.seed), \(bytes.count) bytes")
            }
        }
    }
}
