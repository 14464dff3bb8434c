public import SwitchyardTensor

/// One model's processing at a stage: its preprocessing or its postprocessing.
public protocol ModelPipeline: Sendable {
    /// Runs the steps on a request's tensors.
    /// - Throws: `PipelineError.invalidInput` saying what was expected.
    func apply(to tensors: [NamedTensor]) throws(PipelineError) -> [NamedTensor]
}

extension Preprocess: ModelPipeline {}
extension Postprocess: ModelPipeline {}
