import ArgumentParser
import SwitchyardEngine
import SwitchyardTensor

/// `yard predict`: one model, NumPy files in, one NumPy file out.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an ONNX model on .npy inputs and write one output as .npy.",
        discussion: """
            Inputs are NumPy .npy files (float32, float64, int64 or uint8; C order; the first dimension is the
            batch). A file whose dtype differs from the model input's is converted. On any error no output file
            is written, one line goes to standard error and the exit status is 1.
            """
    )

    @Option(name: .long, help: "The .onnx model file (or a repository model directory: its highest version).")
    var model: String

    @Option(name: .long, help: "An input .npy file; for a model with several inputs, NAME=FILE for each.")
    var input: [String]

    @Option(name: .long, help: "Where to write the output .npy.")
    var output: String

    @Option(name: .customLong("output-name"), help: "The graph output to write (default: the first).")
    var outputName: String?

    @Option(name: .long, help: "OpenBLAS threads (default: OpenBLAS's own choice).")
    var threads: Int?

    func run() throws {
        try runReportingErrors("predict") {
            if let threads { BLAS.setThreadCount(threads) }
            let model = try Model(contentsOf: resolveModelPath(self.model))
            let inputs = try self.readInputs(for: model)
            let name = self.outputName ?? model.outputs[0].name
            guard model.outputs.contains(where: { $0.name == name }) else {
                throw EngineError(
                    .notFound,
                    "the model has no output '\(name)' (outputs: \(model.outputs.map(\.name).joined(separator: ", ")))")
            }
            let result = try model.run(inputs, outputNames: [name])[0]
            try NPY.write(result.tensor, to: self.output)
            print("\(self.output): \(result.name) \(result.tensor.dtype)\(result.tensor.shape)")
        }
    }

    private func readInputs(for model: Model) throws -> [NamedTensor] {
        var files: [(name: String, path: String)] = []
        for argument in self.input {
            if let equals = argument.firstIndex(of: "="),
                model.inputs.contains(where: { $0.name == String(argument[..<equals]) })
            {
                files.append((String(argument[..<equals]), String(argument[argument.index(after: equals)...])))
            } else if self.input.count == 1 && model.inputs.count == 1 {
                files.append((model.inputs[0].name, argument))
            } else {
                let names = model.inputs.map(\.name).joined(separator: ", ")
                throw EngineError(
                    .invalidInput, "give each input as NAME=FILE (model inputs: \(names)); got '\(argument)'")
            }
        }
        var tensors: [NamedTensor] = []
        for file in files {
            let info = model.inputs.first { $0.name == file.name }!
            var tensor = try NPY.read(file.path)
            let convertible: Set<DType> = [.float32, .float64, .int64, .uint8, .int32, .int8]
            if tensor.dtype != info.dtype && convertible.contains(tensor.dtype) && convertible.contains(info.dtype) {
                tensor = try tensor.converted(to: info.dtype)
            }
            tensors.append(NamedTensor(file.name, tensor))
        }
        return tensors
    }
}
