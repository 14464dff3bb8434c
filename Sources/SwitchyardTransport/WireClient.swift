public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import Synchronization
public import NIOPosix
import NIOSSL
public import SwitchyardWire

/// Settings of a ``WireClient``.
public struct WireClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// CA for the server, and a client certificate for mutual TLS.
    public var tls: TLSSettings
    /// Reloadable TLS material shared with the process's server: when set, each new connection takes its current
    /// client context (``tls`` is then not read); otherwise ``tls`` is loaded once, when the client is made.
    public var credentials: TLSCredentials?
    /// The name the server's certificate must carry; defaults to `host`.
    public var serverHostname: String?
    /// Announced in HELLO.
    public var identity: String = "client"
    /// Connections kept to the server; requests go to the least busy one.
    public var connections: Int = 1
    /// TCP connect, TLS handshake and HELLO must finish within this.
    public var connectTimeout: Duration = .seconds(5)
    public var keepaliveInterval: Duration = .seconds(10)
    public var keepaliveTimeout: Duration = .seconds(5)

    /// Makes a configuration.
    /// - Parameters:
    ///   - host: the server's address or name.
    ///   - port: the server's port.
    ///   - tls: CA, and certificate and key for mutual TLS.
    public init(host: String, port: Int, tls: TLSSettings) {
        self.host = host
        self.port = port
        self.tls = tls
    }
}

/// A pool of multiplexed connections to one server. Safe to share across tasks.
///
/// Each call goes to the open connection with the fewest requests in flight; dead and draining connections
/// are replaced on demand. When every connection is at the server's in-flight limit, calls are refused with
/// `resource exhausted` rather than queued without bound.
public final class WireClient: Sendable {
    private final class Connection: Sendable {
        let channel: any Channel
        let limits: ConnectionLimits
        let inFlight = Atomic<Int>(0)
        /// Cleared by the handler on GOAWAY, id exhaustion or close.
        let usable: AtomicFlag
        init(channel: any Channel, limits: ConnectionLimits, usable: AtomicFlag) {
            self.channel = channel
            self.limits = limits
            self.usable = usable
        }
    }

    private struct State {
        var connections: [Connection] = []
        var connecting: [EventLoopFuture<Connection>] = []
        var closed = false
    }

    public let configuration: WireClientConfiguration
    private let credentials: TLSCredentials
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    /// Set by a graceful GOAWAY (the server is shutting down or closing an idle connection), cleared when a new
    /// connection completes its handshake.
    private let serverDraining = AtomicFlag(false)
    /// What bounds retries of overload refusals (``CallRetryPolicy/allowsRetry(of:for:)``) across all calls.
    let overloadRetryTokens = RetryTokens()

    /// Makes a client; connections open on first use.
    /// - Parameters:
    ///   - configuration: where to connect and how.
    ///   - logger: for connection events.
    ///   - group: event loops (defaults to NIO's shared loops).
    /// - Throws: `TransportError` when the TLS material does not load.
    public init(
        configuration: WireClientConfiguration,
        logger: Logger = Logger(label: "switchyard.client"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.credentials = try configuration.credentials ?? TLSCredentials(configuration.tls, server: false)
        self.group = group
        self.logger = logger
    }

    /// Whether the server's last word was a graceful GOAWAY and no connection has opened since: a pool takes such an
    /// instance out of rotation (rather than counting its refusals as failures) until it is reachable again.
    public var isDraining: Bool { self.serverDraining.isSet }

    /// Sends a request and waits for its answer.
    /// - Parameters:
    ///   - request: the request; its `timeout` is replaced by what is left of `deadline`.
    ///   - deadline: when the caller stops waiting; the server is told to stop work then too.
    /// - Returns: the response.
    /// - Throws: `Status` for an ERROR answer, a passed deadline (`deadline exceeded`) or cancellation
    ///   (`cancelled`); `TransportError` when the server cannot be reached or the connection ends.
    public func call(_ request: Request, deadline: ContinuousClock.Instant? = nil) async throws -> Response {
        let nioDeadline = deadline.map { NIODeadline.now() + TimeAmount(ContinuousClock.now.duration(to: $0)) }
        let connection = try await self.connection()  // counted in flight
        defer { connection.inFlight.subtract(1, ordering: .relaxed) }
        let promise = connection.channel.eventLoop.makePromise(of: Response.self)
        return try await withTaskCancellationHandler {
            // the handler flushes once per event-loop tick, for every call written in it
            let written = connection.channel.eventLoop.makePromise(of: Void.self)
            connection.channel.write(
                ClientCommand.call(request, deadline: nioDeadline, promise: promise),
                promise: written
            )
            // closed before the handler saw the call: nobody else will answer it
            written.futureResult.whenFailure { error in
                promise.fail(
                    TransportError(.notProcessed, "the connection closed before the request was sent: \(error)")
                )
            }
            return try await promise.futureResult.get()
        } onCancel: {
            promise.fail(Status(.cancelled, "the caller cancelled the request"))
        }
    }

    /// Opens the configured number of connections now, so the first calls do not pay for the handshakes.
    /// - Throws: `TransportError` when the server cannot be reached.
    public func connect() async throws {
        for _ in 0..<self.configuration.connections {
            _ = try await self.openConnection()
        }
    }

    /// Closes every connection; calls in flight fail with `unavailable`.
    public func close() async {
        let connections = self.state.withLockedValue { state in
            state.closed = true
            return state.connections
        }
        for connection in connections {
            try? await connection.channel.close().get()
        }
    }

    /// Picks the open connection with the fewest requests in flight and counts the caller in; one lock per call.
    private func connection() async throws -> Connection {
        enum Choice {
            case use(Connection)
            case wait(EventLoopFuture<Connection>)
            case open, exhausted
        }
        let wanted = self.configuration.connections
        let choice: Choice = self.state.withLockedValue { state in
            if state.connections.contains(where: { !$0.usable.isSet }) {
                state.connections.removeAll { !$0.usable.isSet }
            }
            var best: Connection?
            var bestLoad = Int.max
            for connection in state.connections {
                let load = connection.inFlight.load(ordering: .relaxed)
                if load < bestLoad {
                    best = connection
                    bestLoad = load
                }
            }
            let total = state.connections.count + state.connecting.count
            if let best, bestLoad < best.limits.maxInFlight, bestLoad == 0 || total >= wanted {
                best.inFlight.add(1, ordering: .relaxed)
                return .use(best)
            }
            if total < wanted { return .open }
            if let pending = state.connecting.first { return .wait(pending) }
            return .exhausted
        }
        let connection: Connection
        switch choice {
        case .use(let chosen): return chosen
        case .wait(let future): connection = try await Self.wait(for: future)
        case .open: connection = try await self.openConnection()
        case .exhausted:
            throw TransportError(
                .clientLimit,
                "every connection to \(self.configuration.host):\(self.configuration.port) is at the server's in-flight limit"
            )
        }
        connection.inFlight.add(1, ordering: .relaxed)
        return connection
    }

    private func openConnection() async throws -> Connection {
        let loop = self.group.next()
        let ready = loop.makePromise(of: ConnectionLimits.self)
        let configuration = self.configuration
        let sslContext = self.credentials.clientContext  // a reload changes new connections, not open ones
        let logger = self.logger
        let usable = AtomicFlag(true)
        let serverDraining = self.serverDraining
        let future: EventLoopFuture<Connection> = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(
                        NIOSSLClientHandler(
                            context: sslContext,
                            serverHostname: configuration.serverHostname ?? Self.sniName(configuration.host)
                        )
                    )
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(maxPayload: WireLimits.defaultPayload)))
                    try sync.addHandler(FrameEncoder())
                    try sync.addHandler(
                        ClientConnectionHandler(
                            identity: configuration.identity,
                            keepaliveInterval: configuration.keepaliveInterval,
                            keepaliveTimeout: configuration.keepaliveTimeout,
                            ready: ready,
                            logger: logger,
                            onDrain: { usable.clear() },
                            onServerDraining: { serverDraining.set() }
                        )
                    )
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMapError { error in
                ready.fail(error)
                let reason = (error as? NIOConnectionError)?.connectionErrors.first.map { "\($0.error)" } ?? "\(error)"
                return loop.makeFailedFuture(
                    TransportError(
                        .connectFailed,
                        "cannot connect to \(configuration.host):\(configuration.port): \(reason)"
                    )
                )
            }
            .flatMap { channel in
                let timeout = loop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
                    ready.fail(
                        TransportError(
                            .connectFailed,
                            "TLS handshake and HELLO with \(configuration.host):\(configuration.port) did not finish within \(configuration.connectTimeout)"
                        )
                    )
                }
                return ready.futureResult.always { _ in timeout.cancel() }
                    .flatMapErrorThrowing { error in
                        channel.close(promise: nil)
                        if let transport = error as? TransportError { throw transport }
                        throw TransportError(
                            .connectFailed,
                            "TLS with \(configuration.host):\(configuration.port) failed: \(error)"
                        )
                    }
                    .map { limits in Connection(channel: channel, limits: limits, usable: usable) }
            }
        // the new connection joins the client whether or not the caller still waits for it (others may)
        let joined = future.flatMapThrowing { connection in
            serverDraining.clear()
            connection.channel.closeFuture.whenComplete { _ in usable.clear() }
            let closedMeanwhile = self.state.withLockedValue { state -> Bool in
                if state.closed { return true }
                state.connections.append(connection)
                return false
            }
            guard !closedMeanwhile else {
                connection.channel.close(promise: nil)
                throw TransportError(.connectionClosed, "the client was closed")
            }
            return connection
        }
        self.state.withLockedValue { $0.connecting.append(joined) }
        joined.whenComplete { _ in self.state.withLockedValue { state in state.connecting.removeAll { $0 === joined } }
        }
        return try await Self.wait(for: joined)
    }

    /// Waits for `future` unless the task is cancelled first: a hedged call that lost must not wait for a handshake
    /// with a hung server (the connecting goes on, for whoever wants the connection).
    private static func wait<T: Sendable>(for future: EventLoopFuture<T>) async throws -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(Status(.cancelled, "the caller cancelled the request"))
        }
    }

    /// TLS SNI must be a name, not an address literal.
    private static func sniName(_ host: String) -> String? {
        host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
    }
}

/// A flag shared between a connection handler and its client, e.g. whether a connection may take new requests.
final class AtomicFlag: Sendable {
    private let value: Synchronization.Atomic<Bool>
    init(_ value: Bool) { self.value = Atomic(value) }
    var isSet: Bool { self.value.load(ordering: .relaxed) }
    func set() { self.value.store(true, ordering: .relaxed) }
    func clear() { self.value.store(false, ordering: .relaxed) }
}
