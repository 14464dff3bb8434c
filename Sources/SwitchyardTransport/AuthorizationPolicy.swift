public import CoreMetrics
public import Logging
public import SwitchyardWire

/// Who may call which method of one service: roles granted to certificate identities (CN, OU, URI SAN), and the
/// roles each method needs.
///
/// A ``WireServer`` with a policy resolves the peer's roles once per connection, after the TLS handshake, and checks
/// every REQUEST before its handler runs: a refused call is answered `permission denied` (naming the identity, the
/// method and the roles it needs), counted in `switchyard_requests_denied_total{service,method,role}`, and the
/// connection stays open. ``Role/admin`` may call every method. A protocol method (`Method.all`) the policy does not
/// list needs ``Role/admin``; a name that is no method of the protocol goes on to the service, which answers
/// `not found` (no service has it, and the caller learns so).
public struct AuthorizationPolicy: Sendable {
    /// Roles given to the certificates a pattern matches.
    public struct Grant: Sendable, Hashable {
        /// Which certificates.
        public var identity: IdentityPattern
        /// The roles they get.
        public var roles: Set<Role>
    }

    /// The service this policy guards (`router`, `inference` ...), for messages and the metric's `service` label.
    public let service: String
    /// Identity patterns and the roles they give, in order (a peer gets the roles of every pattern it matches).
    public private(set) var grants: [Grant] = []
    /// The roles each method needs (any one of them); ``Role/admin`` is allowed everything besides.
    public private(set) var rules: [String: Set<Role>] = [:]
    private let denials: DenialCounter

    /// The SPIFFE trust domain of the mesh's URIs: a certificate with `spiffe://switchyard/<role>` holds `<role>`.
    public static let trustDomain = "switchyard"

    /// A policy that grants nothing and allows only what ``Role/admin`` may do, plus `health` to anyone.
    /// - Parameters:
    ///   - service: the service it guards.
    ///   - factory: where the denial counter goes; the process-wide factory by default.
    public init(service: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.service = service
        self.denials = DenialCounter(service: service, factory: factory)
        self.allow(Method.health, to: [.anyone])
        self.allow(Method.adminReload, to: [])
    }

    /// Gives `roles` to the certificates `identity` matches, besides what they hold already.
    /// - Parameters:
    ///   - roles: the roles.
    ///   - identity: which certificates.
    public mutating func grant(_ roles: Set<Role>, to identity: IdentityPattern) {
        if let index = self.grants.firstIndex(where: { $0.identity == identity }) {
            self.grants[index].roles.formUnion(roles)
        } else {
            self.grants.append(Grant(identity: identity, roles: roles))
        }
    }

    /// Sets the roles `method` needs (replacing what it needed); ``Role/anyone`` opens it to every peer, and an empty
    /// set leaves it to ``Role/admin``.
    /// - Parameters:
    ///   - method: the method.
    ///   - roles: the roles that may call it.
    public mutating func allow(_ method: String, to roles: Set<Role>) {
        self.rules[method] = roles
    }

    /// The roles `peer`'s certificate holds under this policy.
    public func roles(of peer: PeerIdentity) -> Set<Role> {
        var roles = Set<Role>()
        for grant in self.grants where grant.identity.matches(peer) { roles.formUnion(grant.roles) }
        return roles
    }

    /// `peer` with ``PeerIdentity/roles`` set by this policy.
    public func resolve(_ peer: PeerIdentity) -> PeerIdentity {
        var resolved = peer
        resolved.roles = self.roles(of: peer)
        return resolved
    }

    /// The roles that may call `method` (``Role/admin`` always may).
    public func roles(for method: String) -> Set<Role> { self.rules[method] ?? [] }

    /// Whether `peer` (its roles resolved by ``resolve(_:)``) may call `method`.
    public func allows(_ method: String, for peer: PeerIdentity) -> Bool {
        if peer.roles.contains(.admin) { return true }
        guard let needed = self.rules[method] else { return !Method.all.contains(method) }
        return needed.contains(.anyone) || !needed.isDisjoint(with: peer.roles)
    }

    /// `nil` when `peer` may call `method`; otherwise the `permission denied` status to answer, counted and (the first
    /// of each kind, then one in a thousand) logged.
    /// - Parameters:
    ///   - method: the REQUEST's method.
    ///   - peer: the caller, its roles resolved.
    ///   - logger: where a refusal is logged, at notice; made only then (a request's logger costs its metadata).
    public func refusal(of method: String, by peer: PeerIdentity, logger: @autoclosure () -> Logger) -> Status? {
        guard !self.allows(method, for: peer) else { return nil }
        let needed = self.roles(for: method).union([.admin]).sorted().map(\.name)
        let known = self.rules[method] != nil
        let status = Status(
            .permissionDenied,
            "\(peer.summary) may not call \(known ? "" : "unlisted method ")'\(method)' on \(self.service): it needs "
                + (needed.count == 1 ? "the role \(needed[0])" : "one of the roles \(needed.joined(separator: ", "))")
        )
        let count = self.denials.count(method: known && Method.all.contains(method) ? method : "unlisted", peer: peer)
        if count == 1 || count % 1000 == 0 {
            logger().notice(
                "request refused: permission denied",
                metadata: [
                    "peer": "\(peer)", "peer.roles": "\(peer.roles.map(\.name).sorted().joined(separator: ","))",
                    "method": "\(method)", "refused": "\(count)",
                ]
            )
        }
        return status
    }
}
