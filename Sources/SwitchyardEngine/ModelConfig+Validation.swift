public import SwitchyardModelConfig

extension ModelConfig {
    /// Checks `inputs`, `outputs` and `labels` against a loaded model.
    /// - Parameters:
    ///   - model: the model the config describes.
    ///   - source: a name for messages.
    /// - Throws: `EngineError.invalidConfig` naming the tensor and what differs.
    public func validate(against model: Model, source: String) throws(EngineError) {
        func check(_ specs: [TensorSpec]?, _ actual: [TensorInfo], _ kind: String) throws(EngineError) {
            for spec in specs ?? [] {
                guard let info = actual.first(where: { $0.name == spec.name }) else {
                    throw EngineError(
                        .invalidConfig,
                        "\(source): \(kind) '\(spec.name)' is not in the model (\(kind)s: \(actual.map(\.name).joined(separator: ", ")))"
                    )
                }
                if let dtype = spec.dtype, dtype != info.dtype {
                    throw EngineError(
                        .invalidConfig,
                        "\(source): \(kind) '\(spec.name)' is \(info.dtype) in the model, \(dtype) in the config"
                    )
                }
                if let shape = spec.shape {
                    let agrees =
                        shape.count == info.dims.count
                        && zip(shape, info.dims).allSatisfy { config, model in
                            config == -1 ? true : model == nil || model == config
                        }
                    guard agrees else {
                        throw EngineError(
                            .invalidConfig,
                            "\(source): \(kind) '\(spec.name)' is \(info.shapeText) in the model, \(shape) in the config"
                        )
                    }
                }
            }
        }
        try check(self.inputs, model.inputs, "input")
        try check(self.outputs, model.outputs, "output")
        if let labels = self.labels {
            let widths = model.outputs.compactMap { $0.dims.last ?? nil }
            guard widths.contains(labels.count) else {
                throw EngineError(
                    .invalidConfig,
                    "\(source): \(labels.count) labels, but no output has \(labels.count) columns (\(widths))"
                )
            }
        }
    }
}
