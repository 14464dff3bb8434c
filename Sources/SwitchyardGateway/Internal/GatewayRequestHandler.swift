import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchyardTransport

/// Serves the requests of one HTTP/1.1 connection, one at a time as NIO's pipelining handler hands them over:
/// each becomes an ``Exchange``, whose answer goes out here with keep-alive or `Connection: close`.
///
/// When the connection closes mid-request, the exchange is cancelled, and so is the router's work on it.
final class GatewayRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: GatewayCore
    private let timeouts: ConnectionTimeoutHandler
    private var exchange: Exchange?
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
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.exchange?.cancel()
        self.exchange = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.core.logger.debug("http connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.timeouts.requestHeadReceived()
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

    func channelReadComplete(context: ChannelHandlerContext) {
        self.exchange?.armBodyTimer()  // the read ended with the body incomplete
        context.fireChannelReadComplete()
    }

    private func sendContinue() {
        guard let context else { return }
        context.writeAndFlush(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: self.version, status: .continue))),
            promise: nil
        )
    }

    private func send(_ reply: Reply, close: Bool) {
        guard let context else { return }
        let closing = close || !self.keepAlive
        var headers = HTTPHeaders()
        if reply.body != nil { headers.add(name: "content-type", value: reply.contentType) }
        headers.add(name: "content-length", value: "\(reply.body?.readableBytes ?? 0)")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if closing { headers.add(name: "connection", value: "close") }
        context.write(
            self.wrapOutboundOut(
                .head(HTTPResponseHead(version: self.version, status: reply.status, headers: headers))
            ),
            promise: nil
        )
        if let body = reply.body, !self.isHead {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.exchange = nil
        if closing {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            // before the end goes out: a pipelined request may arrive during the write
            self.timeouts.responseCompleted()
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
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
