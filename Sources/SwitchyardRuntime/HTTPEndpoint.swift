import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// One HTTP request as an ``HTTPEndpoint`` hands it to its handler.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The path without the query (`/metrics`).
    public var path: String
    /// The query's parameters (`?minutes=15` gives `["minutes": "15"]`), not percent-decoded beyond `+`.
    public var query: [String: String]
    /// The request body (at most 1 MiB).
    public var body: [UInt8]
}

/// The answer to an ``HTTPRequest``.
public struct HTTPReply: Sendable {
    /// The status code.
    public var status: Int
    /// The `Content-Type` header.
    public var contentType: String
    /// The body.
    public var body: [UInt8]

    /// Makes a reply.
    /// - Parameters:
    ///   - status: the status code.
    ///   - contentType: the `Content-Type`.
    ///   - body: the body bytes.
    public init(status: Int = 200, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text reply.
    public static func text(_ text: String, status: Int = 200) -> HTTPReply {
        HTTPReply(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    /// The Prometheus text exposition format.
    public static func prometheus(_ body: [UInt8]) -> HTTPReply {
        HTTPReply(contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
    }

    /// 404 for an unknown path.
    public static let notFound = HTTPReply.text("not found\n", status: 404)
}

/// A small HTTP/1.1 server for operators and scrapers (`/metrics`, `/healthz`, the monitor's dashboard): plain
/// HTTP, one request per connection, answered by a handler.
///
/// It is not on the request path: the mesh's traffic uses the wire protocol. Run it as a `Service`.
public final class HTTPEndpoint: Service, Sendable {
    private let host: String
    private let port: Int
    private let name: String
    private let logger: Logger
    private let handler: @Sendable (HTTPRequest) async -> HTTPReply
    private let address: EventLoopPromise<SocketAddress>

    /// Makes an endpoint; nothing is bound until `run()`.
    /// - Parameters:
    ///   - host: the address to listen on.
    ///   - port: the port; 0 picks a free one (logged, and given by ``localAddress()``).
    ///   - name: what it serves, for its log line (`metrics`, `dashboard`).
    ///   - logger: for its log line and connection errors.
    ///   - handler: answers each request.
    public init(
        host: String,
        port: Int,
        name: String,
        logger: Logger,
        handler: @escaping @Sendable (HTTPRequest) async -> HTTPReply
    ) {
        self.host = host
        self.port = port
        self.name = name
        self.logger = logger
        self.handler = handler
        self.address = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: SocketAddress.self)
    }

    /// The bound address, once `run()` has bound.
    /// - Throws: the bind error.
    public func localAddress() async throws -> SocketAddress { try await self.address.futureResult.get() }

    /// Binds and serves until graceful shutdown or cancellation.
    /// - Throws: when the address cannot be bound.
    public func run() async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: self.host, port: self.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel
                        )
                    }
                }
        } catch {
            self.address.fail(error)
            throw error
        }
        let bound = server.channel.localAddress!
        self.address.succeed(bound)
        self.logger.info(
            "http endpoint up",
            metadata: ["http.serves": "\(self.name)", "http.url": "http://\(Self.hostPort(bound))/"]
        )
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // shutting down: the listener and the connections in flight are closed
        }
    }

    static func hostPort(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "127.0.0.1"
        return ip.contains(":") ? "[\(ip)]:\(address.port ?? 0)" : "\(ip):\(address.port ?? 0)"
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let value):
                        head = value
                    case .body(var buffer):
                        guard body.count + buffer.readableBytes <= 1 << 20 else {
                            try await Self.write(
                                .text("request body over 1 MiB\n", status: 413),
                                version: head?.version,
                                to: outbound
                            )
                            return
                        }
                        body += buffer.readBytes(length: buffer.readableBytes) ?? []
                    case .end:
                        guard let head else { return }
                        let (path, query) = Self.split(head.uri)
                        let reply = await self.handler(
                            HTTPRequest(method: head.method.rawValue, path: path, query: query, body: body)
                        )
                        try await Self.write(reply, version: head.version, to: outbound)
                        return
                    }
                }
            }
        } catch {
            self.logger.debug("http connection failed", metadata: ["error": "\(error)"])
        }
    }

    private static func write(
        _ reply: HTTPReply,
        version: HTTPVersion?,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: "\(reply.body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(
            version: version ?? .http1_1,
            status: HTTPResponseStatus(statusCode: reply.status),
            headers: headers
        )
        try await outbound.write(.head(head))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: reply.body))))
        try await outbound.write(.end(nil))
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]).replacingOccurrences(of: "+", with: " ")
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            query[key.removingPercentEncoding ?? key] = value.removingPercentEncoding ?? value
        }
        return (String(uri[..<mark]), query)
    }
}
