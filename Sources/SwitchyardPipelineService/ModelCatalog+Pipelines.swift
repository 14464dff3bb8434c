import SwitchyardModelConfig
import SwitchyardPipeline

extension ModelCatalog {
    /// Builds one pipeline per model from the catalog's configs (no model is loaded).
    /// - Parameter make: builds a model's pipeline from its config.
    /// - Throws: `PipelineError.invalidConfig` naming the model whose config or pipeline is wrong.
    func pipelines(
        _ make: (ModelConfig) throws(PipelineError) -> any ModelPipeline
    ) throws(PipelineError) -> [String: any ModelPipeline] {
        if let (name, error) = self.failures.first {
            throw PipelineError(.invalidConfig, "model '\(name)': \(error.message)")
        }
        var pipelines: [String: any ModelPipeline] = [:]
        for entry in self.entries {
            do {
                pipelines[entry.name] = try make(entry.config)
            } catch {
                throw PipelineError(.invalidConfig, "model '\(entry.name)': \(error.message)")
            }
        }
        return pipelines
    }

    /// Each model's config by name (the last of two directories naming the same model, as ``pipelines(_:)``).
    var configs: [String: ModelConfig] {
        Dictionary(self.entries.map { ($0.name, $0.config) }, uniquingKeysWith: { _, last in last })
    }
}
