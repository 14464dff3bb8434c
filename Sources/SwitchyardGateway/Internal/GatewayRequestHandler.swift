import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchyardTransport

/// Serves the requests of one HTTP/1.1 connection straight from NIO's request decoder: each request becomes an
/// ``Exchange``, and its answer goes out as one buffer (status line, headers and a small body) with keep-alive or
/// `Connection: close`.
///
/// In place of NIO's pipelining, response-encoding, header-validating and protocol-error handlers: those cost the
/// router about a tenth of its time per request (three writes through four handlers, and a join of head and body
/// for one TLS record). Their duties are here: pipelined requests are held, and reading paused, until the answer
/// before them is out, so answers keep the requests' order; an unparsable request gets `{"error": ...}` (431 for
/// oversized headers, 400 otherwise) in its turn and the connection closes; a drain closes each connection after
/// the answer in progress. The headers written are the gateway's own, so they need no validation.
///
/// When the connection closes mid-request, the exchange is cancelled, and so is the router's work on it.
final class GatewayRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What arrived behind a request whose answer is not out yet.
    private enum Queued {
        case part(HTTPServerRequestPart)
        case malformed(HTTPParserError)
    }

    /// A body this large goes out as a buffer of its own rather than being copied behind the head.
    static let copyLimit = 16 * 1024

    private let core: GatewayCore
    private let timeouts: ConnectionTimeoutHandler
    private var exchange: Exchange?
    /// From a request's head until its answer is written.
    private var inFlight = false
    private var queued = CircularBuffer<Queued>()
    private var unqueueing = false
    private var readDeferred = false
    /// Draining: the answer in progress is the connection's last.
    private var quiescing = false
    /// An answer with `Connection: close` went out: whatever arrives after it is dropped.
    private var closing = false
    private var version = HTTPVersion.http1_1
    private var keepAlive = true
    private var isHead = false
    private var executor: EventLoopTaskExecutor?
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?

    /// - Parameters:
    ///   - core: the gateway's shared state.
    ///   - timeouts: the connection's idle and header timer, told when requests start and end.
    init(core: GatewayCore, timeouts: ConnectionTimeoutHandler) {
        self.core = core
        self.timeouts = timeouts
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.exchange?.cancel()
        self.exchange = nil
        self.queued.removeAll()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.exchange?.cancel()
        self.exchange = nil
        self.queued.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            self.core.logger.debug("http connection failed", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        // the decoder is done with this connection: answer in turn, after any request still being served
        if self.inFlight || !self.queued.isEmpty {
            self.queued.append(.malformed(parserError))
        } else {
            self.refuse(parserError)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            self.quiescing = true
            if !self.inFlight && self.queued.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.closing else { return }
        let part = self.unwrapInboundIn(data)
        if !self.queued.isEmpty {
            self.queued.append(.part(part))
        } else if self.inFlight, case .head = part {
            self.queued.append(.part(part))  // pipelined: served once the answer before it is out
        } else {
            self.serve(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.exchange?.armBodyTimer()  // the read ended with the body incomplete
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if self.queued.isEmpty {
            context.read()
        } else {
            self.readDeferred = true  // pipelined requests wait: read no more until they are served
        }
    }

    private func serve(_ part: HTTPServerRequestPart) {
        guard let context = self.context else { return }
        switch part {
        case .head(let head):
            self.timeouts.requestHeadReceived()
            self.inFlight = true
            self.version = head.version
            self.keepAlive = head.isKeepAlive
            self.isHead = head.method == .HEAD
            let headers = head.headers
            let request = RequestHead(
                method: head.method,
                uri: head.uri,
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
                head: request,
                eventLoop: context.eventLoop,
                executor: self.executor!,
                allocator: context.channel.allocator,
                peer: { bound.value.peerIdentity() },
                send: { reply, close in bound.value.send(reply, close: close) },
                sendContinue: { bound.value.sendContinue() }
            )
            self.exchange = exchange
            exchange.start()
        case .body(let buffer):
            self.exchange?.receive(buffer)
        case .end:
            self.exchange?.end()
        }
    }

    /// Serves what was held behind the answer just written, up to the next request that must wait for its own.
    private func unqueue() {
        guard !self.unqueueing else { return }  // an answer written while serving the queue: the loop goes on
        self.unqueueing = true
        defer { self.unqueueing = false }
        while !self.closing, let next = self.queued.first {
            if self.inFlight, case .part(.head) = next { break }
            if self.inFlight, case .malformed = next { break }
            self.queued.removeFirst()
            switch next {
            case .part(let part): self.serve(part)
            case .malformed(let error): self.refuse(error)
            }
        }
        if self.queued.isEmpty, self.readDeferred, let context = self.context {
            self.readDeferred = false
            context.read()
        }
    }

    private func sendContinue() {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 32)
        buffer.writeString("HTTP/\(self.version.major).\(self.version.minor) 100 Continue\r\n\r\n")
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func send(_ reply: Reply, close: Bool) {
        guard let context, !self.closing else { return }
        let closing = close || !self.keepAlive || self.quiescing
        self.exchange = nil
        self.inFlight = false
        self.write(reply, closing: closing, context: context)
        if !closing { self.unqueue() }
    }

    /// Answers a request the decoder could not parse, and closes the connection after it.
    private func refuse(_ error: HTTPParserError) {
        guard let context, !self.closing else { return }
        let (status, message): (HTTPResponseStatus, String) =
            error == .headerOverflow
            ? (.requestHeaderFieldsTooLarge, "the request's headers are over the limit")
            : (.badRequest, "malformed HTTP request: \(error)")
        self.core.metrics.record(endpoint: "malformed", code: Int(status.code), since: .now())
        self.isHead = false
        let reply = Reply(status: status, body: MetadataEncoder.error(message, allocator: context.channel.allocator))
        self.write(reply, closing: true, context: context)
    }

    /// Writes an answer as one buffer (a large body as a second one) and flushes it; closes after it if `closing`.
    private func write(_ reply: Reply, closing: Bool, context: ChannelHandlerContext) {
        let body = self.isHead ? nil : reply.body  // HEAD: the length of the body that is not sent
        let inline = body.map { $0.readableBytes < Self.copyLimit } ?? true
        var buffer = context.channel.allocator.buffer(capacity: 256 + (inline ? body?.readableBytes ?? 0 : 0))
        func line(_ name: String, _ value: String) {
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        let status = reply.status
        if status == .ok, self.version == .http1_1 {
            buffer.writeStaticString("HTTP/1.1 200 OK\r\n")
        } else {
            buffer.writeString(
                "HTTP/\(self.version.major).\(self.version.minor) \(status.code) \(status.reasonPhrase)\r\n"
            )
        }
        if reply.body != nil { line("content-type", reply.contentType) }
        line("content-length", String(reply.body?.readableBytes ?? 0))
        for (name, value) in reply.headers { line(name, value) }
        if closing {
            line("connection", "close")
        } else if self.version == .http1_0 {
            line("connection", "keep-alive")  // an HTTP/1.0 client closes unless told otherwise
        }
        buffer.writeStaticString("\r\n")
        if let body, inline { buffer.writeImmutableBuffer(body) }
        if closing {
            self.closing = true
            self.queued.removeAll()
        } else {
            self.timeouts.responseCompleted()  // before the answer goes out: the next request may arrive during it
        }
        let written: EventLoopFuture<Void>
        if let body, !inline {
            context.write(self.wrapOutboundOut(buffer), promise: nil)
            written = context.writeAndFlush(self.wrapOutboundOut(body))
        } else {
            written = context.writeAndFlush(self.wrapOutboundOut(buffer))
        }
        if closing {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Who is calling: the client certificate's names under mutual TLS, else an anonymous HTTP client.
    private func peerIdentity() -> PeerIdentity {
        if let peer = self.peer { return peer }
        let peer = PeerIdentity.of(self.context?.channel)
        self.peer = peer
        return peer
    }
}

@available(*, unavailable)
extension GatewayRequestHandler: Sendable {}

extension PeerIdentity {
    /// The caller on `channel` (a connection): its client certificate's names under mutual TLS, else anonymous.
    static func of(_ channel: (any Channel)?) -> PeerIdentity {
        var peer = PeerIdentity(announced: "http")
        if let channel, let tls = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let certificate = tls.peerCertificate
        {
            peer = PeerIdentity(certificate: certificate)  // CN, OUs and URI SANs: the authorization policy's input
            peer.announced = "http"
        }
        return peer
    }
}
