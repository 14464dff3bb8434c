import Logging
public import SwitchyardWire

/// A service behind an ``AuthorizationPolicy`` for requests that reach it in-process rather than through a
/// ``WireServer`` (which checks its policy itself): the router's HTTP gateway.
///
/// A caller with a client certificate gets the roles the policy gives it; one without (a bearer-token or loopback
/// HTTP client, already let in by the gateway) gets `withoutCertificate`.
public struct AuthorizedService: WireService {
    private let service: any WireService
    private let policy: AuthorizationPolicy
    private let withoutCertificate: Set<Role>

    /// Puts `policy` in front of `service`.
    /// - Parameters:
    ///   - service: answers the requests the policy allows.
    ///   - policy: who may call what.
    ///   - withoutCertificate: the roles of a caller that presented no certificate.
    public init(_ service: any WireService, policy: AuthorizationPolicy, withoutCertificate: Set<Role>) {
        self.service = service
        self.policy = policy
        self.withoutCertificate = withoutCertificate
    }

    /// The wrapped service's refusals at arrival (overload shedding), passed on.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.service.refusal(for: request, deadline: deadline)
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        var checked = context
        checked.peer.roles =
            context.peer.isAuthenticated ? self.policy.roles(of: context.peer) : self.withoutCertificate
        if let refusal = self.policy.refusal(of: request.method, by: checked.peer, logger: context.logger) {
            throw refusal
        }
        return try await self.service.handle(request, context: checked)
    }
}
