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
///
/// Label values come from requests, so they are bounded: the protocol's methods are labels of their own; any other
/// method, a model or a version becomes a label of its own once a request with it was answered `ok` (up to
/// ``maxLabelValues`` of each); a failed request whose value never succeeded (a typo, a version that does not exist,
/// a scan) is counted under `unknown`, and values past the bound under `other`.
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

    /// Most distinct values of each request-given label (method, model, version).
    public static let maxLabelValues = 64

    /// The values that earned a label of their own.
    private struct Known {
        var methods = Set<String>()
        var models = Set<String>()
        var versions = Set<String>()

        /// Learns the values of an answered request (within the bound) and returns the labels to use.
        mutating func labels(method: String, model: String, version: String, answered: Bool) -> (String, String, String)
        {
            func label(_ value: String, _ known: inout Set<String>) -> String {
                if value.isEmpty || known.contains(value) { return value }
                guard answered else { return "unknown" }
                guard known.count < MeteredService.maxLabelValues else { return "other" }
                known.insert(value)
                return value
            }
            // the protocol's own methods are a fixed set: each keeps its name, answered or not
            let method = Method.all.contains(method) ? method : label(method, &self.methods)
            return (method, label(model, &self.models), label(version, &self.versions))
        }
    }

    private let service: any WireService
    private let name: String
    private let inFlight: Meter
    private let factory: any MetricsFactory
    /// Metric handles by label values, made once each: a request costs one dictionary lookup, not a factory call.
    private let series = Mutex<[Key: Series]>([:])
    private let known = Mutex(Known())

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

    /// The wrapped service's refusals at arrival (overload shedding), passed on.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.service.refusal(for: request, deadline: deadline)
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
            let code =
                (error as? any StatusConvertible)?.status.code
                ?? (error is CancellationError ? .cancelled : .internalError)
            self.record(request, version: request.version, code: code, since: started)
            throw error
        }
    }

    private func record(_ request: Request, version: String, code: Status.Code, since started: ContinuousClock.Instant)
    {
        let (method, model, version) = self.known.withLock {
            $0.labels(method: request.method, model: request.model, version: version, answered: code == .ok)
        }
        let key = Key(method: method, model: model, version: version, code: code.rawValue)
        let series = self.series.withLock { series in
            if let existing = series[key] { return existing }
            let labels = [
                ("service", self.name), ("method", key.method), ("model", key.model), ("version", key.version),
            ]
            let made = Series(
                count: Counter(
                    label: "switchyard_requests_total",
                    dimensions: labels + [("code", code.metricName)],
                    factory: self.factory
                ),
                duration: Metrics.Timer(
                    label: "switchyard_request_duration_seconds",
                    dimensions: labels,
                    factory: self.factory
                )
            )
            series[key] = made
            return made
        }
        series.count.increment()
        let elapsed = started.duration(to: .now)
        series.duration.recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        )
    }
}
