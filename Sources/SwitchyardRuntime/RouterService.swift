public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
public import SwitchyardTransport
public import SwitchyardWire

extension WireClient: Upstream {}

/// The router: carries each `infer` request through preprocess → inference → postprocess, each hop through
/// the model's dynamic batcher for that stage, with the caller's deadline on every hop and cancellation passed on.
///
/// Run it as a `Service` (it runs the batchers) beside the `WireServer` that serves it; put it before the
/// server in the `ServiceGroup`, so that on shutdown the server drains first and the batchers stop after.
/// Requests that pin a `version` skip the inference batcher (a batch holds one version). A request whose batch
/// failed with `invalid argument` is tried again alone, so one bad request does not fail its batch-mates.
public final class RouterService: WireService, Service {
    private struct Stages: Sendable {
        var preprocess: Batcher<ContinuousClock>
        var inference: Batcher<ContinuousClock>
        var postprocess: Batcher<ContinuousClock>
        var all: [Batcher<ContinuousClock>] { [self.preprocess, self.inference, self.postprocess] }
    }

    private let stages: [String: Stages]
    private let preprocess: any Upstream
    private let inference: any Upstream
    private let postprocess: any Upstream
    private let logger: Logger
    private let sampler: InputSampler?

    /// Makes a router.
    /// - Parameters:
    ///   - models: the models served, each with its batcher's limits.
    ///   - preprocess: the preprocess stage (an instance or a pool).
    ///   - inference: the inference stage.
    ///   - postprocess: the postprocess stage.
    ///   - logger: for batch decisions and failures.
    ///   - sampler: takes a sample of answered requests' inputs and predictions for the monitor's drift detection.
    public init(
        models: [String: BatcherConfiguration], preprocess: any Upstream, inference: any Upstream, postprocess: any Upstream,
        logger: Logger, sampler: InputSampler? = nil
    ) {
        self.stages = models.mapValues { configuration in
            Stages(
                preprocess: Batcher(upstream: preprocess, configuration: configuration, logger: logger),
                inference: Batcher(upstream: inference, configuration: configuration, logger: logger),
                postprocess: Batcher(upstream: postprocess, configuration: configuration, logger: logger)
            )
        }
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
        self.logger = logger
        self.sampler = sampler
    }

    /// The models this router serves.
    public var models: [String] { self.stages.keys.sorted() }

    /// Statistics of a model's inference batcher (queue, batches in flight, learned execution times).
    public func statistics(of model: String) -> BatcherStatistics? { self.stages[model]?.inference.statistics }

    /// Runs the batchers until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for batcher in self.stages.values.flatMap(\.all) { group.addTask { await batcher.run() } }
            }
        }
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case "infer":
            guard let stages = self.stages[request.model] else {
                throw Status(.notFound, "no model '\(request.model)' on this router (models: \(self.models.joined(separator: ", ")))")
            }
            let deadline = context.deadline
            let prepared = try await Self.call(
                stages.preprocess, or: self.preprocess,
                Request(method: "preprocess", model: request.model, traceID: request.traceID, idempotent: request.idempotent,
                        parameters: request.parameters, tensors: request.tensors),
                deadline: deadline
            )
            let inferRequest = Request(
                method: "infer", model: request.model, version: request.version, traceID: request.traceID,
                idempotent: request.idempotent, tensors: prepared.tensors
            )
            let inferred = request.version.isEmpty
                ? try await Self.call(stages.inference, or: self.inference, inferRequest, deadline: deadline)
                : try await self.inference.call(inferRequest, deadline: deadline)
            let version = inferred[parameter: "model.version"]
            let finished = try await Self.call(
                stages.postprocess, or: self.postprocess,
                Request(method: "postprocess", model: request.model, version: version ?? "", traceID: request.traceID,
                        idempotent: request.idempotent, parameters: request.parameters, tensors: inferred.tensors),
                deadline: deadline
            )
            self.sampler?.offer(model: request.model, version: version ?? "", inputs: request.tensors, outputs: inferred.tensors)
            return Response(parameters: version.map { [Parameter("model.version", $0)] } ?? [], tensors: finished.tensors)
        case "health":
            return Response(parameters: [Parameter("status", "serving")] + self.models.map { Parameter("model", $0) })
        default:
            throw Status(.notFound, "unknown method '\(request.method)'; the router answers infer and health")
        }
    }

    /// Sends through the batcher; a request whose batch was refused as `invalid argument` goes again alone, so that
    /// its status is its own.
    private static func call(
        _ batcher: Batcher<ContinuousClock>, or direct: any Upstream, _ request: Request, deadline: ContinuousClock.Instant?
    ) async throws -> Response {
        do {
            return try await batcher.call(request, deadline: deadline)
        } catch let status as Status where status.code == .invalidArgument {
            return try await direct.call(request, deadline: deadline)
        }
    }
}
