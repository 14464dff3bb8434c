import ArgumentParser
import SwitchyardEngine
import SwitchyardTensor

/// `yard predict`: one model, NumPy files in, one NumPy file out.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an ONNX model on .npy inputs; write one output as .npy or print it.",
        discussion: """
            Inputs are NumPy .npy files (float32, float64, float16, int64, int32, int8, uint8, bool, or strings as
            NumPy's fixed-width unicode or bytes arrays, e.g. numpy.array(["red", "blue"]); C order; the first
            dimension is the batch). A numeric file whose dtype differs from the model input's is converted (float32
            to bfloat16 too, which NumPy has no type for). Without --output the output is printed, one row per line;
            with it the output is written as .npy (strings as unicode, bfloat16 as float32). On any error no output
            file is written, one line goes to standard error and the exit status is 1.
            """
    )

    @Option(name: .long, help: "The .onnx model file (or a repository model directory: its highest version).")
    var model: String

    @Option(name: .long, help: "An input .npy file; for a model with several inputs, NAME=FILE for each.")
    var input: [String]

    @Option(name: .long, help: "Where to write the output .npy (default: print it).")
    var output: String?

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
            guard let output = self.output else {
                for line in Self.rows(result.tensor) { print(line) }
                return
            }
            try NPY.write(result.tensor, to: output)
            print("\(output): \(result.name) \(result.tensor.dtype)\(result.tensor.shape)")
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
            let convertible: Set<DType> = [.float32, .float64, .float16, .bfloat16, .int64, .uint8, .int32, .int8]
            if tensor.dtype != info.dtype && convertible.contains(tensor.dtype) && convertible.contains(info.dtype) {
                tensor = try tensor.converted(to: info.dtype)
            }
            tensors.append(NamedTensor(file.name, tensor))
        }
        return tensors
    }

    /// The tensor as text: one line per row of the first dimension (a scalar is one line), values separated by
    /// spaces; strings as they are.
    static func rows(_ tensor: Tensor) -> [String] {
        let values: [String]
        switch tensor.dtype {
        case .bytes: values = (try? tensor.strings()) ?? []
        case .float32: values = ((try? tensor.scalars(as: Float.self)) ?? []).map { "\($0)" }
        case .float64: values = ((try? tensor.scalars(as: Double.self)) ?? []).map { "\($0)" }
        case .bool: values = ((try? tensor.scalars(as: Bool.self)) ?? []).map { $0 ? "1" : "0" }
        default:
            let widened = (try? tensor.converted(to: tensor.dtype.isWideningToFloat ? .float32 : .int64)) ?? tensor
            values = widened.dtype == .float32
                ? ((try? widened.scalars(as: Float.self)) ?? []).map { "\($0)" }
                : ((try? widened.scalars(as: Int64.self)) ?? []).map { "\($0)" }
        }
        let perRow = tensor.shape.rank == 0 ? 1 : max(1, tensor.elementCount / max(tensor.shape[0], 1))
        return stride(from: 0, to: values.count, by: perRow).map {
            values[$0..<min($0 + perRow, values.count)].joined(separator: " ")
        }
    }
}

extension DType {
    /// Half-precision types, printed through float32.
    fileprivate var isWideningToFloat: Bool { self == .float16 || self == .bfloat16 }
}
