public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOHTTP2
public import NIOPosix
import NIOSSL
import NIOTLS
public import ServiceLifecycle
import SwitchyardTransport

/// The Open Inference Protocol (KServe v2) REST gateway: HTTP/1.1 with keep-alive and HTTP/2 (h2 over TLS by
/// ALPN, and h2c with prior knowledge) in front of a ``GatewayBackend``, usually the router.
///
/// Endpoints: `GET /v2`, `/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}[/versions/{v}]` (metadata),
/// `.../ready`, `.../config` and `.../stats` (Triton's extensions), `/v2/models/stats`, and
/// `POST /v2/models/{name}[/versions/{v}]/infer` with tensors as JSON or in Triton's binary tensor extension.
/// Errors are `{"error": "..."}` with the HTTP status of the wire status (400, 404, 429 with `Retry-After`, 503,
/// 504). Requests run on the connection's event loop and call the backend as a wire request would.
///
/// Run it as a `Service` beside the router; on graceful shutdown it stops accepting, lets requests in flight
/// finish (HTTP/2 connections get GOAWAY), and closes what is left after ``GatewayConfiguration/drainTimeout``.
public final class GatewayServer: Service, Sendable {
    private let core: GatewayCore
    private let group: any EventLoopGroup
    private let address = BoundAddress()
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    /// The TLS context new connections get (`nil` on a plaintext port); a reload replaces it.
    private let tls = NIOLockedValueBox<NIOSSLContext?>(nil)

    /// Makes a gateway; nothing is bound until `run()`.
    /// - Parameters:
    ///   - configuration: address, security and limits.
    ///   - backend: the router (or a stand-in) that answers.
    ///   - statistics: what `GET .../stats` reports; `nil` reports no models.
    ///   - logger: for the listening line and connection events.
    ///   - group: the event loops (defaults to NIO's shared loops).
    public init(
        configuration: GatewayConfiguration,
        backend: any GatewayBackend,
        statistics: InferenceStatistics? = nil,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.core = GatewayCore(configuration: configuration, backend: backend, statistics: statistics, logger: logger)
        self.group = group
    }

    /// Connections open right now.
    public var connectionCount: Int { self.connections.withLockedValue { $0.count } }

    /// The bound address, once `run()` has bound (useful with port 0).
    /// - Throws: the error that stopped the gateway from binding.
    public func localAddress() async throws -> SocketAddress { try await self.address.get() }

    /// Binds and serves until graceful shutdown or cancellation.
    /// - Throws: `GatewayError.configuration` when the settings cannot work, the TLS files do not load, or the
    ///   address cannot be bound.
    public func run() async throws {
        let channel: any Channel
        do {
            try self.core.configuration.validate()
            let context = try Self.makeTLSContext(self.core.configuration.security)
            self.tls.withLockedValue { $0 = context }
            channel = try await self.bind(secure: context != nil)
        } catch {
            self.address.complete(.failure(error))
            throw error
        }
        let bound = channel.localAddress!
        self.address.complete(.success(bound))
        let scheme = if case .plaintext = self.core.configuration.security { "http" } else { "https" }
        self.core.logger.info(
            "http gateway up",
            metadata: [
                "http.url": "\(scheme)://\(Self.hostPort(bound))/v2",
                "http.security": "\(Self.describe(self.core.configuration.security))",
            ]
        )
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
        if Task.isCancelled {
            self.closeAll()
        } else {
            await self.drain()
        }
    }

    /// TLS material for the HTTP port loaded again from its files, not yet in use (``prepareTLSReload()``).
    public struct PreparedTLS: Sendable {
        fileprivate let context: NIOSSLContext?
    }

    /// Loads the HTTP port's certificate, key and CA files again (the same paths, rewritten) without using them
    /// yet, so that a reload can check everything before anything changes.
    /// - Throws: `GatewayError.configuration` naming the file that does not load.
    public func prepareTLSReload() throws(GatewayError) -> PreparedTLS {
        PreparedTLS(context: try Self.makeTLSContext(self.core.configuration.security))
    }

    /// New connections get `prepared` from now on; open ones keep the context they started with until they close.
    public func installTLS(_ prepared: PreparedTLS) {
        self.tls.withLockedValue { $0 = prepared.context }
    }

    private func bind(secure: Bool) async throws -> any Channel {
        let core = self.core
        let connections = self.connections
        let current = self.tls
        do {
            return try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    let id = ObjectIdentifier(channel)
                    connections.withLockedValue { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in
                        _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                    }
                    let tls = secure ? current.withLockedValue { $0 } : nil
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                        try sync.addHandler(
                            ConnectionTimeoutHandler(
                                headerTimeout: core.configuration.headerTimeout,
                                idleTimeout: core.configuration.idleTimeout
                            )
                        )
                        if tls == nil {
                            try sync.addHandler(
                                PrefaceSniffer { channel, http2 in try Self.configure(channel, http2: http2, core: core)
                                }
                            )
                        } else {
                            try sync.addHandler(
                                ApplicationProtocolNegotiationHandler { result, channel in
                                    channel.eventLoop.makeCompletedFuture {
                                        switch result {
                                        case .negotiated("h2"): try Self.configure(channel, http2: true, core: core)
                                        case .negotiated("http/1.1"):
                                            try Self.configure(channel, http2: false, core: core)
                                        default:  // no ALPN: HTTP/1.1, or HTTP/2 with prior knowledge
                                            try channel.pipeline.syncOperations.addHandler(
                                                PrefaceSniffer { channel, http2 in
                                                    try Self.configure(channel, http2: http2, core: core)
                                                }
                                            )
                                        }
                                    }
                                }
                            )
                        }
                    }
                }
                .bind(host: self.core.configuration.host, port: self.core.configuration.port)
                .get()
        } catch {
            throw GatewayError(
                .configuration,
                "cannot listen on \(self.core.configuration.host):\(self.core.configuration.port): \(error)",
                cause: error
            )
        }
    }

    /// Adds the handlers of one protocol after the connection's timeout handler.
    private static func configure(_ channel: any Channel, http2: Bool, core: GatewayCore) throws {
        let sync = channel.pipeline.syncOperations
        let timeouts = try sync.handler(type: ConnectionTimeoutHandler.self)
        let configuration = core.configuration
        if http2 {
            timeouts.disarm()
            core.metrics.connectionOpened(channel, http2: true)
            let management = NIOHTTP2ServerConnectionManagementHandler(
                eventLoop: channel.eventLoop,
                configuration: .init(
                    maxIdleTime: TimeAmount(configuration.idleTimeout),
                    maxAge: nil,
                    maxGraceTime: TimeAmount(configuration.drainTimeout),
                    keepalive: .init(pingInterval: .minutes(5), ackTimeout: .seconds(20))
                )
            )
            var connection = NIOHTTP2Handler.ConnectionConfiguration()
            connection.initialSettings = [
                HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maxConcurrentStreams),
                HTTP2Setting(parameter: .maxHeaderListSize, value: configuration.maxHeaderBytes),
                // a stream carries one body, at most the body limit: its window never needs topping up
                HTTP2Setting(parameter: .initialWindowSize, value: min(configuration.maxBodyBytes + 1, Int(Int32.max))),
            ]
            try sync.addHandler(WriteCoalescer())  // the frames of one flush in one TLS record
            try sync.addHandler(
                NIOHTTP2Handler(mode: .server, connectionConfiguration: connection, streamConfiguration: .init())
            )
            try sync.addHandler(management)
            // the manager sees streams open and close as events of the HTTP/2 handler
            try sync.addHandler(HTTP2ConnectionHandler(core: core))
        } else {
            core.metrics.connectionOpened(channel, http2: false)
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = configuration.maxHeaderBytes
            limits.maxHeaderFieldSize = configuration.maxHeaderBytes
            limits.maxHeaderFieldCount = 256
            // the request handler writes each answer as bytes itself (head and body in one TLS record)
            try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(limitConfiguration: limits)))
            try sync.addHandler(GatewayRequestHandler(core: core, timeouts: timeouts))
        }
    }

    static func makeTLSContext(_ security: GatewayConfiguration.Security) throws(GatewayError) -> NIOSSLContext? {
        func load<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws(GatewayError) -> T {
            do {
                return try body(path)
            } catch {
                throw GatewayError(
                    .configuration,
                    "cannot load the HTTP port's \(what) from \(path): \(error)",
                    cause: error
                )
            }
        }
        let certificatePath: String
        let keyPath: String
        var caPath: String?
        switch security {
        case .plaintext:
            return nil
        case .mutualTLS(let ca, let certificate, let key):
            (caPath, certificatePath, keyPath) = (ca, certificate, key)
        case .serverTLS(let certificate, let key, _):
            (certificatePath, keyPath) = (certificate, key)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try load("certificate", certificatePath) {
                try NIOSSLCertificate.fromPEMFile($0).map { .certificate($0) }
            },
            privateKey: .privateKey(try load("private key", keyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) })
        )
        // HTTP clients and API gateways still speak TLS 1.2; the mesh itself is 1.3 only
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2", "http/1.1"]
        if let caPath {
            configuration.trustRoots = .certificates(try load("CA", caPath) { try NIOSSLCertificate.fromPEMFile($0) })
            configuration.certificateVerification = .noHostnameVerification
        } else {
            configuration.certificateVerification = .none
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw GatewayError(.configuration, "cannot make the HTTP port's TLS context: \(error)", cause: error)
        }
    }

    private func drain() async {
        let open = self.connections.withLockedValue { Array($0.values) }
        self.core.logger.info("http gateway draining", metadata: ["connections": "\(open.count)"])
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        // each connection closes itself once its answers are out; the drain timeout cuts the wait short
        await open.waitForClose(timeout: self.core.configuration.drainTimeout, on: self.group.next())
        self.closeAll()
        self.core.logger.info("http gateway stopped")
    }

    private func closeAll() {
        for channel in self.connections.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }

    static func hostPort(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "127.0.0.1"
        return ip.contains(":") ? "[\(ip)]:\(address.port ?? 0)" : "\(ip):\(address.port ?? 0)"
    }

    static func describe(_ security: GatewayConfiguration.Security) -> String {
        switch security {
        case .mutualTLS: "mutual TLS"
        case .serverTLS: "TLS with bearer tokens"
        case .plaintext(let tokens): tokens == nil ? "plaintext (loopback)" : "plaintext (loopback) with bearer tokens"
        }
    }
}
