public import Logging
public import NIOCore
import NIOConcurrencyHelpers
public import NIOPosix
import NIOSSL
public import ServiceLifecycle
import SwitchyardWire

/// A wire-protocol server over TLS: one ``WireService`` behind many multiplexed connections.
///
/// Run it as a `Service`: `run()` binds, serves, and on graceful shutdown sends GOAWAY on every
/// connection, lets in-flight requests finish (up to `drainTimeout`), then closes.
public final class WireServer: Service, Sendable {
    private let configuration: WireServerConfiguration
    private let service: any WireService
    private let logger: Logger
    private let group: any EventLoopGroup
    private let address = BoundAddress()
    private let connections = NIOLockedValueBox(OpenConnections())
    private let refused = NIOLockedValueBox(0)
    private let evicted = NIOLockedValueBox(Evictions())
    private let budget: ByteBudget
    private let inFlightBudget: ByteBudget

    /// Makes a server; nothing is bound until `run()`.
    /// - Parameters:
    ///   - configuration: address, TLS and limits.
    ///   - service: answers the requests.
    ///   - logger: for connection events.
    ///   - group: the event loops (defaults to NIO's shared loops, one per core).
    public init(
        configuration: WireServerConfiguration,
        service: any WireService,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.service = service
        self.logger = logger
        self.group = group
        self.budget = ByteBudget(capacity: configuration.maxBufferedBytes)
        self.inFlightBudget = ByteBudget(capacity: configuration.maxInFlightBytes)
    }

    /// Bytes now held in frames still arriving, over all connections.
    public var bufferedBytes: Int { self.budget.used }

    /// Bytes of tensors now held by requests being served, over all connections.
    public var inFlightBytes: Int { self.inFlightBudget.used }

    /// Connections open right now (TLS handshakes in progress included).
    public var connectionCount: Int { self.connections.withLockedValue { $0.byID.count } }

    /// Connections closed at once because ``WireServerConfiguration/maxConnections`` were open, or
    /// ``WireServerConfiguration/maxConnectionsPerPeer`` from the same address.
    public var refusedConnectionCount: Int { self.refused.withLockedValue { $0 } }

    /// Idle connections drained to make room for a new one at ``WireServerConfiguration/maxConnections``.
    public var evictedConnectionCount: Int { self.evicted.withLockedValue { $0.count } }

    /// Idle connections drained to make room, and the budget for more: each costs the newcomer's TLS handshake,
    /// so a flood of new connections may cycle through idle ones only this fast.
    private struct Evictions {
        static let perSecond = 10.0
        var count = 0
        var tokens = Self.perSecond
        var refilled = NIODeadline.now()

        mutating func take(now: NIODeadline) -> Bool {
            let seconds = Double((now - self.refilled).nanoseconds) / 1e9
            self.tokens = min(Self.perSecond, self.tokens + seconds * Self.perSecond)
            self.refilled = now
            guard self.tokens >= 1 else { return false }
            self.tokens -= 1
            return true
        }
    }

    /// The open connections, and how many come from each peer address.
    private struct OpenConnections {
        var byID: [ObjectIdentifier: ConnectionActivity] = [:]
        var perPeer: [String: Int] = [:]

        mutating func insert(_ activity: ConnectionActivity, id: ObjectIdentifier) {
            self.byID[id] = activity
            if let peer = activity.peer { self.perPeer[peer, default: 0] += 1 }
        }

        mutating func remove(_ id: ObjectIdentifier) {
            guard let activity = self.byID.removeValue(forKey: id), let peer = activity.peer else { return }
            let left = self.perPeer[peer, default: 1] - 1
            self.perPeer[peer] = left > 0 ? left : nil
        }
    }

    /// The bound address, once `run()` has bound (useful with port 0).
    /// - Throws: the bind error when binding failed.
    public func localAddress() async throws -> SocketAddress { try await self.address.get() }

    /// Binds and serves until graceful shutdown or cancellation.
    /// - Throws: `TransportError` when TLS material does not load or the address cannot be bound.
    public func run() async throws {
        let channel: any Channel
        do {
            channel = try await self.bind()
        } catch {
            self.address.complete(.failure(error))
            throw error
        }
        self.address.complete(.success(channel.localAddress!))
        self.logger.info(
            "listening",
            metadata: ["address": "\(channel.localAddress!)", "identity": "\(self.configuration.identity)"]
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

    private func bind() async throws -> any Channel {
        let credentials = try self.configuration.credentials ?? TLSCredentials(self.configuration.tls)
        _ = try credentials.serverContext()
        let configuration = self.configuration
        let service = self.service
        let logger = self.logger
        let connections = self.connections
        let refused = self.refused
        let evicted = self.evicted
        let budget = self.budget
        let inFlightBudget = self.inFlightBudget
        do {
            return try await ServerBootstrap(group: self.group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    let id = ObjectIdentifier(channel)
                    let activity = ConnectionActivity(channel: channel, peer: channel.remoteAddress?.ipAddress)
                    let (admitted, victim) = connections.withLockedValue { open -> (Bool, ConnectionActivity?) in
                        var victim: ConnectionActivity? = nil
                        // one address at its own limit makes room only among its own connections, so that it
                        // cannot take the others' share of the server's cap
                        let crowded: ConnectionActivity.Crowding? =
                            if let limit = configuration.maxConnectionsPerPeer, let peer = activity.peer,
                                open.perPeer[peer, default: 0] >= limit
                            {
                                .peer(peer)
                            } else if open.byID.count >= configuration.maxConnections {
                                .server
                            } else {
                                nil
                            }
                        if let crowded {
                            // room for it only by draining the longest-idle connection, a few a second at most
                            let now = NIODeadline.now()
                            guard let age = configuration.evictIdleConnectionsAfter,
                                evicted.withLockedValue({ $0.take(now: now) }),
                                let idle = open.byID.values.longestIdle(atLeast: age, now: now, among: crowded)
                            else { return (false, nil) }
                            idle.markEvicted()
                            victim = idle
                        }
                        open.insert(activity, id: id)
                        return (true, victim)
                    }
                    if let victim {
                        let count = evicted.withLockedValue { evictions in
                            evictions.count += 1
                            return evictions.count
                        }
                        if count % 1000 == 1 {
                            logger.warning(
                                "at the connection limit: draining the longest-idle connections to make room",
                                metadata: ["limit": "\(configuration.maxConnections)", "evicted": "\(count)"]
                            )
                        }
                        victim.channel.eventLoop.execute {
                            victim.channel.pipeline.fireUserInboundEventTriggered(
                                DrainEvent(reason: "an idle connection closed: the server is at its connection limit")
                            )
                        }
                    }
                    guard admitted else {
                        let count = refused.withLockedValue { count in
                            count += 1
                            return count
                        }
                        // one line per thousand refusals: a flood must not flood the log too
                        if count % 1000 == 1 {
                            logger.warning(
                                "refusing connections: at the connection limit (of the server or of one address)",
                                metadata: [
                                    "limit": "\(configuration.maxConnections)",
                                    "per_peer_limit":
                                        "\(configuration.maxConnectionsPerPeer.map(String.init) ?? "none")",
                                    "peer.address": "\(activity.peer ?? "?")", "refused": "\(count)",
                                ]
                            )
                        }
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in
                        connections.withLockedValue { $0.remove(id) }
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        // the context current now: a reload changes new connections, not open ones
                        try sync.addHandler(NIOSSLServerHandler(context: try credentials.serverContext()))
                        try sync.addHandler(
                            ByteToMessageHandler(FrameDecoder(maxPayload: configuration.maxPayload, budget: budget))
                        )
                        try sync.addHandler(FrameEncoder())
                        try sync.addHandler(
                            ServerConnectionHandler(
                                configuration: configuration,
                                service: service,
                                inFlightBudget: inFlightBudget,
                                activity: activity,
                                logger: logger
                            )
                        )
                    }
                }
                .bind(host: self.configuration.host, port: self.configuration.port)
                .get()
        } catch {
            throw TransportError(
                .configuration,
                "cannot listen on \(self.configuration.host):\(self.configuration.port): \(error)"
            )
        }
    }

    private func drain() async {
        let open = self.connections.withLockedValue { $0.byID.values.map(\.channel) }
        self.logger.info("draining", metadata: ["connections": "\(open.count)"])
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
        // each connection closes itself once its last answer is out; the drain timeout cuts the wait short
        await open.waitForClose(timeout: self.configuration.drainTimeout, on: self.group.next())
        self.closeAll()
        self.logger.info("stopped")
    }

    private func closeAll() {
        for channel in self.connections.withLockedValue({ $0.byID.values.map(\.channel) }) {
            channel.close(promise: nil)
        }
    }
}
