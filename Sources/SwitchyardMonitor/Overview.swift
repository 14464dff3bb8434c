import Foundation

/// What the dashboard shows, computed from the stored series: throughput, error rate and latency percentiles per
/// model version and per service over time, batch sizes, instances, drift and alerts. Served as JSON.
///
/// Rates come from counter increases summed over instances; percentiles come from histogram buckets summed over
/// instances before the quantile is taken, so a fleet's p99 is the fleet's, not an average of instances' p99s.
public struct Overview: Codable, Sendable {
    /// One point of a request time series.
    public struct Point: Codable, Sendable {
        /// End of the step, seconds since the epoch.
        public var t: Double
        /// Requests per second.
        public var rps: Double
        /// Share of requests answered with another status than `ok`.
        public var errorRate: Double?
        /// Latency percentiles in milliseconds (when any request finished in the step).
        public var p50: Double?
        public var p99: Double?
    }

    /// A request time series of one model version or one service.
    public struct Series: Codable, Sendable {
        /// `digits/1` or `router`.
        public var key: String
        public var points: [Point]
        /// Requests in the whole window, and failed ones by status.
        public var total: Double
        public var errors: [String: Double]
    }

    /// Batch sizes of one batcher over time.
    public struct Batches: Codable, Sendable {
        public struct Point: Codable, Sendable {
            public var t: Double
            /// Mean batch size in the step and batches per second.
            public var mean: Double?
            public var perSecond: Double
            public var p99: Double?
        }
        /// `digits/inference`.
        public var key: String
        public var points: [Point]
        /// Requests waiting now (all router instances).
        public var queueDepth: Double?
    }

    /// CPU and memory of one instance over time.
    public struct Usage: Codable, Sendable {
        public struct Point: Codable, Sendable {
            public var t: Double
            /// CPU cores used in the step, resident memory in bytes.
            public var cpu: Double?
            public var memory: Double?
        }
        /// The instance.
        public var key: String
        public var points: [Point]
    }

    /// One upstream instance of a router's stage pool, summed over routers.
    public struct Upstream: Codable, Sendable {
        /// `inference`, ...
        public var stage: String
        /// The upstream's address as the router knows it.
        public var instance: String
        /// Routers that have it ejected now.
        public var ejected: Double
        /// Attempts per second over the last minute, and the share that failed.
        public var rps: Double
        public var errorRate: Double?
    }

    /// A model's release as its routers report it: the candidate's share of traffic and the rollout's phase.
    public struct Release: Codable, Sendable {
        public var model: String
        /// The candidate's share of traffic, in percent (the largest any router reports).
        public var candidatePercent: Double?
        /// The rollout phase some router reports as current.
        public var phase: String?
        /// The rollout's latest decision in words (step, gate result, rollback reason).
        public var decision: String?
    }

    /// An instance's row.
    public struct Instance: Codable, Sendable {
        public var name: String
        public var service: String
        public var version: String
        public var address: String
        public var status: String
        /// Seconds since its last report.
        public var lastSeenAgo: Double
        public var firstSeen: Double
        /// CPU cores used over the last minute, resident memory in bytes.
        public var cpu: Double?
        public var memory: Double?
        public var inFlight: Double?
    }

    /// Drift of one model version.
    public struct Drift: Codable, Sendable {
        public var key: String
        public var rows: Int
        public var profiled: Bool
        public var maxPSI: Double?
        public var meanPSI: Double?
        public var predictionPSI: Double?
        /// The features with the largest PSI, most drifted first.
        public var top: [Feature]
        public struct Feature: Codable, Sendable {
            public var feature: Int
            public var psi: Double
        }
    }

    public var now: Double
    public var step: Double
    /// The oldest sample held: how far back history goes.
    public var historySince: Double?
    public var models: [Series]
    public var services: [Series]
    public var batches: [Batches]
    public var usage: [Usage]
    public var upstreams: [Upstream]
    public var releases: [Release]
    public var instances: [Instance]
    public var drift: [Drift]
    public var alerts: [ActiveAlert]
    public var events: [AlertEvent]

    /// Computes the overview.
    /// - Parameters:
    ///   - monitor: the monitor.
    ///   - now: seconds since the epoch.
    ///   - minutes: how far back.
    ///   - step: seconds per point.
    public init(monitor: Monitor, now: Double, minutes: Double = 15, step: Double = 10) {
        self.now = now
        self.step = step
        let times = stride(from: now - minutes * 60 + step, through: now + 0.001, by: step).map { $0 }
        let (models, services, batches, historySince, usage, usageSeries, upstreams, releases) = monitor.withStore {
            store in
            let requests = store.select("switchyard_requests_total")
            let durations = store.select("switchyard_request_duration_seconds_bucket")
            let routed = requests.contains { $0.key[label: "service"] == "router" }
            let byModel: (SeriesKey) -> String? = { key in
                guard let model = key[label: "model"], !model.isEmpty, !routed || key[label: "service"] == "router"
                else { return nil }
                return model + "/" + (key[label: "version"].flatMap { $0.isEmpty ? nil : $0 } ?? "-")
            }
            let byService: (SeriesKey) -> String? = { $0[label: "service"] }
            let models = Self.series(requests, durations, group: byModel, times: times, step: step)
            let services = Self.series(requests, durations, group: byService, times: times, step: step)
            let batches = Self.batches(store, times: times, step: step, now: now)
            let since = store.series.values.compactMap { $0.times.first }.min()
            var usage: [String: (cpu: Double?, memory: Double?, inFlight: Double?)] = [:]
            for (key, history) in store.select("process_cpu_seconds_total") {
                guard let instance = key[label: "instance"] else { continue }
                usage[instance, default: (nil, nil, nil)].cpu = history.increase(from: now - 60, to: now) / 60
            }
            for (key, history) in store.select("process_resident_memory_bytes") {
                guard let instance = key[label: "instance"] else { continue }
                usage[instance, default: (nil, nil, nil)].memory = history.value(at: now, staleness: 60)
            }
            for (key, history) in store.select("switchyard_requests_in_flight") {
                guard let instance = key[label: "instance"], let value = history.value(at: now, staleness: 60) else {
                    continue
                }
                usage[instance, default: (nil, nil, nil)].inFlight = (usage[instance]?.inFlight ?? 0) + value
            }
            var cpuSeries: [String: SeriesHistory] = [:]
            var memorySeries: [String: SeriesHistory] = [:]
            for (key, history) in store.select("process_cpu_seconds_total") {
                if let name = key[label: "instance"] { cpuSeries[name] = history }
            }
            for (key, history) in store.select("process_resident_memory_bytes") {
                if let name = key[label: "instance"] { memorySeries[name] = history }
            }
            let usageSeries = Set(cpuSeries.keys).union(memorySeries.keys).sorted().map { name in
                Usage(
                    key: name,
                    points: times.map { t in
                        let cpu = cpuSeries[name].flatMap {
                            $0.value(at: t, staleness: 3 * step + 15) == nil
                                ? nil : $0.increase(from: t - step, to: t) / step
                        }
                        return Usage.Point(
                            t: t,
                            cpu: cpu,
                            memory: memorySeries[name]?.value(at: t, staleness: 3 * step + 15)
                        )
                    }
                )
            }
            // the routers' stage pools: attempts and failures per upstream, and who has it ejected
            var pools: [String: Upstream] = [:]
            for (key, history) in store.select("switchyard_upstream_requests_total") {
                guard let stage = key[label: "stage"], let upstream = key[label: "upstream"] else { continue }
                let id = stage + "\u{1F}" + upstream
                let attempts = history.increase(from: now - 60, to: now) / 60
                var entry = pools[id] ?? Upstream(stage: stage, instance: upstream, ejected: 0, rps: 0, errorRate: nil)
                entry.rps += attempts
                if key[label: "code"] != "ok" { entry.errorRate = (entry.errorRate ?? 0) + attempts }
                pools[id] = entry
            }
            for (key, history) in store.select("switchyard_upstream_ejected") {
                guard let stage = key[label: "stage"], let upstream = key[label: "upstream"],
                    let value = history.value(at: now, staleness: 60)
                else { continue }
                let id = stage + "\u{1F}" + upstream
                pools[id, default: Upstream(stage: stage, instance: upstream, ejected: 0, rps: 0, errorRate: nil)]
                    .ejected += value
            }
            let upstreams = pools.values.map { entry -> Upstream in
                var entry = entry
                entry.errorRate = entry.rps > 0 ? (entry.errorRate ?? 0) / entry.rps : nil
                return entry
            }.sorted { ($0.stage, $0.instance) < ($1.stage, $1.instance) }
            var releases: [String: Release] = [:]
            for (key, history) in store.select("switchyard_release_candidate_percent") {
                guard let model = key[label: "model"], let value = history.value(at: now, staleness: 60) else {
                    continue
                }
                var entry = releases[model] ?? Release(model: model)
                entry.candidatePercent = max(entry.candidatePercent ?? 0, value)
                releases[model] = entry
            }
            for (key, history) in store.select("switchyard_rollout_phase") {
                guard let model = key[label: "model"], let phase = key[label: "phase"],
                    history.value(at: now, staleness: 60) == 1
                else { continue }
                releases[model, default: Release(model: model)].phase = phase
            }
            for (key, history) in store.select("switchyard_rollout_decision_info") {
                guard let model = key[label: "model"], let decision = key[label: "decision"],
                    history.value(at: now, staleness: 60) == 1
                else { continue }
                releases[model, default: Release(model: model)].decision = decision
            }
            return (
                models, services, batches, since, usage, usageSeries, upstreams,
                releases.values.sorted { $0.model < $1.model }
            )
        }
        self.releases = releases
        self.usage = usageSeries
        self.upstreams = upstreams
        self.models = models
        self.services = services
        self.batches = batches
        self.historySince = historySince
        self.instances = monitor.instances(now: now).map { record, status in
            let use = usage[record.name]
            return Instance(
                name: record.name,
                service: record.service,
                version: record.version,
                address: record.address,
                status: status,
                lastSeenAgo: max(0, now - record.lastSeen),
                firstSeen: record.firstSeen,
                cpu: use?.cpu,
                memory: use?.memory,
                inFlight: use?.inFlight
            )
        }
        self.drift = monitor.drift().map { entry in
            let top = entry.features.enumerated().sorted { $0.element > $1.element }.prefix(5).map {
                Drift.Feature(feature: $0.offset, psi: $0.element)
            }
            return Drift(
                key: entry.key,
                rows: entry.rows,
                profiled: entry.profiled,
                maxPSI: entry.features.max(),
                meanPSI: entry.features.isEmpty ? nil : entry.features.reduce(0, +) / Double(entry.features.count),
                predictionPSI: entry.prediction,
                top: top
            )
        }
        self.alerts = monitor.activeAlerts
        self.events = Array(monitor.recentEvents.suffix(20))
    }

    static func series(
        _ requests: [(key: SeriesKey, history: SeriesHistory)],
        _ durations: [(key: SeriesKey, history: SeriesHistory)],
        group: (SeriesKey) -> String?,
        times: [Double],
        step: Double
    ) -> [Series] {
        var requestGroups: [String: [(key: SeriesKey, history: SeriesHistory)]] = [:]
        for entry in requests { if let name = group(entry.key) { requestGroups[name, default: []].append(entry) } }
        var durationGroups: [String: [(key: SeriesKey, history: SeriesHistory)]] = [:]
        for entry in durations { if let name = group(entry.key) { durationGroups[name, default: []].append(entry) } }
        let first = (times.first ?? 0) - step
        let last = times.last ?? 0
        return requestGroups.keys.sorted().map { name in
            let entries = requestGroups[name]!
            let points = times.map { t -> Point in
                var all = 0.0
                var failed = 0.0
                for (key, history) in entries {
                    let increase = history.increase(from: t - step, to: t)
                    all += increase
                    if key[label: "code"] != "ok" { failed += increase }
                }
                let buckets = Self.buckets(durationGroups[name] ?? [], from: t - step, to: t)
                return Point(
                    t: t,
                    rps: all / step,
                    errorRate: all > 0 ? failed / all : nil,
                    p50: Self.quantile(0.5, buckets).map { $0 * 1000 },
                    p99: Self.quantile(0.99, buckets).map { $0 * 1000 }
                )
            }
            var total = 0.0
            var errors: [String: Double] = [:]
            for (key, history) in entries {
                let increase = history.increase(from: first, to: last)
                total += increase
                if let code = key[label: "code"], code != "ok", increase > 0 { errors[code, default: 0] += increase }
            }
            return Series(key: name, points: points, total: total, errors: errors)
        }
    }

    /// Bucket increases summed over series, by upper bound.
    static func buckets(
        _ entries: [(key: SeriesKey, history: SeriesHistory)],
        from: Double,
        to: Double
    ) -> [(Double, Double)] {
        var sums: [Double: Double] = [:]
        for (key, history) in entries {
            guard let le = key[label: "le"].flatMap({ Exposition.number(Substring($0)) }) else { continue }
            sums[le, default: 0] += history.increase(from: from, to: to)
        }
        return sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The quantile of a cumulative histogram, interpolated linearly inside the bucket (as PromQL's
    /// `histogram_quantile`); the top finite bound when it falls in the `+Inf` bucket.
    static func quantile(_ q: Double, _ buckets: [(Double, Double)]) -> Double? {
        guard let total = buckets.last?.1, total > 0 else { return nil }
        let rank = q * total
        var lowerBound = 0.0
        var lowerCount = 0.0
        for (bound, count) in buckets {
            if count >= rank {
                if bound.isInfinite { return lowerBound }
                let inside = count - lowerCount
                return inside > 0 ? lowerBound + (bound - lowerBound) * (rank - lowerCount) / inside : bound
            }
            lowerBound = bound
            lowerCount = count
        }
        return lowerBound
    }

    static func batches(_ store: SeriesStore, times: [Double], step: Double, now: Double) -> [Batches] {
        let group: (SeriesKey) -> String = { ($0[label: "model"] ?? "-") + "/" + ($0[label: "stage"] ?? "-") }
        var sums: [String: [SeriesHistory]] = [:]
        var counts: [String: [SeriesHistory]] = [:]
        var buckets: [String: [(key: SeriesKey, history: SeriesHistory)]] = [:]
        var depth: [String: Double] = [:]
        for (key, history) in store.select("switchyard_batch_size_sum") {
            sums[group(key), default: []].append(history)
        }
        for (key, history) in store.select("switchyard_batch_size_count") {
            counts[group(key), default: []].append(history)
        }
        for entry in store.select("switchyard_batch_size_bucket") {
            buckets[group(entry.key), default: []].append(entry)
        }
        for (key, history) in store.select("switchyard_batch_queue_depth") {
            if let value = history.value(at: now, staleness: 60) { depth[group(key), default: 0] += value }
        }
        return Set(counts.keys).union(depth.keys).sorted().map { name in
            let points = times.map { t -> Batches.Point in
                let sum = (sums[name] ?? []).reduce(0) { $0 + $1.increase(from: t - step, to: t) }
                let count = (counts[name] ?? []).reduce(0) { $0 + $1.increase(from: t - step, to: t) }
                return Batches.Point(
                    t: t,
                    mean: count > 0 ? sum / count : nil,
                    perSecond: count / step,
                    p99: Self.quantile(0.99, Self.buckets(buckets[name] ?? [], from: t - step, to: t))
                )
            }
            return Batches(key: name, points: points, queueDepth: depth[name])
        }
    }

    /// The overview as JSON (NaN and infinities as null).
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}
