import ArgumentParser
import Foundation
import SwitchyardLoad
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// `yard echo`: round trips to a service's `echo` method, to check certificates and connectivity and to see the
/// latency of one hop. A fixed-size `yard load` run whose answers must equal what was sent.
struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send echo requests to a Switchyard service and report what came back.",
        discussion:
            "Each request carries a 784-float tensor; the answer must carry it back unchanged. For sweeps, rates and reports use yard load."
    )

    @Option(help: "The service, as HOST:PORT.") var target = "127.0.0.1:7401"
    @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
    @Option(help: "Client certificate (PEM).") var cert = "ops/certs/out/client.pem"
    @Option(help: "Client private key (PEM).") var key = "ops/certs/out/client.key"
    @Option(help: "Requests to send.") var requests = 2000
    @Option(help: "Requests in flight at once.") var concurrency = 16
    @Option(help: "Connections to open.") var connections = 1
    @Option(help: "Deadline of each request, in milliseconds.") var timeoutMs = 1000

    func validate() throws {
        guard self.requests > 0, self.requests <= 10_000_000 else {
            throw ValidationError("--requests must be 1...10000000")
        }
        guard self.concurrency > 0, self.concurrency <= 4096 else {
            throw ValidationError("--concurrency must be 1...4096")
        }
        guard self.connections > 0, self.connections <= 64 else {
            throw ValidationError("--connections must be 1...64")
        }
        guard self.timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
        guard Self.split(self.target) != nil else {
            throw ValidationError("--target must be HOST:PORT, got '\(self.target)'")
        }
    }

    static func split(_ target: String) -> (String, Int)? {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        return (String(target[..<colon]), port)
    }

    func run() async throws {
        let (host, port) = Self.split(self.target)!
        let client: WireClient
        do {
            var configuration = WireClientConfiguration(
                host: host,
                port: port,
                tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key)
            )
            configuration.connections = self.connections
            configuration.identity = "yard-echo"
            client = try WireClient(configuration: configuration)
            try await client.connect()
        } catch {
            throw fail("echo", "cannot reach \(self.target): \(error)")
        }
        let values = (0..<784).map { Float($0) / 784 }
        let row = try Tensor(values, shape: [1, 784])
        let source = try RequestSource(method: Method.echo, model: "", inputName: "x", rows: row)
        let check = try OutputCheck(expected: .values(values, width: 784, tolerance: 0), outputName: "x", rowCount: 1)
        var settings = LoadSettings.requests(self.requests)
        settings.timeout = .milliseconds(self.timeoutMs)
        let generator = try LoadGenerator(target: client, source: source, settings: settings, check: check)
        let result = try await generator.run(.closed(concurrency: self.concurrency))
        await client.close()
        let wrong = result.validation?.mismatchedRows ?? 0
        let l = result.latencyMs
        print(
            "echo to \(self.target): \(result.ok - wrong) ok, \(result.failed + wrong) failed in \(String(format: "%.2f", result.elapsedS)) s "
                + "(\(LoadFormat.rate(result.throughput)) req/s, \(self.concurrency) in flight, \(self.connections) connection(s))"
        )
        if l.count > 0 {
            print(
                "latency p50 \(String(format: "%.3f", l.p50)) ms  p90 \(String(format: "%.3f", l.p90)) ms  "
                    + "p99 \(String(format: "%.3f", l.p99)) ms  max \(String(format: "%.3f", l.max)) ms"
            )
        }
        for error in result.errors { print("  \(error.count) × \(error.status)") }
        if wrong > 0 { print("  \(wrong) × wrong echo") }
        if result.failed + wrong > 0 { throw ExitCode.failure }
    }
}
