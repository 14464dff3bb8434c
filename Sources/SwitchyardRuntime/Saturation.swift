import NIOCore
import Prometheus
internal import Synchronization

/// How busy a service is, the signal an autoscaler scales a stage on (a Kubernetes HPA through the Prometheus
/// adapter, or a script on VMs). Exported on `/metrics` and in reports to the monitor as
///
/// - `switchyard_busy_seconds_total{service}`: time its workers spent working, summed over workers;
/// - `switchyard_workers{service}`: how many workers there are;
/// - `switchyard_queue_depth{service}`: work accepted and waiting for a worker.
///
/// The busy fraction is `rate(switchyard_busy_seconds_total[1m]) / switchyard_workers`: 1 means every worker was
/// busy all the time, and a growing queue depth says requests wait for them.
public struct Saturation: Sendable {
    /// Workers that can work at once: compute threads, event loops.
    public var workers: Int
    /// Seconds spent working so far, summed over workers; never goes down.
    public var busySeconds: @Sendable () -> Double
    /// Requests waiting for a worker now.
    public var queueDepth: @Sendable () -> Int

    /// Describes a service's saturation.
    /// - Parameters:
    ///   - workers: workers that can work at once.
    ///   - busySeconds: seconds spent working so far, summed over workers.
    ///   - queueDepth: requests waiting for a worker now.
    public init(workers: Int, busySeconds: @escaping @Sendable () -> Double, queueDepth: @escaping @Sendable () -> Int)
    {
        self.workers = max(1, workers)
        self.busySeconds = busySeconds
        self.queueDepth = queueDepth
    }

    /// A service whose requests are handled on its event loops: busy time is the process's CPU time and the
    /// workers are the event loops (for the router and the pipeline stages, whose work is on their event loops).
    /// - Parameters:
    ///   - eventLoops: the event loops; `nil`: one per core.
    ///   - queueDepth: requests waiting (the router's batch queues); none by default.
    public static func eventLoops(_ eventLoops: Int?, queueDepth: @escaping @Sendable () -> Int = { 0 }) -> Self {
        Self(
            workers: eventLoops ?? System.coreCount,
            busySeconds: { ProcStat.read()?.cpuSeconds ?? 0 },
            queueDepth: queueDepth
        )
    }
}

/// The saturation series of one service in the registry, brought up to date on every export.
final class SaturationCollector: Sendable {
    private let source: Saturation
    private let busy: Counter
    private let workers: Gauge
    private let queue: Gauge
    private let lastBusy = Mutex(0.0)

    init(service: String, source: Saturation, registry: PrometheusCollectorRegistry) {
        self.source = source
        let labels = [("service", service)]
        self.busy = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "switchyard",
                metricName: "busy_seconds",
                unitName: "total",
                helpText: "Seconds the service's workers spent working, summed over workers."
            ),
            labels: labels
        )
        self.workers = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "switchyard",
                metricName: "workers",
                unitName: "",
                helpText: "Workers that can work at once."
            ),
            labels: labels
        )
        self.queue = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "switchyard",
                metricName: "queue",
                unitName: "depth",
                helpText: "Requests accepted and waiting for a worker."
            ),
            labels: labels
        )
    }

    func update() {
        let total = self.source.busySeconds()
        // the counter only goes up: add what was spent since the last export
        let delta = self.lastBusy.withLock { last -> Double in
            defer { last = max(last, total) }
            return total - last
        }
        if delta > 0 { self.busy.increment(by: delta) }
        self.workers.set(Double(self.source.workers))
        self.queue.set(Double(self.source.queueDepth()))
    }
}
