import Foundation
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The standard Prometheus process metrics, read from `/proc/self` when asked (there is no background thread):
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_start_time_seconds`, `process_open_fds`.
final class ProcessCollector: Sendable {
    private let cpu: Counter
    private let resident: Gauge
    private let virtual: Gauge
    private let start: Gauge
    private let openFDs: Gauge
    private let lastCPU = Mutex(0.0)

    init(registry: PrometheusCollectorRegistry) {
        self.cpu = registry.makeCounter(
            descriptor: Self.name("cpu_seconds", "total", "User and system CPU time spent in seconds."),
            labels: []
        )
        self.resident = registry.makeGauge(
            descriptor: Self.name("resident_memory", "bytes", "Resident memory size in bytes."),
            labels: []
        )
        self.virtual = registry.makeGauge(
            descriptor: Self.name("virtual_memory", "bytes", "Virtual memory size in bytes."),
            labels: []
        )
        self.start = registry.makeGauge(
            descriptor: Self.name(
                "start_time",
                "seconds",
                "Start time of the process since the Unix epoch in seconds."
            ),
            labels: []
        )
        self.openFDs = registry.makeGauge(
            descriptor: Self.name("open", "fds", "Number of open file descriptors."),
            labels: []
        )
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "process", metricName: metric, unitName: unit, helpText: help)
    }

    func update() {
        guard let stat = ProcStat.read() else { return }
        // the counter only goes up: add what was spent since the last export
        let delta = self.lastCPU.withLock { last -> Double in
            defer { last = max(last, stat.cpuSeconds) }
            return stat.cpuSeconds - last
        }
        if delta > 0 { self.cpu.increment(by: delta) }
        self.resident.set(stat.residentBytes)
        self.virtual.set(stat.virtualBytes)
        self.start.set(stat.startTime)
        if let count = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count {
            self.openFDs.set(Double(count))
        }
    }
}

/// The fields of `/proc/self/stat` the process metrics need (see proc(5)).
struct ProcStat {
    var cpuSeconds: Double
    var residentBytes: Double
    var virtualBytes: Double
    var startTime: Double

    static func read() -> ProcStat? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8) else { return nil }
        return Self.parse(text, bootTime: Self.bootTime())
    }

    /// Parses a stat line; the command name (field 2) may contain spaces and parentheses, so fields are counted
    /// from the last ')'.
    static func parse(_ text: String, bootTime: Double) -> ProcStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24
        guard fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
            let started = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        return ProcStat(
            cpuSeconds: (user + system) / ticks,
            residentBytes: rss * page,
            virtualBytes: vsize,
            startTime: bootTime + started / ticks
        )
    }

    private static func bootTime() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let value = Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        else { return 0 }
        return value
    }
}
