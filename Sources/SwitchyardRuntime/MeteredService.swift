public import CoreMetrics
internal import Metrics
internal import Synchronization
public import SwitchyardTransport
public import SwitchyardWire

/// Wraps a service and records, for every request: `switchyard_requests_total{service,method,model,version,code}`,
/// `switchyard_request_duration_seconds{service,method,model,version}` and `switchyard_requests_in_flight{service}`.
///
/// The version label is the one the request pinned, or else the one the answer names (`model.version`), so a
/// canary's traffic is told apart from the stable version's.
public final class MeteredService: WireService {
    private struct Key: Hashable {
        var method: String
        var model: String
        var version: String
        var code: UInt16
    }

    private final class Series: Sendable {
        let count: Counter
        let duration: Metrics.Timer

        init(count: Counter, duration: Metrics.Timer) {
            self.count = count
            self.duration = duration
        }
    }

    private let service: any WireService
    private let name: String
    private let inFlight: Meter
    private let factory: any MetricsFactory
    /// Metric handles by label values, made once each: a request costs one dictionary lookup, not a factory call.
    private let series = Mutex<[Key: Series]>([:])

    /// Wraps `service`.
    /// - Parameters:
    ///   - service: the service whose requests are counted and timed.
    ///   - name: the `service` label, e.g. `router`.
    ///   - factory: where the metrics go; the process-wide one by default.
    public init(_ service: any WireService, name: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.service = service
        self.name = name
        self.factory = factory
        self.inFlight = Meter(label: "switchyard_requests_in_flight", dimensions: [("service", name)], factory: factory)
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        let started = ContinuousClock.now
        self.inFlight.increment()
        defer { self.inFlight.decrement() }
        do {
            let response = try await self.service.handle(request, context: context)
            let version = request.version.isEmpty ? response[parameter: "model.version"] ?? "" : request.version
            self.record(request, version: version, code: .ok, since: started)
            return response
        } catch {
            let code = (error as? any StatusConvertible)?.status.code ?? (error is CancellationError ? .cancelled : .internalError)
            self.record(request, version: request.version, code: code, since: started)
            throw error
        }
    }

    private func record(_ request: Request, version: String, code: Status.Code, since started: ContinuousClock.Instant) {
        let key = Key(method: request.method, model: request.model, version: version, code: code.rawValue)
        let series = self.series.withLock { series in
            if let existing = series[key] { return existing }
            let labels = [("service", self.name), ("method", key.method), ("model", key.model), ("version", key.version)]
            let made = Series(
                count: Counter(label: "switchyard_requests_total", dimensions: labels + [("code", code.metricName)], factory: self.factory),
                duration: Metrics.Timer(label: "switchyard_request_duration_seconds", dimensions: labels, factory: self.factory)
            )
            series[key] = made
            return made
        }
        series.count.increment()
        let elapsed = started.duration(to: .now)
        series.duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
