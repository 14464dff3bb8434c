import NIOCore

/// Bounds the time an HTTP/1.1 connection may hold the server while no request is being handled: a new
/// connection must send its first request's headers within the header timeout (TLS handshake included), an idle
/// keep-alive connection is closed after the idle timeout, and once a request's first bytes arrive its headers
/// must be complete within the header timeout (a slow-headers client gets 408 and the connection closes).
///
/// It sits right after TLS and sees the raw bytes; the request handler tells it when a request's head arrived
/// and when its answer was written. For HTTP/2 connections it is disarmed: the HTTP/2 connection manager takes
/// over idleness.
final class ConnectionTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        /// Waiting for a request's head; `bytesSeen` once some of it arrived.
        case awaitingHead(bytesSeen: Bool)
        /// A request is being received or answered: its own timers apply.
        case inRequest
        case disarmed
    }

    private let headerTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var state = State.awaitingHead(bytesSeen: false)
    /// When the connection's wait for a request head ends; `distantFuture` while a request is handled.
    private var deadline = NIODeadline.distantFuture
    /// The one timer, and when it fires. It is not moved for every request (cancelling and scheduling timers cost
    /// the event loop more than the rest of this handler): when it fires early it checks the deadline and sleeps on.
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture
    private var context: ChannelHandlerContext?

    init(headerTimeout: Duration, idleTimeout: Duration) {
        self.headerTimeout = TimeAmount(headerTimeout)
        self.idleTimeout = TimeAmount(idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.arm(at: .now() + self.headerTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.state = .disarmed
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .awaitingHead(bytesSeen: false) = self.state else { return context.fireChannelRead(data) }
        self.state = .awaitingHead(bytesSeen: true)
        let limit = NIODeadline.now() + self.headerTimeout
        context.fireChannelRead(data)
        // armed only when the read ended inside a head: a whole head in one read (the usual case) needs no timer
        if case .awaitingHead(bytesSeen: true) = self.state, limit < self.deadline {
            self.arm(at: limit, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, case .awaitingHead = self.state {
            self.state = .disarmed  // draining: a connection between requests has nothing to finish
            self.timer?.cancel()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A request's head was decoded: the request's own timers take over.
    func requestHeadReceived() {
        self.state = .inRequest
        self.deadline = .distantFuture
    }

    /// A request was answered and the connection stays open: idle until the next one.
    func responseCompleted() {
        guard case .inRequest = self.state, let context else { return }
        self.state = .awaitingHead(bytesSeen: false)
        self.arm(at: .now() + self.idleTimeout, context: context)
    }

    /// The connection speaks HTTP/2, which manages its own idleness.
    func disarm() {
        self.state = .disarmed
        self.timer?.cancel()
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.deadline = deadline
        guard self.timer == nil || deadline < self.timerDeadline else { return }  // it fires first and sleeps on
        self.schedule(at: deadline, context: context)
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.fired(context: context)
        }
    }

    private func fired(context: ChannelHandlerContext) {
        self.timer = nil
        self.timerDeadline = .distantFuture
        guard case .awaitingHead(let seen) = self.state else { return }  // in a request: armed again at its end
        guard NIODeadline.now() >= self.deadline else { return self.schedule(at: self.deadline, context: context) }
        self.state = .disarmed
        guard seen else {
            context.close(promise: nil)  // idle, or a handshake that never finished: nothing to answer
            return
        }
        let message = "the request's headers did not arrive within \(self.headerTimeout.nanoseconds / 1_000_000_000) s"
        var body = MetadataEncoder.error(message, allocator: context.channel.allocator)
        var response = context.channel.allocator.buffer(capacity: 160 + body.readableBytes)
        response.writeString(
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                + "content-length: \(body.readableBytes)\r\nconnection: close\r\n\r\n"
        )
        response.writeBuffer(&body)
        context.writeAndFlush(NIOAny(response)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension ConnectionTimeoutHandler: Sendable {}
