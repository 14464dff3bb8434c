import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import SwitchyardRuntime
import SwitchyardTesting
import SwitchyardTransport
import Testing

/// A real Prometheus scrapes the monitor, which holds what instances pushed to it; the values arrive unchanged.
@Suite(.timeLimit(.minutes(2)))
struct PrometheusScrapeTests {
    @Test func prometheusScrapesTheMonitorAndFindsEveryInstancesSeriesWithTheirValues() async throws {
        guard let prometheus = Fixtures.which(["prometheus"]) else {
            // ops/setup.sh installs it; only a machine that skipped setup gets here
            #expect(!Fixtures.isCI, "prometheus is missing; ops/setup.sh installs it (apt-get install prometheus)")
            print("skipped: the prometheus binary is missing outside CI (run ops/setup.sh)")
            return
        }
        let httpPort = try Fixtures.freePort()  // the open Prometheus exposition, as a scrape config names it
        let monitor = try await ServiceProcess(
            "switchyard-monitor",
            arguments: ["--port", "0", "--http-port", "0", "--exposition-port", "\(httpPort)", "--sample-seconds", "1"]
                + Fixtures.tls("monitor")
        )
        defer { monitor.kill() }
        // a real service reports its process metrics and serves its own /metrics
        let echo = try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--monitor", "127.0.0.1:\(monitor.port)", "--report-seconds", "0.5", "--metrics-port",
                "0",
            ]
                + Fixtures.tls("echo")
        )
        defer { echo.kill() }

        // an instance in this process reports request metrics with known values, as the router's would look
        let registry = PrometheusCollectorRegistry()
        let labels = [("service", "router"), ("method", "infer"), ("model", "digits"), ("version", "1")]
        let requests = MetricNameDescriptor(metricName: "switchyard_requests", unitName: "total", helpText: "")
        registry.makeCounter(descriptor: requests, labels: labels + [("code", "ok")]).increment(by: Int64(7))
        registry.makeCounter(descriptor: requests, labels: labels + [("code", "unavailable")]).increment(by: Int64(2))
        let duration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                metricName: "switchyard_request_duration",
                unitName: "seconds",
                helpText: ""
            ),
            labels: labels,
            buckets: MetricsExport.durationBuckets
        )
        for milliseconds in [1, 2, 3] { duration.record(.milliseconds(milliseconds)) }
        var client = WireClientConfiguration(
            host: "127.0.0.1",
            port: monitor.port,
            tls: TLSSettings(
                caPath: Fixtures.certificates.caPath,
                certificatePath: Fixtures.certificates.certificatePath("probe"),
                keyPath: Fixtures.certificates.keyPath("probe")
            )
        )
        client.identity = "router"
        var configuration = MonitorReporter.Configuration(client: client, service: "router")
        configuration.interval = .milliseconds(500)
        var logger = Logger(label: "probe")
        logger.logLevel = .critical
        let reporter = MonitorReporter(
            configuration: configuration,
            exposition: { registry.emitToBuffer() },
            logger: logger
        )
        let reporting = Task { try await reporter.run() }
        defer { reporting.cancel() }

        // Prometheus on loopback, scraping the monitor every second
        let folder = try Fixtures.temporaryDirectory("prometheus")
        defer { try? FileManager.default.removeItem(at: folder) }
        let prometheusPort = try Fixtures.freePort()
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: switchyard
                honor_labels: true  # the monitor federates: keep each instance's own labels
                static_configs: [{targets: ["127.0.0.1:\(httpPort)"]}]
            """
        try config.write(to: folder.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = [
            "--config.file=\(folder.path)/prometheus.yml", "--storage.tsdb.path=\(folder.path)/data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)", "--log.level=warn",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            if server.isRunning { kill(server.processIdentifier, SIGKILL) }
            server.waitUntilExit()
        }
        let api = "http://127.0.0.1:\(prometheusPort)/api/v1/query?query="
        func query(_ promQL: String) async -> [(labels: [String: String], value: Double)]? {
            let escaped = promQL.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promQL
            guard let root = await Fixtures.json(api + escaped) as? [String: Any],
                let data = root["data"] as? [String: Any],
                let result = data["result"] as? [[String: Any]]
            else { return nil }
            return result.compactMap { entry in
                guard let metric = entry["metric"] as? [String: String], let pair = entry["value"] as? [Any],
                    let text = pair.last as? String,
                    let value = Double(text)
                else { return nil }
                return (metric, value)
            }
        }
        func value(_ promQL: String) async -> Double? {
            await Fixtures.waitFor(.seconds(60), every: .milliseconds(500)) { await query(promQL)?.first?.value }
        }

        #expect(await value(#"switchyard_requests_total{instance="probe",code="ok",model="digits",version="1"}"#) == 7)
        #expect(await value(#"sum(switchyard_requests_total{instance="probe"})"#) == 9)
        #expect(await value(#"switchyard_request_duration_seconds_count{instance="probe"}"#) == 3)
        #expect(await value(#"switchyard_request_duration_seconds_bucket{instance="probe",le="0.001"}"#) == 1)
        let p99 = try #require(
            await value(
                #"histogram_quantile(0.99, sum by (le) (switchyard_request_duration_seconds_bucket{instance="probe"}))"#
            )
        )
        #expect(p99 > 0.0025 && p99 <= 0.005)
        #expect(await value(#"switchyard_monitor_instance_up{exported_instance="echo",exported_service="echo"}"#) == 1)
        let memory = try #require(await value(#"process_resident_memory_bytes{instance="echo",service="echo"}"#))
        #expect(memory > 1_000_000)
        #expect(await value(#"process_cpu_seconds_total{instance="echo"}"#) != nil)
        let reports = try #require(await value(#"switchyard_monitor_reports_total{instance="echo"}"#))
        #expect(reports >= 1)

        // every query of the Grafana dashboard in ops/ is valid PromQL for this Prometheus
        let grafana =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: packageRoot().appendingPathComponent("ops/grafana/switchyard-dashboard.json"))
            ) as? [String: Any]
        let expressions = ((grafana?["panels"] as? [[String: Any]]) ?? []).flatMap {
            ($0["targets"] as? [[String: Any]]) ?? []
        }
        .compactMap { $0["expr"] as? String }
        #expect(expressions.count >= 15)
        for expression in expressions {
            let escaped = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
            let answer = await Fixtures.json(api + escaped) as? [String: Any]
            #expect(answer?["status"] as? String == "success", "Grafana query refused: \(expression)")
        }

        // the service's own endpoint serves the same registry in the text format
        let url = try #require(Fixtures.httpURL(in: echo.log))
        let own = try #require(await Fixtures.get(url + "metrics"))
        #expect(own.status == 200)
        let text = String(decoding: own.body, as: UTF8.self)
        #expect(text.contains("# TYPE process_cpu_seconds_total counter"))
        #expect(text.contains("switchyard_monitor_reports_total "))
        #expect(await Fixtures.get(url + "healthz")?.status == 200)
        // every family has a # HELP line, in the service's export and in the monitor's (Prometheus read both above)
        let federated = try #require(await Fixtures.get("http://127.0.0.1:\(httpPort)/metrics"))
        for exposition in [text, String(decoding: federated.body, as: UTF8.self)] {
            let lines = exposition.split(separator: "\n")
            let families = lines.filter { $0.hasPrefix("# TYPE ") }.compactMap {
                $0.split(separator: " ").dropFirst(2).first
            }
            let helped = Set(
                lines.filter { $0.hasPrefix("# HELP ") }.compactMap { $0.split(separator: " ").dropFirst(2).first }
            )
            #expect(families.count >= 3)
            #expect(
                families.allSatisfy(helped.contains),
                "families without # HELP: \(families.filter { !helped.contains($0) })"
            )
        }
        #expect(text.contains("# HELP switchyard_monitor_reports_total Reports sent to the monitor."))
    }
}
