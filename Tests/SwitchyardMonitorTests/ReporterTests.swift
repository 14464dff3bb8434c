import Foundation
import Logging
import SwitchyardClient
import SwitchyardRuntime
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Reporting when the monitor is away: the service serves as before, the reports are dropped and counted.
@Suite(.timeLimit(.minutes(1)))
struct ReporterTests {
    @Test func aServiceWhoseMonitorIsDownServesAndCountsTheDroppedReports() async throws {
        let nobody = try Fixtures.freePort()  // nothing listens here
        let echo = try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--monitor", "127.0.0.1:\(nobody)", "--report-seconds", "0.2", "--metrics-port", "0",
            ] + Fixtures.tls("echo")
        )
        defer { echo.kill() }
        let url = try #require(Fixtures.httpURL(in: echo.log))
        let dropped = await Fixtures.waitFor(.seconds(30)) { () -> Double? in
            guard let (_, body) = await Fixtures.get(url + "metrics") else { return nil }
            let line = String(decoding: body, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix(#"switchyard_monitor_reports_dropped_total{reason="unreachable"}"#) }
            guard let value = line?.split(separator: " ").last.flatMap({ Double($0) }), value >= 3 else { return nil }
            return value
        }
        #expect(dropped != nil, "the dropped reports were not counted")
        #expect(echo.log.contains("monitor unreachable"))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let client = try WireClient(
            configuration: WireClientConfiguration(
                host: "127.0.0.1",
                port: echo.port,
                tls: TLSSettings(
                    caPath: Fixtures.certificates.caPath,
                    certificatePath: Fixtures.certificates.certificatePath("app"),
                    keyPath: Fixtures.certificates.keyPath("app")
                )
            ),
            logger: logger
        )
        for _ in 0..<20 {
            let response = try await client.call(
                Request(method: "echo", parameters: [Parameter("n", "1")]),
                deadline: .now.advanced(by: .seconds(10))
            )
            #expect(response[parameter: "n"] == "1")
        }
        await client.close()
    }
}
