public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
public import SwitchyardTransport
public import SwitchyardWire

extension WireClient: Upstream {}

/// The router: carries each `infer` request through preprocess → inference (through the model's dynamic
/// batcher) → postprocess, with the caller's deadline on every hop and cancellation passed on.
///
/// Run it as a `Service` (it runs the batchers) beside the `WireServer` that serves it; put it before the
/// server in the `ServiceGroup`, so that on shutdown the server drains first and the batchers stop after.
/// Requests that pin a `version` skip the batcher (a batch holds one version).
public final class RouterService: WireService, Service {
    private let batchers: [String: Batcher<ContinuousClock>]
    private let preprocess: any Upstream
    private let inference: any Upstream
    private let postprocess: any Upstream
    private let logger: Logger

    /// Makes a router.
    /// - Parameters:
    ///   - models: the models served, each with its batcher's limits.
    ///   - preprocess: the preprocess stage (an instance or a pool).
    ///   - inference: the inference stage.
    ///   - postprocess: the postprocess stage.
    ///   - logger: for batch decisions and failures.
    public init(
        models: [String: BatcherConfiguration], preprocess: any Upstream, inference: any Upstream, postprocess: any Upstream,
        logger: Logger
    ) {
        self.batchers = models.mapValues { Batcher(upstream: inference, configuration: $0, logger: logger) }
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
        self.logger = logger
    }

    /// The models this router serves.
    public var models: [String] { self.batchers.keys.sorted() }

    /// Statistics of a model's batcher (queue, batches in flight, learned execution times).
    public func statistics(of model: String) -> BatcherStatistics? { self.batchers[model]?.statistics }

    /// Runs the batchers until graceful shutdown or cancellation.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for batcher in self.batchers.values { group.addTask { await batcher.run() } }
            }
        }
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case "infer":
            guard let batcher = self.batchers[request.model] else {
                throw Status(.notFound, "no model '\(request.model)' on this router (models: \(self.models.joined(separator: ", ")))")
            }
            let deadline = context.deadline
            let prepared = try await self.preprocess.call(
                Request(method: "preprocess", model: request.model, traceID: request.traceID, idempotent: request.idempotent,
                        parameters: request.parameters, tensors: request.tensors),
                deadline: deadline
            )
            let inferRequest = Request(
                method: "infer", model: request.model, version: request.version, traceID: request.traceID,
                idempotent: request.idempotent, tensors: prepared.tensors
            )
            let inferred = try await (request.version.isEmpty ? batcher : self.inference).call(inferRequest, deadline: deadline)
            let version = inferred[parameter: "model.version"]
            let finished = try await self.postprocess.call(
                Request(method: "postprocess", model: request.model, version: version ?? "", traceID: request.traceID,
                        idempotent: request.idempotent, parameters: request.parameters, tensors: inferred.tensors),
                deadline: deadline
            )
            return Response(parameters: version.map { [Parameter("model.version", $0)] } ?? [], tensors: finished.tensors)
        case "health":
            return Response(parameters: [Parameter("status", "serving")] + self.models.map { Parameter("model", $0) })
        default:
            throw Status(.notFound, "unknown method '\(request.method)'; the router answers infer and health")
        }
    }
}
