import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import SwitchyardTransport

/// A minimal HTTP/1.1 client on SwiftNIO for the monitor's webhook and for tests: one request per connection,
/// plain HTTP or HTTPS, bounded by a timeout. (Foundation's URLSession on Linux is not safe under concurrent async
/// use.)
public enum HTTPClient {
    /// Sends one request and reads the whole answer.
    /// - Parameters:
    ///   - method: `GET`, `POST`, ...
    ///   - url: an `http://host:port/path?query` URL, or `https://` with `tls`.
    ///   - body: the request body.
    ///   - contentType: its `Content-Type`.
    ///   - headers: more request headers, e.g. `Authorization`.
    ///   - tls: for `https://`: the CA the server's certificate must chain to, and a client certificate if given.
    ///   - timeout: connecting, sending and reading must finish within this.
    /// - Returns: the status code and body.
    /// - Throws: `HTTPClientError` for a bad URL or a timeout; NIO's errors when the connection fails.
    public static func send(
        _ method: String = "GET",
        _ url: String,
        body: [UInt8] = [],
        contentType: String = "application/json",
        headers extra: [(name: String, value: String)] = [],
        tls: TLSSettings? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> (status: Int, body: [UInt8]) {
        let secure = url.hasPrefix("https://")
        guard url.hasPrefix("http://") || (secure && tls != nil) else {
            throw HTTPClientError("only http:// URLs, or https:// with TLS settings: \(url)")
        }
        let context = try secure ? tls?.makeHTTPSClientContext() : nil
        let rest = url.dropFirst(secure ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let host: String
        let port: Int
        if let colon = authority.lastIndex(of: ":"), let number = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon]).trimmingCharacters(in: ["[", "]"])
            port = number
        } else {
            host = String(authority)
            port = secure ? 443 : 80
        }
        return try await withThrowingTaskGroup(of: (Int, [UInt8])?.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(
                        .milliseconds(
                            Int64(
                                timeout.components.seconds * 1000 + timeout.components.attoseconds
                                    / 1_000_000_000_000_000
                            )
                        )
                    )
                    .connect(host: host, port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let context {
                                let name =
                                    host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOSSLClientHandler(context: context, serverHostname: name)
                                )
                            }
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                                wrappingChannelSynchronously: channel
                            )
                        }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: String(authority))
                    headers.add(name: "Connection", value: "close")
                    headers.add(name: "Content-Length", value: "\(body.count)")
                    if !body.isEmpty { headers.add(name: "Content-Type", value: contentType) }
                    for header in extra { headers.add(name: header.name, value: header.value) }
                    try await outbound.write(
                        .head(
                            HTTPRequestHead(
                                version: .http1_1,
                                method: HTTPMethod(rawValue: method),
                                uri: path,
                                headers: headers
                            )
                        )
                    )
                    if !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                    try await outbound.write(.end(nil))
                    var status = 0
                    var received: [UInt8] = []
                    for try await part in inbound {
                        switch part {
                        case .head(let head): status = Int(head.status.code)
                        case .body(var buffer): received += buffer.readBytes(length: buffer.readableBytes) ?? []
                        case .end: return (status, received)
                        }
                    }
                    return (status, received)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else {
                throw HTTPClientError("no answer from \(url) within \(timeout)")
            }
            return answer
        }
    }
}

/// An HTTP request that could not be made or was not answered in time.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
