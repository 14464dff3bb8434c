public import SwitchyardGateway
public import SwitchyardModelConfig
public import SwitchyardRouting
public import SwitchyardTransport
public import SwitchyardWire
import SwitchyardTracing

/// The router as its HTTP port (``GatewayServer``) sees it: requests go to the same handler as wire requests,
/// readiness is the router's own, and model metadata comes from the configs with the versions the inference
/// instances serve. A model the router learns from the fleet (one its own repository lacks) is described by what its
/// instances report: ready versions and batching limits; its tensors are known from a config only, so none are listed.
public struct RouterGatewayBackend: GatewayBackend {
    private let service: any WireService
    private let health: HealthChecker
    private let models: [String: ModelMetadata]
    private let learning: BatcherConfiguration?

    /// Makes a backend.
    /// - Parameters:
    ///   - service: the handler HTTP requests go to (the router's, wrapped as its wire requests are).
    ///   - health: the router's health checks: readiness and the versions the inference instances serve.
    ///   - models: what the router tells of each model of its own repository, by name.
    ///   - learning: the router's batching for models learned from the fleet; `nil` when it serves its own only.
    public init(
        service: any WireService,
        health: HealthChecker,
        models: [String: ModelMetadata],
        learning: BatcherConfiguration? = nil
    ) {
        self.service = service
        self.health = health
        self.models = models
        self.learning = learning
    }

    /// Makes a backend describing the models of the router's repository.
    /// - Parameters:
    ///   - service: the handler HTTP requests go to.
    ///   - health: the router's health checks.
    ///   - catalog: the model repository on the router's disk (configs only); `nil` when it has none.
    ///   - batching: the router's batching per model; a model of the catalog without an entry is not described.
    ///   - learning: the router's batching for models learned from the fleet; `nil` when it serves its own only.
    public init(
        service: any WireService,
        health: HealthChecker,
        catalog: ModelCatalog?,
        batching: [String: BatcherConfiguration],
        learning: BatcherConfiguration? = nil
    ) {
        var models: [String: ModelMetadata] = [:]
        for entry in catalog?.entries ?? [] {
            guard let batcher = batching[entry.name] else { continue }
            models[entry.name] = ModelMetadata(
                name: entry.name,
                versions: entry.versions,
                config: entry.config,
                batching: batcher
            )
        }
        self.init(service: service, health: health, models: models, learning: learning)
    }

    /// Answers an HTTP request as the wire's are answered, in a server span when tracing is on (the wire server makes
    /// those of wire requests). A request that came without a trace id takes the span's, or a new one when tracing is
    /// off; its log lines carry the same.
    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        var traced = request
        let span = RequestTracing.startServerSpan(for: &traced, service: "router")
        if traced.traceID == .none { traced.traceID = .random() }
        var tracedContext = context
        tracedContext.traceID = traced.traceID
        let started = traced
        let startedContext = tracedContext
        guard let span else { return try await self.service.handle(started, context: startedContext) }
        return try await span.run { try await self.service.handle(started, context: startedContext) }.get()
    }

    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.service.refusal(for: request, deadline: deadline)
    }

    public var notReadyReason: String? { self.health.notReadyReason }

    public var modelNames: [String] {
        guard self.learning != nil else { return self.models.keys.sorted() }
        return Set(self.models.keys).union(self.health.servedModels).sorted()
    }

    public func model(named name: String) -> ModelMetadata? {
        var model: ModelMetadata
        if let described = self.models[name] {
            model = described
        } else if let learning = self.learning, self.health.servedModels.contains(name) {
            let batching = self.health.limits(of: name)?.batching(defaults: learning) ?? learning
            // the versions are those the instances serve (below), whatever policy loaded them
            model = ModelMetadata(
                name: name,
                maxBatchSize: batching.maxBatchSize,
                batching: .init(batching),
                versionPolicy: .all
            )
        } else {
            return nil
        }
        if let ready = self.health.readyVersions(of: name) {
            model.readyVersions = ready
            // a router VM may hold only the configs: the versions the instances serve are known versions too
            model.versions = Set(model.versions + ready).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
        }
        return model
    }
}
