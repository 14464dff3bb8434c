public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
public import SwitchyardTransport
public import SwitchyardWire
import SwitchyardTensor
import SwitchyardTracing

/// The router: carries each `infer` request through preprocess → inference → postprocess, each hop through
/// the model's dynamic batcher for that stage, with the caller's deadline on every hop and cancellation passed on.
///
/// Run it as a `Service` (it runs the batchers) beside the `WireServer` that serves it; put it before the
/// server in the `ServiceGroup`, so that on shutdown the server drains first and the batchers stop after.
/// Inference batches hold one (model, version): requests that pin a version get that version's batcher, made on
/// first use for a version a healthy inference instance serves (up to ``maxPinnedVersions`` per model; other
/// requests go unbatched). A request whose batch
/// failed with `invalid argument` is tried again alone, so one bad request does not fail its batch-mates. A request's
/// `priority` goes with it to every stage and orders the batch queues (more urgent first; the least urgent shed
/// first when a queue is full).
public final class RouterService: WireService, Service {
    /// Most versions per model that get their own inference batcher when pinned; a bound, because any caller
    /// can name a version.
    public static let maxPinnedVersions = StageBatchers.maxPinnedVersions

    let batchers: StageBatchers
    private let preprocess: any Upstream
    private let inference: any Upstream
    private let postprocess: any Upstream
    private let health: HealthChecker?
    /// Which version answers, canary rollouts and their measurements.
    public let releases: ReleaseController?
    let logger: Logger
    private let sampler: InputSampler?
    /// The stage pools' discovery and administration (`pool.*`); `nil` when the stages are fixed.
    let stagePools: StagePools?
    /// The batching of models learned from the fleet (before each model's own limits); `nil`: only `models`.
    private let learning: BatcherConfiguration?

    /// Makes a router.
    /// - Parameters:
    ///   - models: the models served, each with its batcher's limits.
    ///   - preprocess: the preprocess stage (an instance or a pool).
    ///   - inference: the inference stage.
    ///   - postprocess: the postprocess stage.
    ///   - health: the stages' active health checks, for readiness; `nil` answers `health` from the models alone.
    ///   - releases: traffic splits and rollouts; `nil` sends every request to the newest version.
    ///   - logger: for batch decisions and failures.
    ///   - sampler: takes a sample of answered requests' inputs and predictions for the monitor's drift detection.
    ///   - instances: instances per stage (`preprocess`, `inference`, `postprocess`; 1 when missing): a model's
    ///     `maxBatchesInFlight` is per instance, so that a stage scaled out gets batches for every instance.
    ///   - executors: where the batchers' tasks run (the router's event loops), one per model in turn, so that models
    ///     do not all share one loop; empty: the global executor.
    ///   - pools: the stage pools' discovery and administration, for `pool.*`.
    ///   - learning: serve the models that healthy inference instances report (`model.list` on each health check)
    ///     besides `models`, batched with these settings and each model's own limits; `nil`: only `models`.
    public init(
        models: [String: BatcherConfiguration],
        preprocess: any Upstream,
        inference: any Upstream,
        postprocess: any Upstream,
        health: HealthChecker? = nil,
        releases: ReleaseController? = nil,
        logger: Logger,
        sampler: InputSampler? = nil,
        instances: [String: Int] = [:],
        executors: [any TaskExecutor] = [],
        pools: StagePools? = nil,
        learning: BatcherConfiguration? = nil
    ) {
        self.batchers = StageBatchers(
            models: models,
            preprocess: preprocess,
            inference: inference,
            postprocess: postprocess,
            instances: instances,
            logger: logger,
            executors: executors
        )
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
        self.health = health
        self.releases = releases
        self.logger = logger
        self.sampler = sampler
        self.stagePools = pools
        self.learning = learning
    }

    /// The models this router serves: its own, and those the fleet serves when it learns them.
    public var models: [String] {
        guard self.learning != nil, let served = self.health?.servedModels else { return self.batchers.models }
        return Set(self.batchers.models).union(served).sorted()
    }

    /// A model's batchers; a model the router does not know yet gets them when a healthy inference instance
    /// serves it.
    private func stages(for model: String) throws -> StageBatchers.Stages {
        if let stages = self.batchers[model] { return stages }
        guard let learning, let health else {
            throw RouterError(
                .unknownModel,
                "no model '\(model)' on this router (models: \(self.models.joined(separator: ", ")))"
            )
        }
        guard !model.isEmpty, health.servedModels.contains(model) else {
            throw RouterError(.unknownModel, "no model '\(model)': \(health.unservedReason(model))")
        }
        let configuration = health.limits(of: model)?.batching(defaults: learning) ?? learning
        guard let stages = self.batchers.learn(model: model, configuration: configuration) else {
            throw RouterError(.notReady, "the router is shutting down")
        }
        self.logger.info("model learned from the fleet", metadata: ["model.name": "\(model)"])
        return stages
    }

    /// A stage's instance count changed (a pool grew or shrank): batches in flight toward it follow.
    /// - Parameters:
    ///   - stage: `preprocess`, `inference` or `postprocess`.
    ///   - count: its instances now.
    public func stageInstancesChanged(_ stage: String, count: Int) {
        self.batchers.setInstances(stage: stage, count: max(1, count))
    }

    /// Requests waiting in the batch queues now, toward every stage: the router's queue depth for autoscalers.
    public var queuedRequests: Int { self.batchers.queuedRequests }

    /// Runs the batchers until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.batchers.run()
        }
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case Method.infer:
            return try await self.infer(request, deadline: context.deadline)
        case Method.health:
            if let reason = self.health?.notReadyReason { throw RouterError(.notReady, "not ready: \(reason)") }
            return Response(
                parameters: [Parameter(ParameterKey.status, "serving")]
                    + self.models.map { Parameter(ParameterKey.model, $0) }
            )
        case Method.batchingStatus, Method.batchingSet:
            return try self.batching(request, context: context)
        case Method.poolList, Method.poolAdd, Method.poolRemove, Method.poolDrain:
            return try await self.pools(request, context: context)
        default:
            if Self.isReleaseMethod(request.method) {
                return try self.administer(request, context: context)
            }
            throw RouterError(
                .unknownMethod,
                "unknown method '\(request.method)'; the router answers infer, health, feedback, "
                    + "rollout.start|status|pause|resume|approve|promote|abort, ab.start|report|stop, release.pin|state, "
                    + "batching.status|set and pool.list|add|remove|drain"
            )
        }
    }

    /// Refuses an `infer` request at arrival, before its task starts, when the model's batch queues predict that it
    /// cannot be answered well: the waits in the preprocess, inference and postprocess queues (at its priority) plus
    /// their predicted executions would miss its deadline (`deadline exceeded`), or the waits behind full batches
    /// exceed the model's most queue time (`resource exhausted`, with when to retry; the lowest limit in force of the
    /// three, lower while a stage is saturated: ``BatcherConfiguration/saturatedQueueTime``). The inference queue is
    /// the one the request will go through: its pinned version's, or the version the release would route it to now.
    /// Each batcher checks its own stage again on arrival.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        guard request.method == Method.infer, let stages = self.batchers[request.model],
            let configuration = self.batchers.configuration(of: request.model)
        else { return nil }
        let rows = max(1, request.tensors.first?.tensor.shape.dims.first ?? 1)
        var queue = Duration.zero
        var backlog = Duration.zero
        var execution = Duration.zero
        var limit: Duration? = nil
        for batcher in [stages.preprocess, self.predictedInferenceBatcher(request, stages: stages), stages.postprocess]
        {
            let predicted = batcher.predictedLatency(rows: rows, priority: request.priority)
            queue += predicted.queue
            backlog += predicted.backlog
            execution += predicted.execution
            if let stageLimit = predicted.limit { limit = min(limit ?? stageLimit, stageLimit) }
        }
        return configuration.refusal(
            queue: queue,
            backlog: backlog,
            execution: execution,
            timeLeft: deadline.map { ContinuousClock.now.duration(to: $0) },
            limit: limit
        )?.status
    }

    /// The inference batcher a request is likely to go through: its pinned version's, or the one of the version the
    /// release routes it to now; the model's own batcher when that version has none yet (none is made here).
    private func predictedInferenceBatcher(_ request: Request, stages: StageBatchers.Stages) -> Batcher<ContinuousClock>
    {
        let version =
            request.version.isEmpty
            ? self.releases?.route(model: request.model, routingKey: request.routingKey) { request[parameter: $0] }
                .version ?? ""
            : request.version
        guard !version.isEmpty else { return stages.inference }
        return self.batchers.existingInference(model: request.model, version: version) ?? stages.inference
    }

    /// One `infer` request: the route (a release's version, or the one the caller pinned), the chain of stages,
    /// and the release's measurements.
    private func infer(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        let stages = try self.stages(for: request.model)
        let started = ContinuousClock.now
        let route =
            request.version.isEmpty
            ? self.releases?.route(model: request.model, routingKey: request.routingKey) { request[parameter: $0] }
                ?? ReleaseController.Route(version: "")
            : ReleaseController.Route(version: request.version)
        // every answer can be labelled later: the id goes back with it
        let requestID = Self.requestID(request.traceID)
        do {
            let (answer, inferred) = try await self.chain(
                request,
                route: route,
                requestID: requestID,
                stages: stages,
                deadline: deadline
            )
            var response = answer
            let latency = started.duration(to: .now)
            if let arm = route.arm {
                // the version's own run time: queueing on instances both versions share would hide a slow one
                let compute =
                    inferred[parameter: ParameterKey.computeMicroseconds].flatMap(Int64.init).map(Duration.microseconds)
                    ?? latency
                self.releases?.record(model: request.model, arm: arm, ok: true, latency: compute, window: route.window)
                self.releases?.remember(
                    model: request.model,
                    requestID: requestID,
                    route: route,
                    outputs: inferred.tensors
                )
            }
            if let challenger = route.challenger {
                self.releases?.recordExperiment(
                    model: request.model,
                    requestID: requestID,
                    challenger: challenger,
                    answer: inferred,
                    latency: latency
                )
            }
            response.parameters.append(Parameter(ParameterKey.requestID, requestID))
            return response
        } catch {
            // a caller that gave up says nothing about the version
            if RoutingError.status(for: error).code != .cancelled {
                let latency = started.duration(to: .now)
                if let arm = route.arm {
                    self.releases?.record(
                        model: request.model,
                        arm: arm,
                        ok: false,
                        latency: latency,
                        window: route.window
                    )
                }
                if let challenger = route.challenger {
                    self.releases?.recordExperiment(
                        model: request.model,
                        requestID: requestID,
                        challenger: challenger,
                        answer: nil,
                        latency: latency
                    )
                }
            }
            throw error
        }
    }

    /// The chain for one request; returns the answer and the inference stage's answer (for comparisons).
    private func chain(
        _ request: Request,
        route: ReleaseController.Route,
        requestID: String,
        stages: StageBatchers.Stages,
        deadline: ContinuousClock.Instant?
    ) async throws -> (Response, Response) {
        let preprocessRequest = request.forStage(
            Method.preprocess,
            parameters: request.parameters,
            tensors: request.tensors
        )
        // each stage call in a client span when tracing is on; the stage's server span joins it through `traceparent`
        let prepared = try await RequestTracing.client("preprocess", request: preprocessRequest) { traced in
            try await Self.call(stages.preprocess, or: self.preprocess, traced, deadline: deadline)
        }
        let inferRequest = request.forStage(Method.infer, version: route.version, tensors: prepared.tensors)
        let inferred = try await RequestTracing.client("inference", request: inferRequest) { traced in
            try await self.callInference(traced, stages: stages, deadline: deadline)
        }
        if let releases {
            if let shadowVersion = route.shadowVersion {
                let path =
                    self.batchers.inference(model: request.model, version: shadowVersion, stages: stages)
                    ?? self.inference
                releases.shadow(
                    model: request.model,
                    requestID: requestID,
                    route: route,
                    request: inferRequest,
                    candidateAnswer: inferred,
                    via: path
                )
            }
            if let mirrorVersion = route.mirrorVersion {
                let path =
                    self.batchers.inference(model: request.model, version: mirrorVersion, stages: stages)
                    ?? self.inference
                releases.mirror(
                    model: request.model,
                    requestID: requestID,
                    version: mirrorVersion,
                    servedByChallenger: route.challenger ?? false,
                    request: inferRequest,
                    answer: inferred,
                    via: path
                )
            }
        }
        let answered = inferred[parameter: ParameterKey.modelVersion]
        let postprocessRequest = request.forStage(
            Method.postprocess,
            version: answered ?? "",
            parameters: request.parameters,
            tensors: inferred.tensors
        )
        let finished = try await RequestTracing.client("postprocess", request: postprocessRequest) { traced in
            try await Self.call(stages.postprocess, or: self.postprocess, traced, deadline: deadline)
        }
        self.sampler?.offer(
            model: request.model,
            version: answered ?? "",
            inputs: request.tensors,
            outputs: inferred.tensors
        )
        let parameters = answered.map { [Parameter(ParameterKey.modelVersion, $0)] } ?? []
        return (Response(parameters: parameters, tensors: finished.tensors), inferred)
    }

    /// The id a label is reported under later: the caller's trace id, or a random one.
    static func requestID(_ trace: TraceID) -> String {
        let id =
            trace == .none
            ? TraceID(high: UInt64.random(in: 1...UInt64.max), low: UInt64.random(in: 0...UInt64.max)) : trace
        // String(_:radix:) twice and a join cost three allocations; this is one
        return String(unsafeUninitializedCapacity: 33) { buffer in
            var count = 0
            func hex(_ value: UInt64) {
                let digits = max(1, (67 - value.leadingZeroBitCount) / 4)
                for index in (0..<digits).reversed() {
                    let nibble = UInt8(truncatingIfNeeded: value >> UInt64(index * 4)) & 0xF
                    buffer[count] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                    count += 1
                }
            }
            hex(id.high)
            buffer[count] = UInt8(ascii: "-")
            count += 1
            hex(id.low)
            return count
        }
    }

    /// Through the batcher of the request's (model, version), or straight to the pool past the bound on versions.
    private func callInference(
        _ request: Request,
        stages: StageBatchers.Stages,
        deadline: ContinuousClock.Instant?
    ) async throws -> Response {
        let batcher =
            request.version.isEmpty
            ? stages.inference
            : self.versionIsServed(model: request.model, version: request.version)
                ? self.batchers.inference(model: request.model, version: request.version, stages: stages) : nil
        guard let batcher else { return try await self.inference.call(request, deadline: deadline) }
        return try await Self.call(batcher, or: self.inference, request, deadline: deadline)
    }

    /// Whether a healthy inference instance reports `version` of `model` loaded: only such a version gets a pinned
    /// batcher (of which there are few), so that callers naming versions that do not exist cannot use them up. Without
    /// health checks every version counts as served.
    private func versionIsServed(model: String, version: String) -> Bool {
        guard let health else { return true }
        return health.isReady(model: model, version: version) ?? false
    }

    /// Sends through the batcher; a request whose batch was refused as `invalid argument` goes again alone, so that
    /// its status is its own.
    private static func call(
        _ batcher: Batcher<ContinuousClock>,
        or direct: any Upstream,
        _ request: Request,
        deadline: ContinuousClock.Instant?
    ) async throws -> Response {
        do {
            return try await batcher.call(request, deadline: deadline)
        } catch  where RoutingError.status(for: error).code == .invalidArgument {
            return try await direct.call(request, deadline: deadline)
        }
    }
}
