import CoreMetrics
import Logging
import Metrics
import NIOCore
import SwitchyardTransport
import Synchronization

/// What every connection of one gateway shares: settings, the backend, statistics, metrics, the request counter.
final class GatewayCore: Sendable {
    let configuration: GatewayConfiguration
    let backend: any GatewayBackend
    let statistics: InferenceStatistics?
    let logger: Logger
    let metrics: GatewayMetrics
    private let requestCounter = Atomic<UInt32>(0)

    init(
        configuration: GatewayConfiguration, backend: any GatewayBackend, statistics: InferenceStatistics?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.backend = backend
        self.statistics = statistics
        self.logger = logger
        self.metrics = GatewayMetrics()
    }

    /// The tokens requests must carry, when the security mode has them.
    var tokens: BearerTokens? {
        switch self.configuration.security {
        case .mutualTLS: nil
        case .serverTLS(_, _, let tokens): tokens
        case .plaintext(let tokens): tokens
        }
    }

    /// A request id for the router's logs and contexts (wraps after 2^32 requests).
    func nextRequestID() -> UInt32 { self.requestCounter.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// The gateway's own metrics: `switchyard_http_requests_total{endpoint,code}`,
/// `switchyard_http_request_duration_seconds{endpoint}` and `switchyard_http_connections{protocol}`.
/// Infer requests are also counted by the router's `switchyard_requests_total` like wire requests.
final class GatewayMetrics: Sendable {
    private struct Key: Hashable {
        var endpoint: String
        var code: Int
    }

    private final class Series: Sendable {
        let count: Counter
        let duration: Metrics.Timer

        init(count: Counter, duration: Metrics.Timer) {
            self.count = count
            self.duration = duration
        }
    }

    private let series = Mutex<[Key: Series]>([:])
    private let http1Connections = Meter(label: "switchyard_http_connections", dimensions: [("protocol", "http1")])
    private let http2Connections = Meter(label: "switchyard_http_connections", dimensions: [("protocol", "h2")])

    /// Counts a connection that speaks `http2` or HTTP/1.1 until `channel` closes.
    func connectionOpened(_ channel: any Channel, http2: Bool) {
        let meter = http2 ? self.http2Connections : self.http1Connections
        meter.increment()
        channel.closeFuture.whenComplete { _ in meter.decrement() }
    }

    /// Counts a finished request.
    func record(endpoint: String, code: Int, since started: NIODeadline) {
        let key = Key(endpoint: endpoint, code: code)
        let series = self.series.withLock { series in
            if let existing = series[key] { return existing }
            let made = Series(
                count: Counter(
                    label: "switchyard_http_requests_total", dimensions: [("endpoint", endpoint), ("code", "\(code)")]),
                duration: Metrics.Timer(
                    label: "switchyard_http_request_duration_seconds", dimensions: [("endpoint", endpoint)])
            )
            series[key] = made
            return made
        }
        series.count.increment()
        series.duration.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
    }
}
