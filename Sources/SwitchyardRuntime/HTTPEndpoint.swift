import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import ServiceLifecycle
public import SwitchyardTransport

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
    /// The `Authorization` header, e.g. `Bearer abc...`.
    public var authorization: String? = nil
    /// The client certificate's names, on an HTTPS endpoint whose client presented one (verified against the CA).
    public var peer: PeerIdentity? = nil
}

/// Who may use an ``HTTPEndpoint``: HTTPS with the service's certificate, and on every path but the open ones a
/// request the `allows` check accepts (a bearer token, or a client certificate with the right role); others are
/// answered 401.
public struct HTTPAccess: Sendable {
    /// The service's TLS material (reloadable): its certificate and key, and the CA that client certificates must
    /// chain to (a client certificate is optional).
    public var credentials: TLSCredentials
    /// Paths served to anyone (e.g. `/healthz`, a page without data).
    public var openPaths: Set<String>
    /// Whether a request, by its `Authorization` header and client certificate, may be served.
    public var allows: @Sendable (_ authorization: String?, _ peer: PeerIdentity?) -> Bool

    /// Makes access rules.
    /// - Parameters:
    ///   - credentials: the TLS material.
    ///   - openPaths: paths served without credentials.
    ///   - allows: the check every other request passes.
    public init(
        credentials: TLSCredentials,
        openPaths: Set<String>,
        allows: @escaping @Sendable (_ authorization: String?, _ peer: PeerIdentity?) -> Bool
    ) {
        self.credentials = credentials
        self.openPaths = openPaths
        self.allows = allows
    }
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

    /// 401 for a request without an accepted token or certificate.
    public static let unauthorized = HTTPReply.text(
        "unauthorized: send 'Authorization: Bearer <token>' or a client certificate with a role allowed here\n",
        status: 401
    )
}

/// A small HTTP/1.1 server for operators and scrapers (`/metrics`, `/healthz`, the monitor's dashboard): plain
/// HTTP, or HTTPS with access rules (``HTTPAccess``); one request per connection, answered by a handler.
///
/// It is not on the request path: the mesh's traffic uses the wire protocol. Run it as a `Service`.
public final class HTTPEndpoint: Service, Sendable {
    private let host: String
    private let port: Int
    private let name: String
    private let logger: Logger
    private let handler: @Sendable (HTTPRequest) async -> HTTPReply
    private let address: EventLoopPromise<SocketAddress>
    private let access: HTTPAccess?
    /// The HTTPS context and the credentials' generation it was made from: remade after a reload.
    private let context = NIOLockedValueBox<(generation: Int, context: NIOSSLContext)?>(nil)

    /// Makes an endpoint; nothing is bound until `run()`.
    /// - Parameters:
    ///   - host: the address to listen on.
    ///   - port: the port; 0 picks a free one (logged, and given by ``localAddress()``).
    ///   - name: what it serves, for its log line (`metrics`, `dashboard`).
    ///   - logger: for its log line and connection errors.
    ///   - access: HTTPS and who may call; `nil` serves plain HTTP to anyone.
    ///   - handler: answers each request.
    public init(
        host: String,
        port: Int,
        name: String,
        logger: Logger,
        access: HTTPAccess? = nil,
        handler: @escaping @Sendable (HTTPRequest) async -> HTTPReply
    ) {
        self.host = host
        self.port = port
        self.name = name
        self.logger = logger
        self.access = access
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
            if self.access != nil { _ = try self.tlsContext() }  // a certificate that does not load fails here
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: self.host, port: self.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if self.access != nil {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLServerHandler(context: self.tlsContext())
                            )
                        }
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
            metadata: [
                "http.serves": "\(self.name)",
                "http.url": "\(self.access == nil ? "http" : "https")://\(Self.hostPort(bound))/",
            ]
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

    private func tlsContext() throws -> NIOSSLContext {
        guard let credentials = self.access?.credentials else {
            throw TransportError(.configuration, "\(self.name): no TLS credentials")
        }
        let generation = credentials.generation
        if let current = self.context.withLockedValue({ $0 }), current.generation == generation {
            return current.context
        }
        let made = try credentials.settings.makeHTTPSServerContext()
        self.context.withLockedValue { $0 = (generation, made) }
        return made
    }

    /// The client certificate's names on an HTTPS connection, when the client presented one.
    private static func peer(of channel: any Channel) async -> PeerIdentity? {
        try? await channel.eventLoop.submit { () -> PeerIdentity? in
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            return tls.peerCertificate.map { PeerIdentity(certificate: $0) }
        }.get()
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
                        var request = HTTPRequest(method: head.method.rawValue, path: path, query: query, body: body)
                        request.authorization = head.headers["authorization"].first
                        let reply: HTTPReply
                        if let access = self.access {
                            request.peer = await Self.peer(of: connection.channel)
                            if access.openPaths.contains(path) || access.allows(request.authorization, request.peer) {
                                reply = await self.handler(request)
                            } else {
                                reply = .unauthorized
                            }
                        } else {
                            reply = await self.handler(request)
                        }
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
        if reply.status == 401 { headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"switchyard\"") }
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
