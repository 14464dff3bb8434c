/// Who is calling, as proven by TLS, with the roles the server's ``AuthorizationPolicy`` gives it.
///
/// A server reads it once per connection, when the TLS handshake completes.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The client certificate's subject common name, when one was presented.
    public var commonName: String?
    /// The client certificate's organizational units (e.g. `router`, `app`, `admin`).
    public var organizationalUnits: [String]
    /// The client certificate's URI subject alternative names (e.g. `spiffe://switchyard/router`).
    public var uris: [String]
    /// The identity the peer announced in HELLO (not authenticated).
    public var announced: String
    /// The roles the server's authorization policy gives this peer (empty without a policy).
    public var roles: Set<Role>

    /// Makes a peer identity.
    /// - Parameters:
    ///   - commonName: the certificate's subject CN.
    ///   - organizationalUnits: the certificate's subject OUs.
    ///   - uris: the certificate's URI subject alternative names.
    ///   - announced: the name announced in HELLO.
    ///   - roles: the roles the peer holds.
    public init(
        commonName: String? = nil,
        organizationalUnits: [String] = [],
        uris: [String] = [],
        announced: String = "",
        roles: Set<Role> = []
    ) {
        self.commonName = commonName
        self.organizationalUnits = organizationalUnits
        self.uris = uris
        self.announced = announced
        self.roles = roles
    }

    /// Whether the peer holds `role`.
    public func has(_ role: Role) -> Bool { self.roles.contains(role) }

    /// Whether the peer presented a client certificate.
    public var isAuthenticated: Bool { self.commonName != nil || !self.uris.isEmpty }

    public var description: String {
        if let commonName { return commonName }
        if let uri = self.uris.first { return uri }
        return self.announced.isEmpty ? "anonymous" : "anonymous (announced '\(self.announced)')"
    }

    /// The identity and its roles as a refusal names them, e.g. `CN=client (roles: app)`.
    public var summary: String {
        var names: [String] = []
        if let commonName { names.append("CN=\(commonName)") }
        names += self.organizationalUnits.map { "OU=\($0)" }
        names += self.uris.map { "URI=\($0)" }
        let identity = names.isEmpty ? "an anonymous peer (no client certificate)" : names.joined(separator: ", ")
        let roles =
            self.roles.isEmpty ? "no roles" : "roles: " + self.roles.map(\.name).sorted().joined(separator: ", ")
        return "\(identity) (\(roles))"
    }
}
