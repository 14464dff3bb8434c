import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-echo` as a real process on a loopback port.
@Suite(.timeLimit(.minutes(1)))
struct EchoProcessTests {
    static func start() async throws -> ServiceProcess {
        let certificates = Harness.certificates
        return try await ServiceProcess("switchyard-echo", arguments: [
            "--port", "0", "--ca", certificates.caPath,
            "--cert", certificates.certificatePath("server"), "--key", certificates.keyPath("server"), "--drain-seconds", "5",
        ])
    }

    static func client(_ service: ServiceProcess) throws -> WireClient {
        try WireClient(configuration: WireClientConfiguration(host: "127.0.0.1", port: service.port, tls: Harness.clientTLS()), logger: Harness.logger)
    }

    @Test func sigtermDrainsInFlightRequestsThenExitsCleanly() async throws {
        let service = try await Self.start()
        let client = try Self.client(service)
        let x = try Tensor([Float](repeating: 1.5, count: 784), shape: [1, 784])
        #expect(try await client.call(Request(method: "echo", tensors: [NamedTensor("x", x)])).tensors.first?.tensor == x)
        let slow = Task {
            try await client.call(Request(method: "echo", parameters: [Parameter("echo.delay_ms", "2000")], tensors: [NamedTensor("x", x)]),
                                  deadline: .now.advanced(by: .seconds(15)))
        }
        // one connection, in order: once a later request is answered, the server has the slow one in flight
        try await Task.sleep(for: .milliseconds(50))
        _ = try await client.call(Request(method: "health"))
        service.terminate()
        let response = try await slow.value
        #expect(response.tensors.first?.tensor == x)
        #expect(await service.waitForExit() == 0)
        #expect(service.log.contains("draining"))
        await #expect(throws: (any Error).self) { try await Self.client(service).call(Request(method: "health")) }
    }

    @Test func badDelayParameterIsInvalidArgumentAndTheServiceStaysUp() async throws {
        let service = try await Self.start()
        defer { service.kill() }
        let client = try Self.client(service)
        await #expect {
            try await client.call(Request(method: "echo", parameters: [Parameter("echo.delay_ms", "soon")]))
        } throws: { ($0 as? Status)?.code == .invalidArgument }
        #expect(try await client.call(Request(method: "health"))[parameter: "status"] == "serving")
        await client.close()
    }
}
