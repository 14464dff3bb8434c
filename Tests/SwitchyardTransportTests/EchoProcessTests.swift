import Foundation
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
        return try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--ca", certificates.caPath,
                "--cert", certificates.certificatePath("server"), "--key", certificates.keyPath("server"),
                "--drain-seconds", "5",
            ]
        )
    }

    static func client(_ service: ServiceProcess) throws -> WireClient {
        try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: service.port, tls: Harness.clientTLS()),
            logger: Harness.logger
        )
    }

    @Test func sigtermDrainsInFlightRequestsThenExitsCleanly() async throws {
        let service = try await Self.start()
        let client = try Self.client(service)
        let x = try Tensor([Float](repeating: 1.5, count: 784), shape: [1, 784])
        #expect(
            try await client.call(Request(method: "echo", tensors: [NamedTensor("x", x)])).tensors.first?.tensor == x
        )
        let slow = Task {
            try await client.call(
                Request(
                    method: "echo",
                    parameters: [Parameter("echo.delay_ms", "2000")],
                    tensors: [NamedTensor("x", x)]
                ),
                deadline: .now.advanced(by: .seconds(15))
            )
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

    @Test func jsonLogsCarryTheLevelAndEveryRequestsTraceAndRequestIDs() async throws {
        let certificates = Harness.certificates
        let service = try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--ca", certificates.caPath, "--log-format", "json", "--log-level", "debug",
                "--cert", certificates.certificatePath("server"), "--key", certificates.keyPath("server"),
            ]
        )
        defer { service.kill() }
        let client = try Self.client(service)
        let trace = TraceID(high: 0x0123_4567_89ab_cdef, low: 0x0fed_cba9_8765_4321)
        // an unknown method is logged by the echo service at debug level, about that request
        _ = try? await client.call(Request(method: "nope", traceID: trace), deadline: .now.advanced(by: .seconds(30)))
        // a caller with a W3C traceparent and no trace id in the header: its trace id is the request's
        let w3c = Request(
            method: "nope",
            parameters: [Parameter(ParameterKey.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
        )
        _ = try? await client.call(w3c, deadline: .now.advanced(by: .seconds(30)))
        await client.close()
        service.terminate()
        _ = await service.waitForExit()
        let lines = service.log.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty)
        var records: [[String: Any]] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            records.append(try #require(object, "not a JSON object: \(line)"))
        }
        #expect(records.allSatisfy { $0["level"] is String && $0["message"] is String && $0["time"] is String })
        #expect(records.contains { $0["message"] as? String == "listening" && $0["level"] as? String == "info" })
        let about = records.filter { $0["trace.id"] as? String == "0123456789abcdef0fedcba987654321" }
        #expect(!about.isEmpty, "no log line names the request's trace id: \(service.log)")
        #expect(about.allSatisfy { $0["request.id"] as? String == "1" })
        let traced = records.filter { $0["trace.id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736" }
        #expect(!traced.isEmpty, "no log line names the traceparent's trace id: \(service.log)")
        #expect(traced.allSatisfy { $0["request.id"] as? String == "2" })
    }

    @Test func badLogSettingsAreRefusedWithTheirNames() async throws {
        let path = ServiceProcess.productsDirectory.appendingPathComponent("switchyard-echo").path
        let certificates = Harness.certificates
        let common = [
            "--ca", certificates.caPath, "--cert", certificates.certificatePath("server"), "--key",
            certificates.keyPath("server"),
        ]
        let level = try await runCommand(path, common + ["--log-level", "loud"])
        #expect(level.status != 0 && level.output.contains("--log-level"), "\(level.output)")
        let format = try await runCommand(path, common + ["--log-format", "xml"])
        #expect(format.status != 0 && format.output.contains("--log-format"), "\(format.output)")
    }

    /// wire-v1.md §6.2: past `--max-in-flight` a request is refused at once, and the connection is still read.
    @Test func requestsOverMaxInFlightAreRefusedAtOnce() async throws {
        let certificates = Harness.certificates
        let service = try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--ca", certificates.caPath, "--max-in-flight", "4",
                "--cert", certificates.certificatePath("server"), "--key", certificates.keyPath("server"),
            ]
        )
        defer { service.kill() }
        let peer = try await RawPeer.connect(port: service.port, tls: try Harness.clientTLS().makeClientContext())
        defer { Task { await peer.close() } }
        #expect(try await peer.handshake()?.maxInFlight == 4)
        func request(_ id: UInt32, delayMilliseconds: Int?) -> [UInt8] {
            let parameters = delayMilliseconds.map { [Parameter("echo.delay_ms", "\($0)")] } ?? []
            return Frame.request(id: id, Request(method: "echo", parameters: parameters)).encoded()
        }
        // answered at once: the server's count never reaches the limit, so each of 200 pipelined requests is served
        try await peer.send((1...200).flatMap { request($0, delayMilliseconds: nil) })
        var answered = Set<UInt32>()
        for _ in 1...200 {
            switch try await peer.nextFrame() {
            case .response(let id, _)?: answered.insert(id)
            case .error(let id, let status)? where status.code == .resourceExhausted: answered.insert(id)
            case let other: Issue.record("unexpected \(String(describing: other))")
            }
        }
        #expect(answered == Set(1...200))
        // four slow ones fill the limit; a PING shows they have been read
        try await peer.send((201...204).flatMap { request($0, delayMilliseconds: 3000) } + Frame.ping(1).encoded())
        #expect(try await peer.nextFrame() == .pong(1))
        // the next 196 are refused before any slow one is answered, and a PING is still answered
        try await peer.send((205...400).flatMap { request($0, delayMilliseconds: nil) } + Frame.ping(2).encoded())
        var refused = Set<UInt32>()
        var ponged = false
        for _ in 0..<197 {
            switch try await peer.nextFrame() {
            case .error(let id, let status)? where status.code == .resourceExhausted: refused.insert(id)
            case .pong(2)?: ponged = true
            case let other:
                Issue.record("expected a refusal or PONG before the slow answers, got \(String(describing: other))")
            }
        }
        #expect(refused == Set(205...400))
        #expect(ponged)
        var slow = Set<UInt32>()
        for _ in 0..<4 {
            if case .response(let id, _)? = try await peer.nextFrame() { slow.insert(id) }
        }
        #expect(slow == Set(201...204))
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
