import Logging
import Synchronization
import SwitchyardModelConfig
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
/// start; a broken one stops the service from starting, with the model and the key named. ``reload(root:)`` reads
/// them again while serving (a model added to the repository, on SIGHUP or a poll); a broken one is refused then and
/// the running pipelines stay.
public final class PipelineService: WireService {
    private let stage: String
    private let table: Mutex<[String: any ModelPipeline]>
    private var pipelines: [String: any ModelPipeline] { self.table.withLock { $0 } }
    /// The configs the pipelines were made from, by model name: what a reload compares to tell a changed pipeline.
    private let configs: Mutex<[String: ModelConfig]>
    /// What a reload's image steps may decode.
    private let pixelLimits: PixelBudget

    /// Makes a stage from pipelines by model name.
    /// - Parameters:
    ///   - stage: the method this stage answers (`Method.preprocess` or `Method.postprocess`).
    ///   - pipelines: each model's pipeline.
    ///   - pixelLimits: what image steps of pipelines read again by ``reload(root:)`` may decode.
    public convenience init(stage: String, pipelines: [String: any ModelPipeline], pixelLimits: PixelBudget = .defaults)
    {
        self.init(stage: stage, pipelines: pipelines, configs: [:], pixelLimits: pixelLimits)
    }

    private init(
        stage: String,
        pipelines: [String: any ModelPipeline],
        configs: [String: ModelConfig],
        pixelLimits: PixelBudget
    ) {
        self.stage = stage
        self.table = Mutex(pipelines)
        self.configs = Mutex(configs)
        self.pixelLimits = pixelLimits
    }

    /// What a reload changed, by model name.
    public struct ReloadOutcome: Sendable, Equatable {
        /// Models that have a pipeline now and had none before.
        public var added: [String]
        /// Models that had a pipeline before and have none now.
        public var removed: [String]
        /// Models whose config changed.
        public var changed: [String]
        /// Whether anything changed.
        public var isEmpty: Bool { self.added.isEmpty && self.removed.isEmpty && self.changed.isEmpty }
    }

    /// Reads the repository's pipelines again and uses them from now on.
    /// - Parameter root: the model repository's directory.
    /// - Returns: the models added, removed and changed.
    /// - Throws: as ``preprocess(root:)``; the running pipelines stay then.
    @discardableResult
    public func reload(root: String) throws -> ReloadOutcome {
        let fresh =
            self.stage == Method.preprocess
            ? try Self.preprocess(root: root, pixelLimits: self.pixelLimits) : try Self.postprocess(root: root)
        let next = fresh.pipelines
        let nextConfigs = fresh.configs.withLock { $0 }
        // one lock held over both swaps so that concurrent reloads (a poll and SIGHUP) see consistent pairs
        let before = self.configs.withLock { configs in
            self.table.withLock { $0 = next }
            defer { configs = nextConfigs }
            return configs
        }
        let known = Set(before.keys)
        return ReloadOutcome(
            added: Set(nextConfigs.keys).subtracting(known).sorted(),
            removed: known.subtracting(nextConfigs.keys).sorted(),
            changed: nextConfigs.compactMap { name, config in
                before[name].map { $0 == config ? nil : name } ?? nil
            }.sorted()
        )
    }

    /// The preprocess stage of a model repository (only its configs are read).
    /// - Parameters:
    ///   - root: the model repository's directory.
    ///   - pixelLimits: the pixels an image step decodes per image and per request.
    /// - Throws: `PipelineError` naming the model whose config is wrong; `ModelConfigError` when the repository
    ///   cannot be listed.
    public static func preprocess(root: String, pixelLimits: PixelBudget = .defaults) throws -> PipelineService {
        let catalog = try ModelCatalog(root: root)
        return PipelineService(
            stage: Method.preprocess,
            pipelines: try catalog.pipelines { config throws(PipelineError) in
                let inputs = (config.inputs ?? []).map { spec in
                    Preprocess.Input(
                        name: spec.name,
                        dtype: spec.dtype ?? .float32,
                        shape: (spec.shape ?? []).map { $0 < 0 ? nil : $0 }
                    )
                }
                var preprocess = try Preprocess(pipelineJSON: config.pipelineJSON, inputs: inputs)
                preprocess.pixelLimits = pixelLimits
                return preprocess
            },
            configs: catalog.configs,
            pixelLimits: pixelLimits
        )
    }

    /// The postprocess stage of a model repository (only its configs are read).
    /// - Parameter root: the model repository's directory.
    /// - Throws: `PipelineError` naming the model whose config is wrong; `ModelConfigError` when the repository
    ///   cannot be listed.
    public static func postprocess(root: String) throws -> PipelineService {
        let catalog = try ModelCatalog(root: root)
        return PipelineService(
            stage: Method.postprocess,
            pipelines: try catalog.pipelines { config throws(PipelineError) in
                try Postprocess(pipelineJSON: config.pipelineJSON, labels: config.labels)
            },
            configs: catalog.configs,
            pixelLimits: .defaults
        )
    }

    /// The models this stage knows.
    public var models: [String] { self.pipelines.keys.sorted() }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case self.stage:
            guard let pipeline = self.pipelines[request.model] else {
                throw PipelineServiceError(
                    .unknownModel,
                    "no \(self.stage)ing for model '\(request.model)' (known: \(self.models.joined(separator: ", ")))"
                )
            }
            // image decoding and resizing run on the global executor, never on the connection's event loop, so that
            // one large image does not hold up every other request on the loop
            if (pipeline as? Preprocess)?.hasImageStep ?? false {
                return try await withTaskExecutorPreference(globalConcurrentExecutor) {
                    Response(tensors: try pipeline.apply(to: request.tensors))
                }
            }
            return Response(tensors: try pipeline.apply(to: request.tensors))
        case Method.health:
            return Response(parameters: [Parameter(ParameterKey.status, "serving")])
        default:
            throw PipelineServiceError(
                .unknownMethod,
                "unknown method '\(request.method)'; the \(self.stage) service answers \(self.stage) and health"
            )
        }
    }
}
