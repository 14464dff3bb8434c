import NIOCore
import NIOHTTP1

/// Answers an HTTP/1.1 request that cannot be parsed (a malformed request line, a bad header, a wrong
/// `Content-Length`, headers over the limit) with `{"error": ...}` — 431 for oversized headers, 400 otherwise —
/// and lets the decoder close the connection. In place of NIO's handler, which answers with an empty body.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responding = false
    private let metrics: GatewayMetrics

    init(metrics: GatewayMetrics) { self.metrics = metrics }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !self.responding {
            let (status, message): (HTTPResponseStatus, String) =
                parserError == .headerOverflow
                ? (.requestHeaderFieldsTooLarge, "the request's headers are over the limit")
                : (.badRequest, "malformed HTTP request: \(parserError)")
            let body = MetadataEncoder.error(message, allocator: context.channel.allocator)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: "\(body.readableBytes)")
            headers.add(name: "connection", value: "close")
            context.write(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            self.metrics.record(endpoint: "malformed", code: Int(status.code), since: .now())
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: self.responding = true
        case .end: self.responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ProtocolErrorHandler: Sendable {}
