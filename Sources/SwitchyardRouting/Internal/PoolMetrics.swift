internal import Metrics
internal import Synchronization
internal import SwitchyardWire

/// What an ``UpstreamPool`` records: attempts per instance by status, ejections and retries.
final class PoolMetrics: Sendable {
    private let dimensions: [(String, String)]
    /// Answered attempts per instance, made on an instance's first answer.
    private let answered = Mutex<[String: Counter]>([:])
    private let retries: Counter
    private let perTryTimeouts: Counter

    /// - Parameter dimensions: labels of every series, e.g. `stage`.
    init(dimensions: [(String, String)]) {
        self.dimensions = dimensions
        self.retries = Counter(label: "switchyard_upstream_retries_total", dimensions: dimensions)
        self.perTryTimeouts = Counter(label: "switchyard_upstream_per_try_timeouts_total", dimensions: dimensions)
    }

    func recordAttempt(id: String, code: Status.Code?) {
        guard let code else {
            let counter = self.answered.withLock { answered in
                if let counter = answered[id] { return counter }
                let made = Counter(
                    label: "switchyard_upstream_requests_total",
                    dimensions: self.dimensions + [("upstream", id), ("code", "ok")]
                )
                answered[id] = made
                return made
            }
            return counter.increment()
        }
        Counter(
            label: "switchyard_upstream_requests_total", dimensions: self.dimensions + [("upstream", id), ("code", code.metricName)]
        ).increment()
    }

    func recordEjection(id: String, ejected: Bool) {
        Gauge(label: "switchyard_upstream_ejected", dimensions: self.dimensions + [("upstream", id)]).record(ejected ? 1 : 0)
    }

    func recordRetry() { self.retries.increment() }

    func recordPerTryTimeout() { self.perTryTimeouts.increment() }

    /// An instance left the pool: its ejection gauge goes to zero.
    func forget(_ id: String) {
        self.answered.withLock { _ = $0.removeValue(forKey: id) }
        self.recordEjection(id: id, ejected: false)
    }
}
