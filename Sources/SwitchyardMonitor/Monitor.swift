public import Foundation
import Synchronization

/// The monitor's state and logic, without I/O: instances and their reported series over the retention window,
/// live samples for drift, alert rules. The service around it feeds it reports and ticks, and serves what it renders.
public final class Monitor: Sendable {
    /// Settings of the monitor.
    public struct Configuration: Sendable {
        /// The monitor's own instance name, on the series it makes itself.
        public var identity = "monitor"
        /// How long series are kept, in seconds.
        public var retention: Double = 3 * 3600
        /// Seconds between the samples of the monitor's own series (drift, instance health).
        public var ownInterval: Double = 5
        /// Live rows kept per model version for drift, and the least needed to judge.
        public var driftWindow = 500
        public var driftMinimumRows = 100
        /// Reference profiles by `model/version`.
        public var profiles: [String: DriftProfile] = [:]
        /// Alert rules.
        public var rules: [AlertRule] = []

        /// Makes the default configuration.
        public init() {}
    }

    /// One report from an instance.
    public struct Report: Sendable {
        /// Its identity (certificate common name).
        public var instance: String
        /// The report's parameters (`service`, `state`, `version`, `address`, `interval`, `pid`, `started`).
        public var parameters: [String: String]
        /// Its metrics in the Prometheus text format.
        public var metrics: String
        /// Sampled rows per `model/version`: inputs row-major, features per row, predicted classes.
        public var samples: [String: (inputs: [Float], features: Int, classes: [Int64])]

        /// Makes a report.
        public init(
            instance: String,
            parameters: [String: String],
            metrics: String,
            samples: [String: (inputs: [Float], features: Int, classes: [Int64])] = [:]
        ) {
            self.instance = instance
            self.parameters = parameters
            self.metrics = metrics
            self.samples = samples
        }
    }

    struct DriftWindow: Codable {
        var features: Int
        var inputs: [Float] = []
        var classes: [Int64] = []
        var latest: [Double] = []
        var prediction: Double?
    }

    struct State: Codable {
        var store = SeriesStore()
        var instances: [String: InstanceRecord] = [:]
        var drift: [String: DriftWindow] = [:]
        var active: [String: ActiveAlert] = [:]
        var events: [AlertEvent] = []
        var lastOwnSample: Double = 0
        var lastTrim: Double = 0
        var reports = 0
        var skippedLines = 0
    }

    /// The configuration.
    public let configuration: Configuration
    private let state = Mutex(State())

    /// Makes a monitor.
    /// - Parameter configuration: retention, drift and alert settings.
    public init(configuration: Configuration) { self.configuration = configuration }

    // MARK: Reports

    /// Takes in a report: the instance is seen, its series get a sample each, its sampled rows join the drift windows.
    /// - Parameters:
    ///   - report: the report.
    ///   - now: when it arrived, seconds since the epoch.
    public func ingest(_ report: Report, now: Double) {
        let (parsed, skipped) = Exposition.parse(report.metrics)
        let service = report.parameters["service"] ?? "unknown"
        self.state.withLock { state in
            state.reports += 1
            state.skippedLines += skipped
            var record =
                state.instances[report.instance]
                ?? InstanceRecord(
                    name: report.instance,
                    service: service,
                    version: "",
                    address: "",
                    state: "serving",
                    firstSeen: now,
                    lastSeen: now,
                    interval: 5,
                    reports: 0,
                    pid: "",
                    started: 0
                )
            record.service = service
            record.version = report.parameters["version"] ?? record.version
            record.address = report.parameters["address"] ?? record.address
            record.state = report.parameters["state"] ?? "serving"
            record.interval = Double(report.parameters["interval"] ?? "") ?? record.interval
            record.pid = report.parameters["pid"] ?? record.pid
            record.started = Double(report.parameters["started"] ?? "") ?? record.started
            record.lastSeen = now
            record.reports += 1
            state.instances[report.instance] = record
            for sample in parsed.samples {
                state.store.append(
                    Self.label(sample.key, instance: report.instance, service: service),
                    type: parsed.type(of: sample.key.name),
                    time: now,
                    value: sample.value
                )
            }
            for (key, rows) in report.samples {
                var window = state.drift[key] ?? DriftWindow(features: rows.features)
                if window.features != rows.features { window = DriftWindow(features: rows.features) }
                window.inputs += rows.inputs
                window.classes += rows.classes
                let excess = window.classes.count - self.configuration.driftWindow
                if excess > 0 {
                    window.classes.removeFirst(excess)
                    window.inputs.removeFirst(excess * window.features)
                }
                state.drift[key] = window
            }
        }
    }

    /// The reporting instance's name goes in `instance` (a series' own `instance` label moves to
    /// `exported_instance`, as Prometheus does when it federates), and its service in `service` unless the series has one.
    static func label(_ key: SeriesKey, instance: String, service: String) -> SeriesKey {
        var key = key
        if let own = key[label: "instance"] { key = key.without("instance").with("exported_instance", own) }
        key = key.with("instance", instance)
        if key[label: "service"] == nil { key = key.with("service", service) }
        return key
    }

    // MARK: Ticks

    /// Brings the monitor up to `now`: its own series (instance health, drift), alert states, trimming.
    /// - Parameter now: seconds since the epoch.
    /// - Returns: the alerts that started firing or resolved.
    public func tick(now: Double) -> [AlertEvent] {
        self.state.withLock { state in
            // drift: PSI of each live window against its version's profile
            for (key, window) in state.drift {
                guard let profile = self.configuration.profiles[key],
                    window.classes.count >= self.configuration.driftMinimumRows,
                    let result = profile.compare(inputs: window.inputs, classes: window.classes)
                else { continue }
                state.drift[key]!.latest = result.features
                state.drift[key]!.prediction = result.prediction
            }
            if now - state.lastOwnSample >= self.configuration.ownInterval {
                state.lastOwnSample = now
                self.sampleOwnSeries(&state, now: now)
            }
            let events = self.evaluateAlerts(&state, now: now)
            state.events = Array((state.events + events).suffix(100))
            if now - state.lastTrim >= 60 {
                state.lastTrim = now
                state.store.trim(before: now - self.configuration.retention)
            }
            return events
        }
    }

    private func own(_ name: String, _ labels: [Label] = []) -> SeriesKey {
        SeriesKey(
            name: name,
            labels: labels + [Label("instance", self.configuration.identity), Label("service", "monitor")]
        )
    }

    private func sampleOwnSeries(_ state: inout State, now: Double) {
        // an instance gone for a quarter of an hour is forgotten (its series stay in the history)
        state.instances = state.instances.filter { now - $0.value.lastSeen < 900 }
        for record in state.instances.values {
            let status = record.status(at: now)
            guard status != "stopped" else { continue }  // it said goodbye: not an outage
            let labels = [
                Label("exported_instance", record.name), Label("exported_service", record.service),
                Label("version", record.version),
            ]
            state.store.append(
                self.own("switchyard_monitor_instance_up", labels),
                type: .gauge,
                time: now,
                value: status == "down" ? 0 : 1
            )
            state.store.append(
                self.own("switchyard_monitor_instance_draining", labels),
                type: .gauge,
                time: now,
                value: status == "draining" ? 1 : 0
            )
        }
        for (key, window) in state.drift where !window.latest.isEmpty {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            let labels = [Label("model", parts[0]), Label("version", parts.count > 1 ? parts[1] : "")]
            state.store.append(
                self.own("switchyard_drift_psi_max", labels),
                type: .gauge,
                time: now,
                value: window.latest.max() ?? 0
            )
            state.store.append(
                self.own("switchyard_drift_psi_mean", labels),
                type: .gauge,
                time: now,
                value: window.latest.reduce(0, +) / Double(window.latest.count)
            )
            if let prediction = window.prediction {
                state.store.append(
                    self.own("switchyard_drift_prediction_psi", labels),
                    type: .gauge,
                    time: now,
                    value: prediction
                )
            }
            state.store.append(
                self.own("switchyard_drift_window_rows", labels),
                type: .gauge,
                time: now,
                value: Double(window.classes.count)
            )
        }
        state.store.append(
            self.own("switchyard_monitor_reports_received_total"),
            type: .counter,
            time: now,
            value: Double(state.reports)
        )
        state.store.append(
            self.own("switchyard_monitor_series"),
            type: .gauge,
            time: now,
            value: Double(state.store.series.count)
        )
        state.store.append(
            self.own("switchyard_monitor_alerts_firing"),
            type: .gauge,
            time: now,
            value: Double(state.active.values.filter(\.firing).count)
        )
    }

    private func evaluateAlerts(_ state: inout State, now: Double) -> [AlertEvent] {
        var events: [AlertEvent] = []
        var seen: Set<String> = []
        for rule in self.configuration.rules {
            let condition = "\(rule.comparison.rawValue) \(Exposition.format(rule.threshold))"
            for (labels, value) in self.values(of: rule, in: state.store, now: now)
            where rule.comparison.holds(value, rule.threshold) {
                let id =
                    rule.name + "|"
                    + labels.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                seen.insert(id)
                var alert =
                    state.active[id]
                    ?? ActiveAlert(
                        alert: rule.name,
                        labels: labels,
                        value: value,
                        since: now,
                        firing: false,
                        severity: rule.severity,
                        summary: rule.summary,
                        condition: condition
                    )
                alert.value = value
                if !alert.firing, now - alert.since >= rule.holdFor {
                    alert.firing = true
                    events.append(
                        AlertEvent(
                            status: "firing",
                            alert: rule.name,
                            labels: labels,
                            value: value,
                            condition: condition,
                            severity: rule.severity,
                            summary: rule.summary,
                            since: alert.since,
                            at: now
                        )
                    )
                }
                state.active[id] = alert
            }
        }
        for (id, alert) in state.active where !seen.contains(id) {
            state.active[id] = nil
            if alert.firing {
                events.append(
                    AlertEvent(
                        status: "resolved",
                        alert: alert.alert,
                        labels: alert.labels,
                        value: alert.value,
                        condition: alert.condition,
                        severity: alert.severity,
                        summary: alert.summary,
                        since: alert.since,
                        at: now
                    )
                )
            }
        }
        return events
    }

    /// The rule's current values: per series, or summed per `sum_by` group. Series that stopped reporting count as absent.
    func values(of rule: AlertRule, in store: SeriesStore, now: Double) -> [([String: String], Double)] {
        let staleness = 3 * self.configuration.ownInterval + 15
        var perSeries: [([String: String], Double)] = []
        for (key, history) in store.select(rule.metric, matching: rule.match) {
            let value: Double?
            if let window = rule.rate {
                value =
                    history.value(at: now, staleness: staleness) == nil
                    ? nil : history.increase(from: now - window, to: now) / window
            } else {
                value = history.value(at: now, staleness: staleness)
            }
            guard let value else { continue }
            perSeries.append((Dictionary(uniqueKeysWithValues: key.labels.map { ($0.name, $0.value) }), value))
        }
        guard let sumBy = rule.sumBy else { return perSeries }
        var groups: [[String: String]: Double] = [:]
        for (labels, value) in perSeries {
            let group = Dictionary(uniqueKeysWithValues: sumBy.map { ($0, labels[$0] ?? "") })
            groups[group, default: 0] += value
        }
        return groups.map { ($0.key, $0.value) }
    }

    // MARK: Reading

    /// The instances the monitor has heard from, with their status at `now`.
    public func instances(now: Double) -> [(record: InstanceRecord, status: String)] {
        self.state.withLock { state in
            state.instances.values.sorted { ($0.service, $0.name) < ($1.service, $1.name) }.map {
                ($0, $0.status(at: now))
            }
        }
    }

    /// Alerts pending or firing now.
    public var activeAlerts: [ActiveAlert] {
        self.state.withLock { Array($0.active.values) }.sorted { ($0.alert, $0.since) < ($1.alert, $1.since) }
    }

    /// The latest alert events, newest last.
    public var recentEvents: [AlertEvent] { self.state.withLock { $0.events } }

    /// Reports received since the start (or since the snapshot this monitor was restored from).
    public var reportCount: Int { self.state.withLock { $0.reports } }

    /// Runs `body` on the store (for queries that need it whole).
    public func withStore<T>(_ body: (SeriesStore) -> T) -> T { self.state.withLock { body($0.store) } }

    /// The latest drift per `model/version`: PSI per feature, of the predictions, and the window's rows.
    public func drift() -> [(key: String, features: [Double], prediction: Double?, rows: Int, profiled: Bool)] {
        self.state.withLock { state in
            state.drift.keys.sorted().map { key in
                let window = state.drift[key]!
                return (
                    key, window.latest, window.prediction, window.classes.count, self.configuration.profiles[key] != nil
                )
            }
        }
    }

    /// Every live series in the Prometheus text format: each instance's series from its latest report (none from
    /// an instance that is down), the monitor's own series, and drift per feature.
    /// - Parameter now: seconds since the epoch.
    public func exposition(now: Double) -> String {
        self.state.withLock { state in
            var families: [String: (type: MetricType, samples: [Exposition.Sample])] = [:]
            func add(_ key: SeriesKey, _ type: MetricType, _ value: Double) {
                let family = Exposition.family(of: key.name, type: type)
                families[family, default: (type, [])].samples.append(Exposition.Sample(key: key, value: value))
            }
            for (key, history) in state.store.series {
                guard let last = history.last, let instance = key[label: "instance"] else { continue }
                if instance == self.configuration.identity {
                    guard now - last.time <= 3 * self.configuration.ownInterval else { continue }
                } else {
                    guard let record = state.instances[instance], record.lastSeen == last.time,
                        ["up", "draining"].contains(record.status(at: now))
                    else { continue }
                }
                add(key, history.type, last.value)
            }
            for (key, window) in state.drift {
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                for (feature, psi) in window.latest.enumerated() {
                    add(
                        self.own(
                            "switchyard_drift_psi",
                            [
                                Label("model", parts[0]), Label("version", parts.count > 1 ? parts[1] : ""),
                                Label("feature", "\(feature)"),
                            ]
                        ),
                        .gauge,
                        psi
                    )
                }
            }
            return Exposition.render(
                families.keys.sorted().map { name in
                    let family = families[name]!
                    return (name, family.type, family.samples.sorted { $0.key < $1.key })
                }
            )
        }
    }

    // MARK: Snapshots

    /// The state as JSON, to restore after a restart.
    /// - Throws: when encoding fails.
    public func snapshot() throws -> Data {
        let state = self.state.withLock { $0 }
        return try JSONEncoder().encode(state)
    }

    /// Restores a snapshot taken by ``snapshot()``; series older than the retention are dropped.
    /// - Parameters:
    ///   - data: the snapshot.
    ///   - now: seconds since the epoch.
    /// - Throws: when it does not decode.
    public func restore(_ data: Data, now: Double) throws {
        var restored = try JSONDecoder().decode(State.self, from: data)
        restored.store.trim(before: now - self.configuration.retention)
        restored.lastTrim = now
        self.state.withLock { $0 = restored }
    }
}
