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
        _ configuration: BatcherConfiguration,
        for stage: String,
        instances: [String: Int]
    ) -> BatcherConfiguration {
        var scaled = configuration
        scaled.maxBatchesInFlight *= max(1, instances[stage] ?? 1)
        scaled.idleBatchesInFlight *= max(1, instances[stage] ?? 1)
        return scaled
    }

    /// Every model's batchers; models learned from the fleet join while the router runs.
    private let table: Mutex<(stages: [String: Stages], running: Bool)>
    private var stages: [String: Stages] { self.table.withLock { $0.stages } }
    private let pinned = Mutex<[String: [String: Batcher<ContinuousClock>]]>([:])
    /// Each model's limits as given (per stage instance), changed by ``update(model:_:)``.
    private let configurations: Mutex<[String: BatcherConfiguration]>
    /// Instances per stage now (pools change while the router serves).
    private let instances: Mutex<[String: Int]>
    /// Batchers made after ``run()`` started are handed to it here.
    private let started:
        (
            stream: AsyncStream<Batcher<ContinuousClock>>,
            continuation: AsyncStream<Batcher<ContinuousClock>>.Continuation
        )
    private let preprocess: any Upstream
    private let inference: any Upstream
    private let postprocess: any Upstream
    private let logger: Logger
    /// Where batchers' tasks run: each model's on one of these, in turn (its pinned versions' on the same).
    private let executors: [any TaskExecutor]
    /// Models given an executor so far.
    private let placed = Atomic<Int>(0)

    /// Makes every model's batchers; nothing is sent until ``run()``.
    /// - Parameters:
    ///   - models: each model's batching limits.
    ///   - preprocess: the preprocess stage.
    ///   - inference: the inference stage.
    ///   - postprocess: the postprocess stage.
    ///   - instances: instances per stage: a model's `maxBatchesInFlight` is per instance.
    ///   - logger: for batch decisions.
    ///   - executors: where the batchers' tasks run, one per model in turn; empty: the global executor.
    init(
        models: [String: BatcherConfiguration],
        preprocess: any Upstream,
        inference: any Upstream,
        postprocess: any Upstream,
        instances: [String: Int],
        logger: Logger,
        executors: [any TaskExecutor]
    ) {
        self.executors = executors
        self.table = Mutex(([:], false))
        self.preprocess = preprocess
        self.postprocess = postprocess
        self.configurations = Mutex(models)
        self.instances = Mutex(instances)
        self.started = AsyncStream.makeStream()
        self.inference = inference
        self.logger = logger
        let made = models.keys.sorted().reduce(into: [String: Stages]()) { stages, model in
            stages[model] = Self.make(
                model: model,
                configuration: models[model]!,
                preprocess: preprocess,
                inference: inference,
                postprocess: postprocess,
                instances: instances,
                logger: logger,
                executor: self.nextExecutor()
            )
        }
        self.table.withLock { $0.stages = made }
    }

    /// The executor for the next model: the event loops in turn.
    private func nextExecutor() -> (any TaskExecutor)? {
        guard !self.executors.isEmpty else { return nil }
        let index = self.placed.wrappingAdd(1, ordering: .relaxed).oldValue
        return self.executors[index % self.executors.count]
    }

    /// The models, sorted.
    var models: [String] { self.stages.keys.sorted() }

    /// Requests waiting in every batch queue (pinned versions' included).
    var queuedRequests: Int {
        let pinned = self.pinned.withLock { $0.values.flatMap(\.values) }
        let all = self.stages.values.flatMap { [$0.preprocess, $0.inference, $0.postprocess] } + pinned
        return all.reduce(0) { $0 + $1.statistics.queuedRequests }
    }

    /// A model's batchers, or `nil` for a model the router does not serve.
    subscript(model: String) -> Stages? { self.table.withLock { $0.stages[model] } }

    private static func make(
        model: String,
        configuration: BatcherConfiguration,
        preprocess: any Upstream,
        inference: any Upstream,
        postprocess: any Upstream,
        instances: [String: Int],
        logger: Logger,
        executor: (any TaskExecutor)?
    ) -> Stages {
        func batcher(_ stage: String, _ upstream: any Upstream) -> Batcher<ContinuousClock> {
            Batcher(
                upstream: upstream,
                configuration: Self.scaled(configuration, for: stage, instances: instances),
                logger: logger,
                metricDimensions: [("model", model), ("stage", stage)],
                executor: executor
            )
        }
        return Stages(
            preprocess: batcher("preprocess", preprocess),
            inference: batcher("inference", inference),
            postprocess: batcher("postprocess", postprocess)
        )
    }

    /// A model's batchers, made now if the router does not have them yet (a model learned from the fleet).
    /// - Returns: `nil` after shutdown began.
    func learn(model: String, configuration: BatcherConfiguration) -> Stages? {
        self.pinned.withLock { _ in
            let instances = self.instances.withLock { $0 }
            return self.table.withLock { table -> Stages? in
                if let existing = table.stages[model] { return existing }
                let made = Self.make(
                    model: model,
                    configuration: configuration,
                    preprocess: self.preprocess,
                    inference: self.inference,
                    postprocess: self.postprocess,
                    instances: instances,
                    logger: self.logger,
                    executor: self.nextExecutor()
                )
                // before run() starts, it takes the table as it is; after, it is handed the new batchers
                if table.running {
                    for batcher in [made.preprocess, made.inference, made.postprocess] {
                        if case .terminated = self.started.continuation.yield(batcher) { return nil }
                    }
                }
                table.stages[model] = made
                self.configurations.withLock { $0[model] = configuration }
                return made
            }
        }
    }

    /// Runs the batchers (those made later too) until cancelled.
    func run() async {
        let initial = self.table.withLock { table in
            table.running = true
            return table.stages
        }
        await withDiscardingTaskGroup { group in
            for stages in initial.values {
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
            self.apply(configuration, to: stages, pinned: pinned[model] ?? [:])
            return configuration
        }
    }

    /// The pinned versions of `model` that have a batcher, sorted.
    func pinnedVersions(of model: String) -> [String] { self.pinned.withLock { ($0[model] ?? [:]).keys.sorted() } }

    /// A stage's instance count changed: every model's batches in flight toward it follow.
    func setInstances(stage: String, count: Int) {
        let changed = self.instances.withLock { instances in
            defer { instances[stage] = count }
            return instances[stage] != count
        }
        guard changed else { return }
        self.pinned.withLock { pinned in
            for (model, stages) in self.stages {
                guard let configuration = self.configurations.withLock({ $0[model] }) else { continue }
                self.apply(configuration, to: stages, pinned: pinned[model] ?? [:])
            }
        }
    }

    private func apply(
        _ configuration: BatcherConfiguration,
        to stages: Stages,
        pinned: [String: Batcher<ContinuousClock>]
    ) {
        let instances = self.instances.withLock { $0 }
        for (stage, batcher) in [
            ("preprocess", stages.preprocess), ("inference", stages.inference), ("postprocess", stages.postprocess),
        ] {
            batcher.updateConfiguration(Self.scaled(configuration, for: stage, instances: instances))
        }
        for batcher in pinned.values {
            batcher.updateConfiguration(Self.scaled(configuration, for: "inference", instances: instances))
        }
    }

    /// The inference batcher of a pinned version if it was made already.
    func existingInference(model: String, version: String) -> Batcher<ContinuousClock>? {
        self.pinned.withLock { $0[model]?[version] }
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
                configuration: Self.scaled(configuration, for: "inference", instances: self.instances.withLock { $0 }),
                logger: self.logger,
                metricDimensions: [("model", model), ("stage", "inference"), ("version", version)],
                executor: stages.inference.executor
            )
            // after shutdown began nobody runs it: go unbatched
            if case .terminated = self.started.continuation.yield(batcher) { return nil }
            pinned[model, default: [:]][version] = batcher
            return batcher
        }
    }
}
