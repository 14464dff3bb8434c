import Foundation
import SwitchyardMonitor
import SwitchyardTesting
import Testing

/// The monitor's logic without processes: the text format, counters and histograms over time, drift, alerts, snapshots.
struct MonitorLogicTests {
    static let report = """
        # TYPE switchyard_requests_total counter
        switchyard_requests_total{service="router",method="infer",model="digits",version="1",code="ok"} 10
        switchyard_requests_total{service="router",method="infer",model="digits",version="1",code="unavailable"} 1
        # TYPE switchyard_request_duration_seconds histogram
        switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="0.001"} 5
        switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="0.01"} 10
        switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="+Inf"} 11
        switchyard_request_duration_seconds_sum{service="router",method="infer",model="digits",version="1"} 0.05
        switchyard_request_duration_seconds_count{service="router",method="infer",model="digits",version="1"} 11
        # TYPE switchyard_upstream_ejected gauge
        switchyard_upstream_ejected{stage="inference",instance="127.0.0.1:7402"} 0
        # TYPE process_cpu_seconds_total counter
        process_cpu_seconds_total 1.5
        """

    @Test func theTextFormatParsesAndRendersBack() {
        let (parsed, skipped) = Exposition.parse(Self.report + "\nnot a sample\nescaped{a=\"x\\\"y\\\\z\"} 2\n")
        #expect(skipped == 1)
        #expect(parsed.samples.count == 10)
        #expect(parsed.type(of: "switchyard_request_duration_seconds_bucket") == .histogram)
        #expect(parsed.samples[4].key[label: "le"] == "+Inf")
        #expect(parsed.samples.last!.key[label: "a"] == "x\"y\\z")
        let text = Exposition.render([("escaped", .gauge, [parsed.samples.last!])])
        #expect(
            text == "# HELP escaped Switchyard metric escaped.\n# TYPE escaped gauge\nescaped{a=\"x\\\"y\\\\z\"} 2\n"
        )
        #expect(Exposition.parse(text).0.samples == [parsed.samples.last!])
    }

    @Test func everyFamilyGetsOneHelpLineAndAnExistingOneStays() {
        let exposition = """
            # HELP process_cpu_seconds_total Own text.
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 1
            # TYPE switchyard_requests_total counter
            switchyard_requests_total{code="ok"} 2
            # TYPE custom gauge
            custom 3

            """
        #expect(
            MetricHelp.adding(to: exposition) == """
                # HELP process_cpu_seconds_total Own text.
                # TYPE process_cpu_seconds_total counter
                process_cpu_seconds_total 1
                # HELP switchyard_requests_total \(MetricHelp.texts["switchyard_requests_total"]!)
                # TYPE switchyard_requests_total counter
                switchyard_requests_total{code="ok"} 2
                # HELP custom Switchyard metric custom.
                # TYPE custom gauge
                custom 3

                """
        )
        #expect(Exposition.parse(MetricHelp.adding(to: exposition)).0.samples.count == 3)
    }

    /// Every `switchyard_*` family the sources create has its own `# HELP` text, not the generic one.
    @Test func everyMetricTheSourcesNameHasItsOwnHelpText() throws {
        let root = packageRoot()
        var names: Set<String> = []
        for folder in ["Sources", "services"] {
            let files = FileManager.default.enumerator(atPath: root.appendingPathComponent(folder).path)
            while let file = files?.nextObject() as? String {
                guard file.hasSuffix(".swift") else { continue }
                let text = try String(contentsOf: root.appendingPathComponent("\(folder)/\(file)"), encoding: .utf8)
                for match in text.matches(of: /"(switchyard_[a-z_]+)"/) {
                    let name = String(match.1)
                    if !["_bucket", "_count", "_sum"].contains(where: name.hasSuffix) { names.insert(name) }
                }
            }
        }
        #expect(names.count >= 20)
        #expect(names.filter { MetricHelp.texts[$0] == nil }.sorted() == [])
    }

    @Test func countersGrowAcrossRestartsAndHistogramsMergeAcrossInstances() {
        var store = SeriesStore()
        let key = SeriesKey(name: "x", labels: [])
        // the process restarted between 10 and 20
        for (time, value) in [(0.0, 5.0), (10, 15), (20, 3), (30, 8)] {
            store.append(key, type: .counter, time: time, value: value)
        }
        let history = store.series[key]!
        #expect(history.increase(from: 0, to: 30) == 10 + 3 + 5)
        #expect(history.increase(from: 10, to: 20) == 3)
        #expect(history.value(at: 25, staleness: 10) == 3)
        #expect(history.value(at: 45, staleness: 10) == nil)

        // two instances, one fast and one slow: the merged p99 is the fleet's, not an average of the two
        let monitor = Monitor(configuration: Monitor.Configuration())
        func text(_ fast: Int, _ slow: Int, _ total: Int) -> String {
            """
            # TYPE switchyard_requests_total counter
            switchyard_requests_total{service="router",method="infer",model="digits",version="1",code="ok"} \(total)
            # TYPE switchyard_request_duration_seconds histogram
            switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="0.001"} \(fast)
            switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="0.1"} \(fast + slow)
            switchyard_request_duration_seconds_bucket{service="router",method="infer",model="digits",version="1",le="+Inf"} \(total)
            """
        }
        let start = 1_000_000.0
        monitor.ingest(.init(instance: "a", parameters: ["service": "router"], metrics: text(0, 0, 0)), now: start)
        monitor.ingest(.init(instance: "b", parameters: ["service": "router"], metrics: text(0, 0, 0)), now: start + 1)
        monitor.ingest(
            .init(instance: "a", parameters: ["service": "router"], metrics: text(990, 0, 990)),
            now: start + 9
        )
        monitor.ingest(
            .init(instance: "b", parameters: ["service": "router"], metrics: text(0, 10, 10)),
            now: start + 9.5
        )
        let overview = Overview(monitor: monitor, now: start + 10, minutes: 1, step: 10)
        let point = try! #require(overview.models.first { $0.key == "digits/1" }?.points.last)
        #expect(point.rps == 100)
        #expect(point.errorRate == 0)
        #expect(point.p50! < 1)  // ms: the fast instance dominates
        #expect(point.p99! <= 1.0001)  // the 990th of 1000 requests is still a fast one
        #expect(overview.instances.map(\.name) == ["a", "b"])
    }

    @Test func reportedSeriesGetTheInstanceAndStaleOnesLeaveTheExposition() {
        let monitor = Monitor(configuration: Monitor.Configuration())
        monitor.ingest(
            .init(instance: "router-1", parameters: ["service": "router", "interval": "1"], metrics: Self.report),
            now: 100
        )
        let text = monitor.exposition(now: 101)
        #expect(
            text.contains(
                #"switchyard_requests_total{code="ok",instance="router-1",method="infer",model="digits",service="router",version="1"} 10"#
            )
        )
        #expect(
            text.contains(
                #"switchyard_upstream_ejected{exported_instance="127.0.0.1:7402",instance="router-1",service="router",stage="inference"} 0"#
            )
        )
        #expect(text.contains(#"process_cpu_seconds_total{instance="router-1",service="router"} 1.5"#))
        #expect(text.components(separatedBy: "# TYPE switchyard_request_duration_seconds histogram").count == 2)
        #expect(monitor.instances(now: 101).first?.status == "up")
        #expect(monitor.instances(now: 110).first?.status == "down")
        #expect(!monitor.exposition(now: 110).contains("router-1"))  // down: its series are no longer current
    }

    @Test func driftIsSmallForTheSameDistributionAndLargeForAShiftedOne() throws {
        var generator = SystemRandomNumberGenerator()
        func rows(_ count: Int, scale: Float) -> [Float] {
            (0..<(count * 3)).map { _ in Float(Int.random(in: 0...16, using: &generator)) * scale }
        }
        let profile = try DriftProfile(
            model: "m",
            version: "1",
            inputs: rows(2000, scale: 1),
            features: 3,
            classes: (0..<2000).map { Int64($0 % 4) }
        )
        #expect(profile.features.count == 3)
        #expect(abs(profile.features[0].proportions.reduce(0, +) - 1) < 1e-9)
        let same = try #require(
            profile.compare(inputs: rows(1000, scale: 1), classes: (0..<1000).map { Int64($0 % 4) })
        )
        #expect(same.features.allSatisfy { $0 < 0.1 })
        #expect(same.prediction < 0.01)
        let shifted = try #require(profile.compare(inputs: rows(1000, scale: 0.25), classes: (0..<1000).map { _ in 0 }))
        #expect(shifted.features.allSatisfy { $0 > 0.5 })
        #expect(shifted.prediction > 1)
        #expect(DriftProfile.psi(expected: [0.5, 0.5], observed: [0.5, 0.5]) == 0)
    }

    @Test func alertsFireAfterTheirHoldTimeAndResolve() throws {
        let rules = try AlertRule.parse(
            yaml: """
                rules:
                  - name: Errors
                    metric: switchyard_requests_total
                    match: {code: unavailable}
                    rate: 10s
                    sum_by: [model]
                    op: ">"
                    threshold: 0.5
                    for: 5s
                    severity: critical
                """
        )
        #expect(rules.first?.holdFor == 5)
        #expect(throws: AlertRuleError.self) {
            try AlertRule.parse(yaml: "rules:\n  - name: x\n    metric: y\n    threshold: 1\n    colour: red\n")
        }
        var configuration = Monitor.Configuration()
        configuration.rules = rules
        let monitor = Monitor(configuration: configuration)
        func report(_ errors: Int, at time: Double) {
            monitor.ingest(
                .init(
                    instance: "r",
                    parameters: ["service": "router", "interval": "1"],
                    metrics: """
                        switchyard_requests_total{model="digits",code="unavailable"} \(errors)
                        """
                ),
                now: time
            )
        }
        var events: [AlertEvent] = []
        var errors = 0
        for second in 0..<30 {
            if second < 15 { errors += 2 }  // 2 errors/s for 15 s, then none
            report(errors, at: Double(second))
            events += monitor.tick(now: Double(second))
        }
        #expect(events.map(\.status) == ["firing", "resolved"])
        #expect(events.first?.labels == ["model": "digits"])
        #expect(events.first?.severity == "critical")
        #expect(events.first.map { $0.at - $0.since } == 5)
        #expect(monitor.activeAlerts.isEmpty)
    }

    @Test func releasesShowTheCandidatesShareAndTheRolloutPhase() {
        let monitor = Monitor(configuration: Monitor.Configuration())
        monitor.ingest(
            .init(
                instance: "router-1",
                parameters: ["service": "router"],
                metrics: """
                    # TYPE switchyard_release_candidate_percent gauge
                    switchyard_release_candidate_percent{model="digits"} 20
                    # TYPE switchyard_rollout_phase gauge
                    switchyard_rollout_phase{model="digits",phase="progressing"} 1
                    switchyard_rollout_phase{model="digits",phase="promoted"} 0
                    # TYPE switchyard_rollout_decision_info gauge
                    switchyard_rollout_decision_info{model="digits",decision="step 1 of 3: 10% to 2"} 0
                    switchyard_rollout_decision_info{model="digits",decision="gates passed (200 requests); step 2 of 3: 20% to 2"} 1
                    """
            ),
            now: 100
        )
        let overview = Overview(monitor: monitor, now: 101, minutes: 1, step: 10)
        #expect(overview.releases.map(\.model) == ["digits"])
        #expect(overview.releases.first?.candidatePercent == 20)
        #expect(overview.releases.first?.phase == "progressing")
        #expect(overview.releases.first?.decision == "gates passed (200 requests); step 2 of 3: 20% to 2")
    }

    @Test func aSnapshotRestoresTheHistory() throws {
        let monitor = Monitor(configuration: Monitor.Configuration())
        monitor.ingest(.init(instance: "router-1", parameters: ["service": "router"], metrics: Self.report), now: 1000)
        _ = monitor.tick(now: 1000)
        let data = try monitor.snapshot()
        let restored = Monitor(configuration: Monitor.Configuration())
        try restored.restore(data, now: 1001)
        #expect(restored.instances(now: 1001).map(\.record) == monitor.instances(now: 1001).map(\.record))
        #expect(restored.withStore { $0.sampleCount } == monitor.withStore { $0.sampleCount })
    }
}
