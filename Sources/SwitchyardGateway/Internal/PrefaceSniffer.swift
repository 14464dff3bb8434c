import NIOCore

/// Tells HTTP/2 with prior knowledge (h2c, or h2 over TLS without ALPN) from HTTP/1.1 by the first bytes: an
/// HTTP/2 client opens with `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. Configures the pipeline for the one it sees,
/// replays what it read and removes itself.
final class PrefaceSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private let configure: (_ channel: any Channel, _ http2: Bool) throws -> Void
    private var buffered: ByteBuffer?
    private var decided = false

    /// - Parameter configure: adds the handlers for HTTP/2 (`true`) or HTTP/1.1 after this one.
    init(configure: @escaping (_ channel: any Channel, _ http2: Bool) throws -> Void) {
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.decided else {
            context.fireChannelRead(data)
            return
        }
        var bytes = self.unwrapInboundIn(data)
        if self.buffered == nil {
            self.buffered = bytes
        } else {
            self.buffered!.writeBuffer(&bytes)
        }
        let seen = self.buffered!.readableBytesView
        let compared = min(seen.count, Self.preface.count)
        let matches = seen.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        guard !matches || compared == Self.preface.count else { return }  // not enough bytes to tell yet
        self.decided = true
        do {
            try self.configure(context.channel, matches)
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        let replay = self.buffered!
        self.buffered = nil
        context.fireChannelRead(self.wrapInboundOut(replay))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension PrefaceSniffer: Sendable {}
