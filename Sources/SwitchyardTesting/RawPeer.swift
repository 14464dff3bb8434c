import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
public import NIOSSL
import NIOTLS
public import SwitchyardWire
import SwitchyardTensor

/// A bare socket peer for protocol tests: sends whatever bytes a test wants (malformed frames, partial
/// frames, plaintext on a TLS port) and collects what comes back. Every wait is bounded.
public final class RawPeer: Sendable {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox<[UInt8]>([])
        let closed = NIOLockedValueBox(false)
        let alpn = NIOLockedValueBox<String?>(nil)
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            self.received.withLockedValue { $0 += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            self.closed.withLockedValue { $0 = true }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
                self.alpn.withLockedValue { $0 = negotiated ?? "" }
            }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private let channel: any Channel
    let collector: Collector
    /// Bytes of `collector.received` already handed out.
    let consumed = NIOLockedValueBox(0)

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects to `127.0.0.1:port`, over TLS when `tls` is given.
    /// - Parameters:
    ///   - port: the server's port.
    ///   - tls: a client TLS context, or `nil` for plaintext.
    ///   - source: the local address to connect from (another loopback address, e.g. `127.0.0.2`, looks like another
    ///     host to the server); the system's choice when `nil`.
    public static func connect(port: Int, tls: NIOSSLContext?, from source: String? = nil) async throws -> RawPeer {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .connectTimeout(.seconds(20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: nil)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawPeer(channel: channel, collector: collector)
    }

    /// Sends bytes as they are.
    public func send(_ bytes: [UInt8]) async throws {
        var buffer = self.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await self.channel.writeAndFlush(buffer).get()
    }

    /// Sends an encoded frame.
    public func send(_ frame: Frame) async throws { try await self.send(frame.encoded()) }

    /// Sends a client HELLO and waits for the server's.
    /// - Returns: the server's HELLO.
    public func handshake(
        identity: String = "raw",
        parameters: [Parameter] = [],
        timeout: Duration = .seconds(20)
    ) async throws -> Hello? {
        try await self.send(.hello(Hello(maxInFlight: 0, identity: identity, parameters: parameters)))
        guard case .hello(let hello)? = try await self.nextFrame(timeout: timeout) else { return nil }
        return hello
    }

    /// The next complete frame from the server, or `nil` if the connection closes or `timeout` passes first (the
    /// defaults are generous: they bound waits for something that should happen, on a machine busy with other tests).
    public func nextFrame(timeout: Duration = .seconds(20)) async throws -> Frame? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let bytes = self.collector.received.withLockedValue { $0 }
            if let (frame, end) = try completeFrame(in: bytes, from: self.consumed.withLockedValue { $0 }) {
                self.consumed.withLockedValue { $0 = end }
                return frame
            }
            if self.collector.closed.withLockedValue({ $0 }) { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    /// Whether the server closed the connection within `timeout`.
    public func waitUntilClosed(timeout: Duration = .seconds(20)) async -> Bool {
        await poll(timeout: timeout) { self.collector.closed.withLockedValue { $0 } }
    }

    /// The ALPN protocol the TLS handshake settled on (`""` for none), once the handshake finished.
    public var negotiatedALPN: String? { self.collector.alpn.withLockedValue { $0 } }

    /// Closes the connection.
    public func close() async { try? await self.channel.close().get() }
}

/// The frame that starts at `start` in `bytes` and where it ends, or `nil` while it is incomplete.
func completeFrame(in bytes: [UInt8], from start: Int) throws -> (Frame, Int)? {
    guard bytes.count - start >= FrameHeader.size else { return nil }
    let length = bytes[(start + 12)..<(start + 16)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let end = start + FrameHeader.size + length
    guard bytes.count >= end else { return nil }
    return (try Frame(decoding: Array(bytes[start..<end])), end)
}

/// Whether `condition` holds within `timeout`, checked every 2 ms.
func poll(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return condition()
}
