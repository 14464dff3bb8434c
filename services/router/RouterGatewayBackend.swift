import SwitchyardGateway
import SwitchyardRouter
import SwitchyardRuntime
import SwitchyardTransport
import SwitchyardWire

/// The router as the HTTP gateway sees it: requests go to the same metered handler as wire requests, readiness is
/// the router's own, and model metadata comes from the configs with the versions the inference instances serve.
struct RouterGatewayBackend: GatewayBackend {
    let service: any WireService
    let health: HealthChecker
    let models: [String: ModelMetadata]

    func handle(_ request: Request, context: RequestContext) async throws -> Response {
        try await self.service.handle(request, context: context)
    }

    var notReadyReason: String? { self.health.notReadyReason }

    var modelNames: [String] { self.models.keys.sorted() }

    func model(named name: String) -> ModelMetadata? {
        guard var model = self.models[name] else { return nil }
        if let ready = self.health.readyVersions(of: name) {
            model.readyVersions = ready
            // a router VM may hold only the configs: the versions the instances serve are known versions too
            model.versions = Set(model.versions + ready).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
        }
        return model
    }
}
