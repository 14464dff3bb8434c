import NIOHTTP1

/// An endpoint of the gateway, as the Open Inference Protocol and Triton's extensions name them.
enum Route: Equatable, Sendable {
    /// `GET /v2`.
    case server
    /// `GET /v2/health/live`.
    case live
    /// `GET /v2/health/ready`.
    case ready
    /// `GET /v2/models/{name}[/versions/{v}]`.
    case modelMetadata(model: String, version: String?)
    /// `GET /v2/models/{name}[/versions/{v}]/ready`.
    case modelReady(model: String, version: String?)
    /// `GET /v2/models/{name}[/versions/{v}]/config`.
    case modelConfig(model: String, version: String?)
    /// `GET /v2/models[/{name}[/versions/{v}]]/stats`.
    case statistics(model: String?, version: String?)
    /// `POST /v2/models/{name}[/versions/{v}]/infer`.
    case infer(model: String, version: String?)

    /// The endpoint's name for metrics and logs.
    var name: String {
        switch self {
        case .server: "server_metadata"
        case .live: "health_live"
        case .ready: "health_ready"
        case .modelMetadata: "model_metadata"
        case .modelReady: "model_ready"
        case .modelConfig: "model_config"
        case .statistics: "statistics"
        case .infer: "infer"
        }
    }

    /// Health checks are answered without credentials, for load balancers.
    var needsCredentials: Bool { self != .live && self != .ready }

    /// The route for a request line.
    /// - Parameters:
    ///   - method: the HTTP method; `HEAD` is taken as `GET`.
    ///   - uri: the request target; the query is ignored and path segments are percent-decoded.
    /// - Throws: `GatewayError.notFound` for unknown paths, `.methodNotAllowed` with the allowed method.
    static func parse(method: HTTPMethod, uri: String) throws(GatewayError) -> Route {
        let path = Array(uri.utf8.prefix { $0 != UInt8(ascii: "?") })
        var segments: [String] = []
        segments.reserveCapacity(8)
        for raw in path.split(separator: UInt8(ascii: "/")) {
            guard let segment = Self.percentDecoded(raw), !segment.isEmpty else {
                throw GatewayError(.notFound, "the path \(Self.shown(uri)) is not valid")
            }
            segments.append(segment)
        }
        guard segments.first == "v2" else { throw Self.unknown(uri) }
        let rest = Array(segments.dropFirst())
        let route: Route
        switch rest.count {
        case 0:
            route = .server
        case 2 where rest[0] == "health" && rest[1] == "live":
            route = .live
        case 2 where rest[0] == "health" && rest[1] == "ready":
            route = .ready
        case 2 where rest[0] == "models" && rest[1] == "stats":
            route = .statistics(model: nil, version: nil)
        case 2... where rest[0] == "models":
            let model = rest[1]
            var tail = rest[2...]  // a slice: indices go on from 2
            var version: String?
            if tail.count >= 2, tail.first == "versions" {
                version = tail[tail.startIndex + 1]
                tail = tail.dropFirst(2)
            }
            // compared by count and element: array-literal patterns would build an array per case
            switch (tail.count, tail.first) {
            case (0, _): route = .modelMetadata(model: model, version: version)
            case (1, "ready"?): route = .modelReady(model: model, version: version)
            case (1, "config"?): route = .modelConfig(model: model, version: version)
            case (1, "stats"?): route = .statistics(model: model, version: version)
            case (1, "infer"?): route = .infer(model: model, version: version)
            default: throw Self.unknown(uri)
            }
        default:
            throw Self.unknown(uri)
        }
        let wanted: HTTPMethod
        if case .infer = route { wanted = .POST } else { wanted = .GET }
        guard method == wanted || (wanted == .GET && method == .HEAD) else {
            throw GatewayError(
                .methodNotAllowed,
                "\(method.rawValue) is not allowed on \(Self.shown(uri)); use \(wanted.rawValue)"
            )
        }
        return route
    }

    /// A path segment with `%XX` escapes decoded; `nil` for a malformed escape or bytes that are not UTF-8.
    /// (Foundation's `removingPercentEncoding` was 5% of the router's time per HTTP request.)
    private static func percentDecoded(_ raw: ArraySlice<UInt8>) -> String? {
        guard raw.contains(UInt8(ascii: "%")) else { return String(validating: raw, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                index = raw.index(after: index)
                continue
            }
            let first = raw.index(after: index)
            guard first < raw.endIndex, raw.index(after: first) < raw.endIndex,
                let high = Self.hexValue(raw[first]), let low = Self.hexValue(raw[raw.index(after: first)])
            else { return nil }
            bytes.append(high << 4 | low)
            index = raw.index(first, offsetBy: 2)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func unknown(_ uri: String) -> GatewayError {
        GatewayError(
            .notFound,
            "no endpoint \(Self.shown(uri)); the gateway serves /v2, /v2/health/{live,ready}, /v2/models/stats and "
                + "/v2/models/{name}[/versions/{v}][/ready|/config|/stats|/infer]"
        )
    }

    private static func shown(_ uri: String) -> String { uri.count > 200 ? String(uri.prefix(200)) + "..." : uri }
}
