import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Opens `count` HTTP/1.1 keep-alive connections to a gateway, sends one request on each, and keeps them open and
/// idle: what an idle connection costs the server is its memory while this holds them.
final class HeldConnections: Sendable {
    private final class Answered: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let seen = NIOLockedValueBox<[UInt8]>([])
        let done: EventLoopPromise<Void>

        init(done: EventLoopPromise<Void>) { self.done = done }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            let complete = self.seen.withLockedValue { seen -> Bool in
                seen += buffer.readableBytesView
                guard let text = String(bytes: seen, encoding: .utf8), let end = text.range(of: "\r\n\r\n") else {
                    return false
                }
                return text.hasPrefix("HTTP/1.1 200") && text[end.upperBound...].isEmpty  // health answers have no body
            }
            if complete { self.done.succeed() }
        }

        func channelInactive(context: ChannelHandlerContext) { self.done.fail(ChannelError.ioOnClosedChannel) }
    }

    let channels: [any Channel]

    private init(channels: [any Channel]) { self.channels = channels }

    /// Connects and makes one request on each connection.
    /// - Parameters:
    ///   - host: the gateway's address.
    ///   - port: its HTTP port.
    ///   - count: connections to open.
    ///   - tls: a client TLS context, or `nil` for plaintext.
    ///   - token: a bearer token to send, if any.
    static func open(host: String, port: Int, count: Int, tls: NIOSSLContext?, token: String?) async throws
        -> HeldConnections
    {
        var channels: [any Channel] = []
        var request = "GET /v2/health/live HTTP/1.1\r\nhost: \(host)\r\n"
        if let token { request += "authorization: Bearer \(token)\r\n" }
        request += "\r\n"
        for _ in 0..<count {
            let group = MultiThreadedEventLoopGroup.singleton
            let done = group.next().makePromise(of: Void.self)
            let channel = try await ClientBootstrap(group: done.futureResult.eventLoop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: nil))
                        }
                        try channel.pipeline.syncOperations.addHandler(Answered(done: done))
                    }
                }
                .connect(host: host, port: port).get()
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            try await done.futureResult.get()
            channels.append(channel)
        }
        return HeldConnections(channels: channels)
    }

    /// How many are still open (the server may close idle connections).
    var open: Int { self.channels.filter(\.isActive).count }

    /// Closes them all.
    func close() async {
        for channel in self.channels { try? await channel.close().get() }
    }
}
