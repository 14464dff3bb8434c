import Logging
public import SwitchyardEngine
public import SwitchyardPipeline
import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// The postprocess stage: applies each model's `pipeline.postprocess` steps (softmax, top-k with labels,
/// argmax, threshold) to the inference stage's outputs.
///
/// Method `postprocess` with the model's name in `model` and the inference outputs as tensors; `health`.
/// Pipelines are read from the model repository's `config.json` files at start; a broken one stops the
/// service from starting, with the model and the key named.
public final class PostprocessService: WireService {
    private let pipelines: [String: Postprocess]

    /// Makes the service from pipelines by model name.
    /// - Parameter pipelines: each model's postprocessing.
    public init(pipelines: [String: Postprocess]) {
        self.pipelines = pipelines
    }

    /// Reads every model's postprocessing from a model repository's configs.
    /// - Parameter repository: the repository (only its configs are read; no model is loaded).
    /// - Throws: `PipelineError` or `EngineError` naming the model whose config is wrong.
    public convenience init(repository: ModelRepository) throws {
        self.init(pipelines: try repository.pipelines { config throws(PipelineError) in
            try Postprocess(pipelineJSON: config.pipelineJSON, labels: config.labels)
        })
    }

    /// The models this service knows.
    public var models: [String] { self.pipelines.keys.sorted() }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case "postprocess":
            guard let pipeline = self.pipelines[request.model] else {
                throw Status(.notFound, "no postprocessing for model '\(request.model)' (known: \(self.models.joined(separator: ", ")))")
            }
            return Response(parameters: request.parameters.filter { $0.key == "model.version" }, tensors: try pipeline.apply(to: request.tensors))
        case "health":
            return Response(parameters: [Parameter("status", "serving")])
        default:
            throw Status(.notFound, "unknown method '\(request.method)'; the postprocess service answers postprocess and health")
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
    func pipelines<P>(_ make: (ModelConfig) throws(PipelineError) -> P) throws -> [String: P] {
        let (entries, failures) = try self.scan()
        if let (name, error) = failures.first { throw PipelineError(.invalidConfig, "model '\(name)': \(error.message)") }
        var pipelines: [String: P] = [:]
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
