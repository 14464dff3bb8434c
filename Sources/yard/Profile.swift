import ArgumentParser
import Foundation
import SwitchyardEngine
import SwitchyardMonitor
import SwitchyardTensor

/// `yard profile`: the reference profile the monitor compares live inputs and predictions with (drift).
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model version's drift profile (per-feature histograms, predicted classes) beside its model.",
        discussion: """
            Runs the model on the data (a .npy of rows, e.g. the training set) and writes profile.json next to the
            version's model.onnx: per input feature, the share of rows in each of up to --bins bins cut at the data's
            quantiles; and the share of rows predicted as each class. The monitor reads it at start and reports PSI
            per feature and of the predicted classes for that model version.
            """
    )

    @Option(
        help: "The model: a version directory, a repository model directory (its highest version) or its model.onnx."
    )
    var model: String
    @Option(help: "The reference rows, a .npy file (rows × features).") var data: String
    @Option(help: "Bins per feature, at most.") var bins = 10
    @Option(help: "Where to write the profile. (default: profile.json beside model.onnx)") var output: String?

    func validate() throws {
        guard (2...100).contains(self.bins) else { throw ValidationError("--bins must be 2...100") }
    }

    func run() throws {
        try runReportingErrors("profile") {
            let path = resolveModelPath(self.model)
            let versionDirectory = URL(fileURLWithPath: path).deletingLastPathComponent()
            let version = versionDirectory.lastPathComponent
            let name = versionDirectory.deletingLastPathComponent().lastPathComponent
            let model = try Model(contentsOf: path)
            guard model.inputs.count == 1 else {
                throw EngineError(.invalidInput, "profiles are made for models with one input")
            }
            var data = try NPY.read(self.data)
            if data.dtype != model.inputs[0].dtype { data = try data.converted(to: model.inputs[0].dtype) }
            let rows = data.shape.dims.first ?? 0
            guard rows > 0 else { throw EngineError(.invalidInput, "\(self.data) has no rows") }
            let outputs = try model.run([NamedTensor(model.inputs[0].name, data)])
            guard let classes = Self.classes(outputs, rows: rows) else {
                throw EngineError(
                    .invalidInput,
                    "the model has no label output and no score output with one row per input row"
                )
            }
            let features = data.shape.dims.dropFirst().reduce(1, *)
            let values = try data.converted(to: .float32).scalars(as: Float.self)
            let profile = try DriftProfile(
                model: name,
                version: version,
                inputs: values,
                features: features,
                classes: classes,
                bins: self.bins
            )
            let output = self.output ?? versionDirectory.appendingPathComponent(DriftProfile.fileName).path
            try profile.write(to: output)
            let spread = profile.classes.enumerated().filter { $0.element > 0 }.map {
                "\($0.offset): \(String(format: "%.3f", $0.element))"
            }
            print(
                "\(output): \(name) version \(version), \(rows) rows × \(features) features; predicted classes \(spread.joined(separator: ", "))"
            )
        }
    }

    /// The predicted class per row: an integer output with one value per row, else the largest score of each row.
    static func classes(_ outputs: [NamedTensor], rows: Int) -> [Int64]? {
        if let label = outputs.first(where: {
            ($0.tensor.dtype == .int64 || $0.tensor.dtype == .int32) && $0.tensor.elementCount == rows
        }) {
            return try? label.tensor.converted(to: .int64).scalars(as: Int64.self)
        }
        guard let scores = outputs.first(where: { $0.tensor.dtype == .float32 && $0.tensor.shape.dims.first == rows }),
            let values = try? scores.tensor.scalars(as: Float.self), values.count % rows == 0
        else { return nil }
        let width = values.count / rows
        return (0..<rows).map { row in
            let slice = values[(row * width)..<((row + 1) * width)]
            return Int64(slice.indices.max { slice[$0] < slice[$1] }! - row * width)
        }
    }
}
