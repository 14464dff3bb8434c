import Foundation
import NIOConcurrencyHelpers

/// An HTTP/1.1 response as a ``RawPeer`` read it.
public struct RawHTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header names in lower case, with their values.
    public var headers: [String: String]
    /// The body (as long as `Content-Length` says).
    public var body: [UInt8]

    /// The body as text.
    public var text: String { String(decoding: self.body, as: UTF8.self) }

    /// The body as a JSON object, when it is one.
    public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(self.body)) as? [String: Any] }
}

extension RawPeer {
    /// Sends an HTTP/1.1 request (`Host` and `Content-Length` added).
    /// - Parameters:
    ///   - method: `GET`, `POST`, ...
    ///   - path: the request target.
    ///   - headers: extra header lines.
    ///   - body: the body.
    public func sendHTTP(
        _ method: String,
        _ path: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    )
        async throws
    {
        var text = "\(method) \(path) HTTP/1.1\r\nhost: localhost\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { text += "content-length: \(body.count)\r\n" }
        text += "\r\n"
        try await self.send(Array(text.utf8) + body)
    }

    /// The next complete HTTP/1.1 response (informational ones skipped), or `nil` if the connection closes or
    /// `timeout` passes first.
    public func nextHTTPResponse(timeout: Duration = .seconds(20)) async throws -> RawHTTPResponse? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let bytes = self.collector.received.withLockedValue { $0 }
            let start = self.consumed.withLockedValue { $0 }
            if let (response, end) = Self.parseResponse(bytes, from: start) {
                self.consumed.withLockedValue { $0 = end }
                if response.status >= 200 { return response }
                continue
            }
            if self.collector.closed.withLockedValue({ $0 }) { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    private static func parseResponse(_ bytes: [UInt8], from start: Int) -> (RawHTTPResponse, Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count - start >= 4 else { return nil }
        var headEnd: Int?
        for index in start...(bytes.count - 4) where bytes[index..<(index + 4)].elementsEqual(separator) {
            headEnd = index
            break
        }
        guard let headEnd else { return nil }
        let head = String(decoding: bytes[start..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = headEnd + 4
        guard bytes.count - bodyStart >= length else { return nil }
        return (
            RawHTTPResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<(bodyStart + length)])),
            bodyStart + length
        )
    }
}
