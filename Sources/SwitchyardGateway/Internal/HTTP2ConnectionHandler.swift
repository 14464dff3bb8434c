import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import SwitchyardTransport

/// Serves the streams of one HTTP/2 connection straight from its frames: each stream's HEADERS start an
/// ``Exchange``, its DATA feeds it, and its answer goes out as HEADERS and DATA on the same stream.
///
/// No channel per stream: NIO's stream multiplexer costs a channel, a pipeline and their futures per request, which
/// was a third of the router's time per HTTP/2 request. Flow control: the stream window (SETTINGS) covers a
/// whole body, and the connection window is given back as DATA arrives. A stream reset by the client
/// (RST_STREAM) cancels its exchange, and with it the router's work.
final class HTTP2ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let core: GatewayCore
    private var exchanges: [HTTP2StreamID: Exchange] = [:]
    private var executor: EventLoopTaskExecutor?
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?
    /// Streams opened during the current read.
    private var startedInRead: [HTTP2StreamID] = []
    /// Connection-window bytes received and not yet given back.
    private var unacknowledged = 0
    /// Answers were written and a flush at the end of this event-loop tick is due.
    private var flushScheduled = false
    static let connectionWindow = 16 << 20

    /// - Parameter core: the gateway's shared state.
    init(core: GatewayCore) {
        self.core = core
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
        if context.channel.isActive { self.openConnectionWindow(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.openConnectionWindow(context: context)
        context.fireChannelActive()
    }

    private var windowOpened = false

    /// Raises the connection window from the protocol's 64 KiB, so that many streams' bodies arrive at once.
    private func openConnectionWindow(context: ChannelHandlerContext) {
        guard !self.windowOpened else { return }
        self.windowOpened = true
        let frame = HTTP2Frame(
            streamID: .rootStream,
            payload: .windowUpdate(windowSizeIncrement: Self.connectionWindow - 65_535)
        )
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelAll()
        context.fireChannelInactive()
    }

    private func cancelAll() {
        let open = self.exchanges
        self.exchanges.removeAll()
        for exchange in open.values { exchange.cancel() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            if let exchange = self.exchanges.removeValue(forKey: closed.streamID) {
                exchange.cancel()  // reset, or closed before its answer: nobody to answer
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            if let exchange = self.exchanges[frame.streamID] {
                if headers.endStream { exchange.end() }  // trailers end the body
            } else {
                self.open(frame.streamID, headers: headers.headers, endStream: headers.endStream, context: context)
            }
        case .data(let data):
            if case .byteBuffer(let buffer) = data.data {
                self.giveBack(buffer.readableBytes, context: context)
                self.exchanges[frame.streamID]?.receive(buffer)
            }
            if data.endStream { self.exchanges[frame.streamID]?.end() }
        case .rstStream:
            if let exchange = self.exchanges.removeValue(forKey: frame.streamID) { exchange.cancel() }
        default:
            break  // settings, pings, window updates, GOAWAY: the HTTP/2 handler has dealt with them
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        for streamID in self.startedInRead {
            self.exchanges[streamID]?.armBodyTimer()  // the read ended with these bodies incomplete
        }
        self.startedInRead.removeAll(keepingCapacity: true)
        context.fireChannelReadComplete()
    }

    private func giveBack(_ bytes: Int, context: ChannelHandlerContext) {
        self.unacknowledged += bytes
        guard self.unacknowledged >= Self.connectionWindow / 4 else { return }
        let frame = HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: self.unacknowledged))
        self.unacknowledged = 0
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    private func open(_ streamID: HTTP2StreamID, headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext)
    {
        let method = headers.first(name: ":method").map { HTTPMethod(rawValue: $0) } ?? .GET
        let head = RequestHead(
            method: method,
            uri: headers.first(name: ":path") ?? "/",
            authorization: headers.first(name: "authorization"),
            contentLength: headers.first(name: "content-length"),
            contentEncoding: headers.first(name: "content-encoding"),
            expectsContinue: headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" },
            inferenceHeaderLength: headers.first(name: "inference-header-content-length"),
            traceparent: headers.first(name: "traceparent")
        )
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let exchange = Exchange(
            core: self.core,
            head: head,
            eventLoop: context.eventLoop,
            executor: self.executor!,
            allocator: context.channel.allocator,
            peer: { bound.value.peerIdentity() },
            send: { reply, close in bound.value.send(reply, on: streamID, reset: close) },
            sendContinue: { bound.value.sendContinue(on: streamID) }
        )
        self.exchanges[streamID] = exchange
        exchange.start()
        if endStream { exchange.end() } else { self.startedInRead.append(streamID) }
    }

    private func sendContinue(on streamID: HTTP2StreamID) {
        guard let context else { return }
        let frame = HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: [":status": "100"])))
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    /// Writes an answer; `reset` stops a body the client is still sending (NO_ERROR: the answer stands).
    private func send(_ reply: Reply, on streamID: HTTP2StreamID, reset: Bool) {
        guard let context else { return }
        let exchange = self.exchanges.removeValue(forKey: streamID)
        // before the frames: a stream's end may make the connection manager close on the next tick (draining), and
        // this flush must run first
        self.scheduleFlush(context: context)
        var headers = HPACKHeaders()
        headers.reserveCapacity(4 + reply.headers.count)
        headers.add(name: ":status", value: String(reply.status.code))
        if reply.body != nil { headers.add(name: "content-type", value: reply.contentType) }
        headers.add(name: "content-length", value: String(reply.body?.readableBytes ?? 0))
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        let isHead = exchange?.head.method == .HEAD
        let body = isHead ? nil : reply.body
        context.write(
            self.wrapOutboundOut(
                HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: headers, endStream: body == nil)))
            ),
            promise: nil
        )
        if let body {
            context.write(
                self.wrapOutboundOut(
                    HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(body), endStream: true)))
                ),
                promise: nil
            )
        }
        if reset {
            context.write(
                self.wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.noError))),
                promise: nil
            )
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.flushScheduled {  // answers written this tick go out before the close
            self.flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    /// The streams answered in one event-loop tick share one flush: the HTTP/2 handler's work per flush is done once
    /// and their frames leave in one TLS record and one `write` (``WriteCoalescer``), as the wire server's do.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    private func peerIdentity() -> PeerIdentity {
        if let peer = self.peer { return peer }
        let peer = PeerIdentity.of(self.context?.channel)
        self.peer = peer
        return peer
    }
}

@available(*, unavailable)
extension HTTP2ConnectionHandler: Sendable {}
