import CoreMetrics
public import Prometheus
import Synchronization
import SwitchyardMonitor

/// This process's metrics in the Prometheus text format: swift-metrics bootstrapped onto one swift-prometheus
/// registry, plus the process's CPU time, memory and file descriptors read from `/proc` on every export.
///
/// Services record with the backend-agnostic swift-metrics API (`Counter`, `Timer`, `Recorder`, `Gauge`); the
/// registry is what the `/metrics` endpoint serves and what ``MonitorReporter`` pushes to the monitor.
public enum MetricsExport {
    /// The registry every metric of this process lands in.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)
    private static let process = ProcessCollector(registry: MetricsExport.registry)
    private static let saturation = Mutex<[SaturationCollector]>([])

    /// Latency buckets from 50 µs to 10 s: a mesh hop takes about a millisecond, so Prometheus' defaults (5 ms and
    /// up) would put every request in the first bucket.
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000),
        .seconds(5), .seconds(10),
    ]
    /// Buckets for batch sizes: powers of two up to 1024.
    public static let batchSizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// Points swift-metrics at ``registry``, once per process; later calls do nothing.
    ///
    /// Call it before any metric is created: a metric made before the bootstrap records into nothing.
    public static func bootstrap() {
        let first = Self.bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var factory = PrometheusMetricsFactory(registry: Self.registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        factory.valueHistogramBuckets["switchyard_batch_size"] = Self.batchSizeBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// Exports a service's saturation (``Saturation``) from now on, read on every export.
    /// - Parameters:
    ///   - saturation: where the numbers come from.
    ///   - service: the `service` label.
    public static func export(_ saturation: Saturation, service: String) {
        let collector = SaturationCollector(service: service, source: saturation, registry: Self.registry)
        Self.saturation.withLock { $0.append(collector) }
    }

    /// The registry's metrics in the Prometheus text format, with the process and saturation metrics brought up
    /// to date, and a `# HELP` line for every family.
    public static func exposition() -> [UInt8] {
        Self.process.update()
        for collector in Self.saturation.withLock({ $0 }) { collector.update() }
        return Array(MetricHelp.adding(to: String(decoding: Self.registry.emitToBuffer(), as: UTF8.self)).utf8)
    }
}
