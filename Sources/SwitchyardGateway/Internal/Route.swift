import Foundation
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
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var segments: [String] = []
        for raw in path.split(separator: "/") {
            guard let segment = String(raw).removingPercentEncoding, !segment.isEmpty else {
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
            var tail = Array(rest.dropFirst(2))
            var version: String?
            if tail.count >= 2, tail[0] == "versions" {
                version = tail[1]
                tail.removeFirst(2)
            }
            switch tail {
            case []: route = .modelMetadata(model: model, version: version)
            case ["ready"]: route = .modelReady(model: model, version: version)
            case ["config"]: route = .modelConfig(model: model, version: version)
            case ["stats"]: route = .statistics(model: model, version: version)
            case ["infer"]: route = .infer(model: model, version: version)
            default: throw Self.unknown(uri)
            }
        default:
            throw Self.unknown(uri)
        }
        let wanted: HTTPMethod
        if case .infer = route { wanted = .POST } else { wanted = .GET }
        guard method == wanted || (wanted == .GET && method == .HEAD) else {
            throw GatewayError(.methodNotAllowed, "\(method.rawValue) is not allowed on \(Self.shown(uri)); use \(wanted.rawValue)")
        }
        return route
    }

    private static func unknown(_ uri: String) -> GatewayError {
        GatewayError(
            .notFound,
            "no endpoint \(Self.shown(uri)); the gateway serves /v2, /v2/health/{live,ready}, /v2/models/stats and /v2/models/{name}[/versions/{v}][/ready|/config|/stats|/infer]"
        )
    }

    private static func shown(_ uri: String) -> String { uri.count > 200 ? String(uri.prefix(200)) + "..." : uri }
}
