import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import NIOSSL
public import SwitchyardWire

/// A bare TLS server for protocol tests of clients: takes one connection on a loopback port, sends whatever bytes a
/// test wants and hands over the client's frames one by one. Every wait is bounded.
public final class RawServer: Sendable {
    private final class Connection: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox<[UInt8]>([])
        let channel = NIOLockedValueBox<(any Channel)?>(nil)
        let closed = NIOLockedValueBox(false)

        func channelActive(context: ChannelHandlerContext) {
            self.channel.withLockedValue { $0 = context.channel }
            context.fireChannelActive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            self.received.withLockedValue { $0 += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) { self.closed.withLockedValue { $0 = true } }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private let listener: any Channel
    private let connection: Connection
    private let consumed = NIOLockedValueBox(0)

    /// The port it listens on (127.0.0.1).
    public var port: Int { self.listener.localAddress?.port ?? 0 }

    private init(listener: any Channel, connection: Connection) {
        self.listener = listener
        self.connection = connection
    }

    /// Listens on `127.0.0.1`, port 0, with TLS from `context`; the first connection is the one this server serves.
    /// - Parameter tls: a server context offering the `switchyard/1` ALPN name.
    public static func start(tls: NIOSSLContext) async throws -> RawServer {
        let connection = Connection()
        let taken = NIOLockedValueBox(false)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                let first = taken.withLockedValue { taken in
                    defer { taken = true }
                    return !taken
                }
                guard first else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RawServer(listener: listener, connection: connection)
    }

    /// Sends bytes as they are.
    /// - Throws: when no client is connected or the write fails.
    public func send(_ bytes: [UInt8]) async throws {
        guard let channel = self.connection.channel.withLockedValue({ $0 }) else {
            throw RawServerError("no client is connected")
        }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    }

    /// The next complete frame from the client, or `nil` if the connection closes or `timeout` passes first.
    /// - Throws: `WireError` when the client's bytes are not a frame.
    public func nextFrame(timeout: Duration = .seconds(20)) async throws -> Frame? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let bytes = self.connection.received.withLockedValue { $0 }
            if let (frame, end) = try completeFrame(in: bytes, from: self.consumed.withLockedValue { $0 }) {
                self.consumed.withLockedValue { $0 = end }
                return frame
            }
            if self.connection.closed.withLockedValue({ $0 }) { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    /// Whether the client closed the connection within `timeout`.
    public func waitUntilClosed(timeout: Duration = .seconds(20)) async -> Bool {
        await poll(timeout: timeout) { self.connection.closed.withLockedValue { $0 } }
    }

    /// Closes the connection and stops listening.
    public func close() async {
        if let channel = self.connection.channel.withLockedValue({ $0 }) { try? await channel.close().get() }
        try? await self.listener.close().get()
    }
}

/// A misuse of ``RawServer``.
public struct RawServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
