/// Settings of a ``GatewayServer``: where it listens, how clients prove who they are, and its limits.
///
/// Defaults suit an edge port in front of a router: 16 MiB bodies (the wire protocol's default frame limit),
/// 16 KiB of headers, 10 s for a request's headers, 30 s for its body, 5 minutes of keep-alive idleness.
public struct GatewayConfiguration: Sendable {
    /// How connections are secured and clients authenticated; the operator's choice.
    public enum Security: Sendable, Hashable {
        /// TLS whose clients present a certificate signed by the CA (mutual TLS).
        case mutualTLS(caPath: String, certificatePath: String, keyPath: String)
        /// TLS for the server only; every request but the health checks carries `Authorization: Bearer <token>`.
        case serverTLS(certificatePath: String, keyPath: String, tokens: BearerTokens)
        /// No TLS: allowed on loopback addresses only; tokens are checked when given.
        case plaintext(tokens: BearerTokens?)
    }

    /// The address to listen on.
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    public var security: Security
    /// Largest request body accepted; larger ones get 413 without being read.
    public var maxBodyBytes = 16 << 20
    /// Largest request header block (HTTP/1.1 and HTTP/2); larger ones get 431.
    public var maxHeaderBytes = 16 << 10
    /// A request's headers must arrive within this after its first byte (and a new connection's first request
    /// within this after it opened, TLS handshake included).
    public var headerTimeout: Duration = .seconds(10)
    /// A request's body must arrive within this after its headers; a body that trickles in longer gets 408.
    public var bodyTimeout: Duration = .seconds(30)
    /// A keep-alive connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(300)
    /// Most HTTP/2 streams in flight on one connection.
    public var maxConcurrentStreams = 256
    /// The deadline of a request that sets no `timeout` parameter; `nil` for none.
    public var defaultRequestTimeout: Duration? = .seconds(60)
    /// How long a graceful shutdown waits for requests in flight.
    public var drainTimeout: Duration = .seconds(30)
    /// `GET /v2`'s `name` and `version`.
    public var serverName = "switchyard"
    public var serverVersion = "1"

    /// Makes a configuration with the defaults.
    /// - Parameters:
    ///   - host: the address to listen on.
    ///   - port: the port (0: any free one).
    ///   - security: TLS and authentication.
    public init(host: String, port: Int, security: Security) {
        self.host = host
        self.port = port
        self.security = security
    }

    /// Checks the settings that cannot work: plaintext on a non-loopback address, limits out of range.
    /// - Throws: `GatewayError.configuration` naming the setting.
    public func validate() throws(GatewayError) {
        if case .plaintext = self.security, !Self.isLoopback(self.host) {
            throw GatewayError(
                .configuration,
                "plaintext HTTP is allowed on loopback addresses only (127.0.0.0/8, ::1, localhost), "
                    + "not on \(self.host); use TLS"
            )
        }
        guard (0...65535).contains(self.port) else {
            throw GatewayError(.configuration, "the HTTP port must be 0...65535")
        }
        guard (1024...(1 << 30)).contains(self.maxBodyBytes) else {
            throw GatewayError(.configuration, "the body limit must be 1 KiB...1 GiB")
        }
        guard (1024...(1 << 20)).contains(self.maxHeaderBytes) else {
            throw GatewayError(.configuration, "the header limit must be 1 KiB...1 MiB")
        }
        guard (1...1_000_000).contains(self.maxConcurrentStreams) else {
            throw GatewayError(.configuration, "the HTTP/2 stream limit must be 1...1000000")
        }
        for (name, value) in [("header", self.headerTimeout), ("body", self.bodyTimeout), ("idle", self.idleTimeout)] {
            guard value > .zero else { throw GatewayError(.configuration, "the \(name) timeout must be positive") }
        }
    }

    /// Whether `host` names a loopback address.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
