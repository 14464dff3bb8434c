internal import Metrics
internal import SwitchyardWire

/// What an ``UpstreamPool`` records: attempts per instance by status, ejections and retries.
struct PoolMetrics: Sendable {
    private let dimensions: [(String, String)]
    /// Answered attempts per instance, made once: the common case costs no lookup.
    private let answered: [Counter]
    private let ejected: [Gauge]
    private let retries: Counter
    private let perTryTimeouts: Counter

    /// - Parameters:
    ///   - instances: the members' ids, in order.
    ///   - dimensions: labels of every series, e.g. `stage`.
    init(instances: [String], dimensions: [(String, String)]) {
        self.dimensions = dimensions
        self.answered = instances.map {
            Counter(label: "switchyard_upstream_requests_total", dimensions: dimensions + [("upstream", $0), ("code", "ok")])
        }
        self.ejected = instances.map { Gauge(label: "switchyard_upstream_ejected", dimensions: dimensions + [("upstream", $0)]) }
        self.retries = Counter(label: "switchyard_upstream_retries_total", dimensions: dimensions)
        self.perTryTimeouts = Counter(label: "switchyard_upstream_per_try_timeouts_total", dimensions: dimensions)
    }

    func recordAttempt(instance: Int, id: String, code: Status.Code?) {
        guard let code else { return self.answered[instance].increment() }
        Counter(
            label: "switchyard_upstream_requests_total", dimensions: self.dimensions + [("upstream", id), ("code", code.metricName)]
        ).increment()
    }

    func recordEjection(instance: Int, ejected: Bool) { self.ejected[instance].record(ejected ? 1 : 0) }

    func recordRetry() { self.retries.increment() }

    func recordPerTryTimeout() { self.perTryTimeouts.increment() }
}
