import Foundation
import Logging
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Who may use the monitor: reports only from the mesh's services; the dashboard and JSON API over HTTPS with a
/// bearer token or a read-only client certificate; the Prometheus exposition open on its own port.
@Suite(.timeLimit(.minutes(2)))
struct MonitorAccessTests {
    static func start() async throws -> ServiceProcess {
        try await ServiceProcess(
            "switchyard-monitor",
            arguments: [
                "--port", "0", "--http-port", "0", "--exposition-port", "0", "--http-tokens", Fixtures.tokenFile,
                "--sample-seconds", "1",
            ] + Fixtures.tls("monitor")
        )
    }

    /// The first URL with `scheme` an HTTP endpoint of the monitor logged (its endpoints start beside the wire
    /// server: waited for, within 20 s).
    static func url(_ scheme: String, of monitor: ServiceProcess) async throws -> String {
        let url = await Fixtures.waitFor(.seconds(20), every: .milliseconds(50)) { () -> String? in
            let log = monitor.log
            return log.range(of: scheme + #"://127\.0\.0\.1:\d+/"#, options: .regularExpression).map { String(log[$0]) }
        }
        return try #require(url, "no \(scheme) endpoint in the monitor's log")
    }

    static func wire(_ monitor: ServiceProcess, as name: String) throws -> WireClient {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let tls = TLSSettings(
            caPath: Fixtures.certificates.caPath,
            certificatePath: Fixtures.certificates.certificatePath(name),
            keyPath: Fixtures.certificates.keyPath(name)
        )
        return try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: monitor.port, tls: tls),
            logger: logger
        )
    }

    static func report(_ metrics: String) throws -> Request {
        Request(
            method: Method.report,
            parameters: [Parameter("service", "inference"), Parameter("address", "127.0.0.1:1")],
            tensors: [NamedTensor("metrics", try Tensor(Array(metrics.utf8), shape: [metrics.utf8.count]))]
        )
    }

    @Test func onlyTheMeshsServicesReportAndTheRefusedLeaveNoInstance() async throws {
        let monitor = try await Self.start()
        defer { monitor.kill() }
        let dashboard = try await Self.url("https", of: monitor)
        let app = try Self.wire(monitor, as: "app")
        let refused = await #expect(throws: Status.self) { try await app.call(try Self.report("")) }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.contains("CN=app") == true && refused?.message.contains("'report'") == true)
        #expect(try await app.call(Request(method: Method.health))[parameter: "status"] == "serving")
        await app.close()
        let inference = try Self.wire(monitor, as: "inference")
        _ = try await inference.call(try Self.report(""))
        await inference.close()
        let instances = await Fixtures.waitFor(.seconds(10)) { () -> [String]? in
            guard let rows = await Fixtures.json(dashboard + "api/instances") as? [[String: Any]] else { return nil }
            let names = rows.compactMap { ($0["record"] as? [String: Any])?["name"] as? String }
            return names.contains("inference") ? names : nil
        }
        #expect(instances?.contains("inference") == true, "\(instances ?? [])")
        #expect(instances?.contains("app") == false, "a refused report made an instance")
    }

    @Test func theDashboardNeedsATokenOrAReadOnlyCertificateAndTheExpositionIsOpen() async throws {
        let monitor = try await Self.start()
        defer { monitor.kill() }
        let dashboard = try await Self.url("https", of: monitor)
        let exposition = try await Self.url("http", of: monitor)
        for path in ["api/overview", "api/instances", "api/alerts", "metrics"] {
            #expect(await Fixtures.get(dashboard + path)?.status == 200, "\(path) with the token")
            #expect(await Fixtures.get(dashboard + path, token: nil)?.status == 401, "\(path) without a token")
            let wrong = await Fixtures.get(dashboard + path, token: String(Fixtures.token.reversed()))
            #expect(wrong?.status == 401, "\(path) with a wrong token")
            #expect(await Fixtures.get(dashboard + path, token: nil, as: "readonly")?.status == 200, "\(path) readonly")
            #expect(await Fixtures.get(dashboard + path, token: nil, as: "app")?.status == 401, "\(path) as an app")
        }
        // the page itself holds no data; health checks need no credentials
        #expect(await Fixtures.get(dashboard, token: nil)?.status == 200)
        #expect(await Fixtures.get(dashboard + "healthz", token: nil)?.status == 200)
        // plain HTTP to the dashboard's port gets nothing
        let plain = "http://" + dashboard.dropFirst("https://".count) + "api/overview"
        let answer = await Fixtures.get(plain, token: nil, timeout: .seconds(3))
        #expect(answer == nil || answer?.status == 0, "plain HTTP got HTTP status \(answer?.status ?? 0)")
        // Prometheus scrapes without credentials, on its own port; the API is not there
        let scraped = try #require(await Fixtures.get(exposition + "metrics"))
        #expect(scraped.status == 200 && String(decoding: scraped.body, as: UTF8.self).contains("# TYPE"))
        #expect(await Fixtures.get(exposition + "api/overview")?.status == 404)
        // after all of that the monitor still answers
        #expect(await Fixtures.get(dashboard + "healthz", token: nil)?.status == 200)
    }
}
