import SwitchyardWire

/// Settings of a ``WireServer``. Defaults suit a mesh service on a VM.
public struct WireServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port.
    public var port: Int = 0
    public var tls: TLSSettings
    /// Reloadable TLS material: when set, each new connection takes its current server context (``tls`` is then
    /// not read); otherwise ``tls`` is loaded once, when the server binds.
    public var credentials: TLSCredentials?
    /// Announced in HELLO.
    public var identity: String
    /// Who may call which method; every REQUEST is checked before its handler runs. `nil` lets every peer the TLS
    /// settings admit call every method (tests and tools; the services always set one).
    public var authorization: AuthorizationPolicy?
    /// Largest frame payload accepted.
    public var maxPayload: UInt32 = WireLimits.defaultPayload
    /// Requests in flight per connection (announced in HELLO); a request past it is refused with `resource exhausted`.
    public var maxInFlightPerConnection: UInt32 = 1024
    /// Most connections open at once (TLS handshakes included); one past it is closed as soon as it is accepted,
    /// before any TLS work, so that a flood of idle or slow connections cannot take the server's memory.
    public var maxConnections: Int = 4096
    /// Most connections open at once from one IP address (`nil`: no limit of its own): one past it is closed at accept
    /// like one past ``maxConnections`` (or makes room among that address's own idle connections, as below), so that a
    /// flood from one address cannot take every connection and lock other clients out. A quarter of the cap by
    /// default: clients behind one NAT or proxy share an address.
    public var maxConnectionsPerPeer: Int? = 1024
    /// At the connection cap, a new connection makes room by draining (GOAWAY) the connection idle the longest, if
    /// one has had nothing in flight for this long (at most 10 a second: each costs the newcomer's TLS handshake);
    /// otherwise it is closed at accept. So that connections held open and idle for long (a flood, or a leak) do not
    /// keep out clients that connect later, while a flood of new connections still costs little. `nil`: never evict.
    public var evictIdleConnectionsAfter: Duration? = .seconds(30)
    /// Most bytes held in frames still arriving, over all connections: a connection whose next frame does not fit is
    /// closed with GOAWAY `resource exhausted`, so that slow senders of large frames cannot take the server's memory.
    /// (A complete frame is read at once and takes nothing from it.)
    public var maxBufferedBytes: Int = 64 << 20
    /// Most bytes of tensors in requests being served at once, over all connections: a request that does not fit is
    /// refused at arrival with `resource exhausted` (its connection stays open), so that many large requests at once
    /// cannot take the server's memory while they wait for their answers.
    public var maxInFlightBytes: Int = 1 << 30
    /// TLS handshake plus HELLO must finish within this.
    public var handshakeTimeout: Duration = .seconds(5)
    /// A connection with no requests for this long is closed with GOAWAY.
    public var idleTimeout: Duration = .seconds(300)
    /// With no frame received for this long, the server sends PING...
    public var keepaliveInterval: Duration = .seconds(10)
    /// ...and closes the connection if no frame arrives within this after it (dead peer, or stalled mid-frame).
    public var keepaliveTimeout: Duration = .seconds(5)
    /// Where request handlers run.
    public var handlerPlacement: HandlerPlacement = .eventLoop
    /// How long a graceful shutdown waits for in-flight requests before closing connections.
    public var drainTimeout: Duration = .seconds(30)

    /// Makes a configuration.
    /// - Parameters:
    ///   - tls: certificate, key and CA; mutual TLS unless `tls.requireClientCertificate` is false.
    ///   - identity: the name this server announces.
    public init(tls: TLSSettings, identity: String) {
        self.tls = tls
        self.identity = identity
    }
}

/// Where a server runs its ``WireService`` handlers.
public enum HandlerPlacement: Sendable, Hashable {
    /// On the connection's event loop: no thread hop per request. For handlers that await rather than
    /// compute (CPU-heavy work must run on its own threads, as the engine's does).
    case eventLoop
    /// On Swift's global concurrent executor: for handlers that compute directly.
    case globalExecutor
}
