import Logging
public import SwitchyardEngine
public import SwitchyardPipeline
import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// The preprocess stage: runs each model's `pipeline.preprocess` steps on a request's tensors and checks the
/// result against the model's declared `inputs`, converting to the declared dtypes.
///
/// Method `preprocess` with the model's name in `model`; `health`. A request that does not fit is answered
/// `invalid argument` with what was expected.
public final class PreprocessService: WireService {
    private let pipelines: [String: Preprocess]

    /// Makes the service from pipelines by model name.
    /// - Parameter pipelines: each model's preprocessing.
    public init(pipelines: [String: Preprocess]) {
        self.pipelines = pipelines
    }

    /// Reads every model's preprocessing and declared inputs from a model repository's configs.
    /// - Parameter repository: the repository (only its configs are read).
    /// - Throws: `PipelineError` or `EngineError` naming the model whose config is wrong.
    public convenience init(repository: ModelRepository) throws {
        self.init(pipelines: try repository.pipelines { config throws(PipelineError) in
            var inputs: [Preprocess.Input] = []
            for spec in config.inputs ?? [] {
                inputs.append(Preprocess.Input(name: spec.name, dtype: spec.dtype ?? .float32, shape: (spec.shape ?? []).map { $0 < 0 ? nil : $0 }))
            }
            return try Preprocess(pipelineJSON: config.pipelineJSON, inputs: inputs)
        })
    }

    /// The models this service knows.
    public var models: [String] { self.pipelines.keys.sorted() }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case "preprocess":
            guard let pipeline = self.pipelines[request.model] else {
                throw Status(.notFound, "no preprocessing for model '\(request.model)' (known: \(self.models.joined(separator: ", ")))")
            }
            return Response(tensors: try pipeline.apply(to: request.tensors))
        case "health":
            return Response(parameters: [Parameter("status", "serving")])
        default:
            throw Status(.notFound, "unknown method '\(request.method)'; the preprocess service answers preprocess and health")
        }
    }
}
