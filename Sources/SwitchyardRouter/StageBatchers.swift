import Logging
import SwitchyardRouting
internal import Synchronization
import SwitchyardWire

/// The router's batching driver: for every model one ``Batcher`` toward each stage (preprocess, inference,
/// postprocess), plus inference batchers for pinned versions, made on first use; ``run()`` runs them all.
///
/// Inference batches hold one (model, version): requests that name no version share the model's batcher (the
/// inference service picks its newest ready version), and each pinned version gets its own, up to
/// ``maxPinnedVersions`` per model; beyond that requests go unbatched, because any caller can name a version.
final class StageBatchers: Sendable {
    /// Most versions per model that get their own inference batcher when pinned.
    static let maxPinnedVersions = 8

    /// One model's batchers.
    struct Stages: Sendable {
        var preprocess: Batcher<ContinuousClock>
        /// For requests that name no version.
        var inference: Batcher<ContinuousClock>
        var postprocess: Batcher<ContinuousClock>
    }

    /// A model's limits for one stage: batches in flight are per instance, so a stage scaled out gets more.
    private static func scaled(
        _ configuration: BatcherConfiguration, for stage: String, instances: [String: Int]
    ) -> BatcherConfiguration {
        var scaled = configuration
        scaled.maxBatchesInFlight *= max(1, instances[stage] ?? 1)
        scaled.idleBatchesInFlight *= max(1, instances[stage] ?? 1)
        return scaled
    }

    private let stages: [String: Stages]
    private let pinned = Mutex<[String: [String: Batcher<ContinuousClock>]]>([:])
    /// Each model's limits as given (per stage instance), changed by ``update(model:_:)``.
    private let configurations: Mutex<[String: BatcherConfiguration]>
    private let instances: [String: Int]
    /// Batchers made after ``run()`` started are handed to it here.
    private let started: (
        stream: AsyncStream<Batcher<ContinuousClock>>, continuation: AsyncStream<Batcher<ContinuousClock>>.Continuation
    )
    private let inference: any Upstream
    private let logger: Logger
    private let executor: (any TaskExecutor)?

    /// Makes every model's batchers; nothing is sent until ``run()``.
    /// - Parameters:
    ///   - models: each model's batching limits.
    ///   - preprocess: the preprocess stage.
    ///   - inference: the inference stage.
    ///   - postprocess: the postprocess stage.
    ///   - instances: instances per stage: a model's `maxBatchesInFlight` is per instance.
    ///   - logger: for batch decisions.
    ///   - executor: where the batchers' tasks run; `nil`: the global executor.
    init(
        models: [String: BatcherConfiguration], preprocess: any Upstream, inference: any Upstream,
        postprocess: any Upstream, instances: [String: Int], logger: Logger, executor: (any TaskExecutor)?
    ) {
        self.stages = models.reduce(into: [:]) { stages, entry in
            let (model, configuration) = entry
            func batcher(_ stage: String, _ upstream: any Upstream) -> Batcher<ContinuousClock> {
                Batcher(
                    upstream: upstream, configuration: Self.scaled(configuration, for: stage, instances: instances),
                    logger: logger, metricDimensions: [("model", model), ("stage", stage)], executor: executor
                )
            }
            stages[model] = Stages(
                preprocess: batcher("preprocess", preprocess), inference: batcher("inference", inference),
                postprocess: batcher("postprocess", postprocess)
            )
        }
        self.configurations = Mutex(models)
        self.instances = instances
        self.started = AsyncStream.makeStream()
        self.inference = inference
        self.logger = logger
        self.executor = executor
    }

    /// The models, sorted.
    var models: [String] { self.stages.keys.sorted() }

    /// A model's batchers, or `nil` for a model the router does not serve.
    subscript(model: String) -> Stages? { self.stages[model] }

    /// Runs the batchers (those made later too) until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            for stages in self.stages.values {
                for batcher in [stages.preprocess, stages.inference, stages.postprocess] {
                    group.addTask { await batcher.run() }
                }
            }
            for await batcher in self.started.stream {
                group.addTask { await batcher.run() }
            }
            self.started.continuation.finish()
        }
    }

    /// A model's limits as given (per stage instance), or `nil` for a model the router does not serve.
    func configuration(of model: String) -> BatcherConfiguration? {
        self.configurations.withLock { $0[model] }
    }

    /// Changes a model's limits on every stage's batcher (the pinned versions' too) while they run; requests
    /// already queued stay queued.
    /// - Returns: the limits now, or `nil` for a model the router does not serve.
    func update(model: String, _ change: (inout BatcherConfiguration) -> Void) -> BatcherConfiguration? {
        guard let stages = self.stages[model] else { return nil }
        // under the pinned lock: a pinned batcher made meanwhile starts with the new limits
        return self.pinned.withLock { pinned in
            let configuration = self.configurations.withLock { configurations in
                change(&configurations[model, default: BatcherConfiguration()])
                return configurations[model]!
            }
            for (stage, batcher) in [
                ("preprocess", stages.preprocess), ("inference", stages.inference), ("postprocess", stages.postprocess),
            ] {
                batcher.updateConfiguration(Self.scaled(configuration, for: stage, instances: self.instances))
            }
            for batcher in (pinned[model] ?? [:]).values {
                batcher.updateConfiguration(Self.scaled(configuration, for: "inference", instances: self.instances))
            }
            return configuration
        }
    }

    /// The inference batcher for a pinned version, made on first use; `nil` past the bound or after shutdown.
    func inference(model: String, version: String, stages: Stages) -> Batcher<ContinuousClock>? {
        self.pinned.withLock { pinned in
            if let batcher = pinned[model]?[version] { return batcher }
            guard pinned[model, default: [:]].count < Self.maxPinnedVersions,
                let configuration = self.configurations.withLock({ $0[model] })
            else { return nil }
            let batcher = Batcher(
                upstream: self.inference,
                configuration: Self.scaled(configuration, for: "inference", instances: self.instances), logger: self.logger,
                metricDimensions: [("model", model), ("stage", "inference"), ("version", version)],
                executor: self.executor
            )
            // after shutdown began nobody runs it: go unbatched
            if case .terminated = self.started.continuation.yield(batcher) { return nil }
            pinned[model, default: [:]][version] = batcher
            return batcher
        }
    }
}
