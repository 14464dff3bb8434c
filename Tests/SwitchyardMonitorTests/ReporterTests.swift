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
            arguments: ["--port", "0", "--monitor", "127.0.0.1:\(nobody)", "--report-seconds", "0.2", "--metrics-port", "0"] + Fixtures.tls("echo")
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
                host: "127.0.0.1", port: echo.port,
                tls: TLSSettings(caPath: Fixtures.certificates.caPath, certificatePath: Fixtures.certificates.certificatePath("app"),
                                 keyPath: Fixtures.certificates.keyPath("app"))
            ),
            logger: logger
        )
        for _ in 0..<20 {
            let response = try await client.call(Request(method: "echo", parameters: [Parameter("n", "1")]), deadline: .now.advanced(by: .seconds(10)))
            #expect(response[parameter: "n"] == "1")
        }
        await client.close()
    }

    @Test func theSamplerKeepsRowsAndClassesUpToItsLimit() throws {
        let sampler = InputSampler()
        sampler.offer(model: "m", version: "1", inputs: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 8), shape: [2, 4]))],
                      outputs: [NamedTensor("label", try Tensor([Int64(3), 4], shape: [2]))])
        #expect(sampler.drain().isEmpty)  // off until configured
        sampler.configure(rate: 1, limit: 3)
        for _ in 0..<2 {
            sampler.offer(
                model: "m", version: "1", inputs: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 8), shape: [2, 4]))],
                outputs: [NamedTensor("scores", try Tensor([Float(0.1), 0.9, 0.8, 0.2], shape: [2, 2]))]
            )
        }
        let drained = sampler.drain()
        #expect(drained.map(\.name) == ["inputs/m/1", "classes/m/1"])
        #expect(drained[0].tensor.shape == [3, 4])
        #expect(try drained[1].tensor.scalars(as: Int64.self) == [1, 0, 1])
        #expect(sampler.drain().isEmpty)
    }
}
