import Logging
public import SwitchyardEngine
public import SwitchyardPipeline
import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// A pipeline stage: runs each model's `pipeline.preprocess` or `pipeline.postprocess` steps from the model
/// repository's configs. Preprocessing also checks the result against the model's declared `inputs` and converts
/// it to the declared dtypes; postprocessing does softmax, top-k with labels, argmax and threshold.
///
/// Methods: the stage's name (`preprocess` or `postprocess`) with the model's name in `model`, and `health`.
/// A request that does not fit is answered `invalid argument` with what was expected. Pipelines are read at
/// start; a broken one stops the service from starting, with the model and the key named.
public final class PipelineService: WireService {
    private let stage: String
    private let pipelines: [String: any ModelPipeline]

    /// Makes a stage from pipelines by model name.
    /// - Parameters:
    ///   - stage: the method this stage answers (`preprocess` or `postprocess`).
    ///   - pipelines: each model's pipeline.
    public init(stage: String, pipelines: [String: any ModelPipeline]) {
        self.stage = stage
        self.pipelines = pipelines
    }

    /// The preprocess stage of a model repository (only its configs are read).
    /// - Throws: `PipelineError` or `EngineError` naming the model whose config is wrong.
    public static func preprocess(repository: ModelRepository) throws -> PipelineService {
        PipelineService(stage: "preprocess", pipelines: try repository.pipelines { config throws(PipelineError) in
            let inputs = (config.inputs ?? []).map { spec in
                Preprocess.Input(name: spec.name, dtype: spec.dtype ?? .float32, shape: (spec.shape ?? []).map { $0 < 0 ? nil : $0 })
            }
            return try Preprocess(pipelineJSON: config.pipelineJSON, inputs: inputs)
        })
    }

    /// The postprocess stage of a model repository (only its configs are read).
    /// - Throws: `PipelineError` or `EngineError` naming the model whose config is wrong.
    public static func postprocess(repository: ModelRepository) throws -> PipelineService {
        PipelineService(stage: "postprocess", pipelines: try repository.pipelines { config throws(PipelineError) in
            try Postprocess(pipelineJSON: config.pipelineJSON, labels: config.labels)
        })
    }

    /// The models this stage knows.
    public var models: [String] { self.pipelines.keys.sorted() }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case self.stage:
            guard let pipeline = self.pipelines[request.model] else {
                throw Status(.notFound, "no \(self.stage)ing for model '\(request.model)' (known: \(self.models.joined(separator: ", ")))")
            }
            return Response(tensors: try pipeline.apply(to: request.tensors))
        case "health":
            return Response(parameters: [Parameter("status", "serving")])
        default:
            throw Status(.notFound, "unknown method '\(request.method)'; the \(self.stage) service answers \(self.stage) and health")
        }
    }
}

extension PipelineError: StatusConvertible {
    /// Bad inputs are `invalid argument`; a broken pipeline config is a `failed precondition`.
    public var status: Status {
        self.code == .invalidInput ? Status(.invalidArgument, self.message) : Status(.failedPrecondition, self.message)
    }
}

extension ModelRepository {
    /// Builds one pipeline per model from the repository's configs (no model is loaded).
    /// - Parameter make: builds a model's pipeline from its config.
    /// - Throws: `PipelineError.invalidConfig` naming the model whose config or pipeline is wrong.
    func pipelines(_ make: (ModelConfig) throws(PipelineError) -> any ModelPipeline) throws -> [String: any ModelPipeline] {
        let (entries, failures) = try self.scan()
        if let (name, error) = failures.first { throw PipelineError(.invalidConfig, "model '\(name)': \(error.message)") }
        var pipelines: [String: any ModelPipeline] = [:]
        for entry in entries {
            do {
                pipelines[entry.name] = try make(entry.config)
            } catch {
                throw PipelineError(.invalidConfig, "model '\(entry.name)': \(error.message)")
            }
        }
        return pipelines
    }
}
