import ArgumentParser
import Foundation
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// `yard echo`: round trips to a service's `echo` method, to check certificates and connectivity and to
/// see the latency of one hop.
struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send echo requests to a Switchyard service and report what came back.",
        discussion: "Each request carries a 784-float tensor; the answer must carry it back unchanged."
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
        guard self.requests > 0, self.requests <= 10_000_000 else { throw ValidationError("--requests must be 1...10000000") }
        guard self.concurrency > 0, self.concurrency <= 4096 else { throw ValidationError("--concurrency must be 1...4096") }
        guard self.connections > 0, self.connections <= 64 else { throw ValidationError("--connections must be 1...64") }
        guard self.timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
        guard Self.split(self.target) != nil else { throw ValidationError("--target must be HOST:PORT, got '\(self.target)'") }
    }

    static func split(_ target: String) -> (String, Int)? {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (String(target[..<colon]), port)
    }

    func run() async throws {
        let (host, port) = Self.split(self.target)!
        let client: SwitchyardClient
        do {
            client = try SwitchyardClient(
                host: host, port: port, tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key),
                connections: self.connections, identity: "yard-echo"
            )
            try await client.connect()
        } catch {
            throw fail("echo", "cannot reach \(self.target): \(error)")
        }
        let row = try Tensor((0..<784).map { Float($0) / 784 }, shape: [1, 784])
        let request = Request(method: "echo", tensors: [NamedTensor("x", row)])
        let perWorker = (0..<self.concurrency).map { self.requests / self.concurrency + ($0 < self.requests % self.concurrency ? 1 : 0) }
        let deadline = Duration.milliseconds(self.timeoutMs)
        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = await withTaskGroup(of: ([Duration], [String: Int]).self) { group in
            for count in perWorker where count > 0 {
                group.addTask {
                    var latencies: [Duration] = []
                    var failures: [String: Int] = [:]
                    for _ in 0..<count {
                        let sent = clock.now
                        do {
                            let response = try await client.call(request, deadline: deadline)
                            if response.tensors.first?.tensor == row {
                                latencies.append(sent.duration(to: clock.now))
                            } else {
                                failures["wrong echo", default: 0] += 1
                            }
                        } catch {
                            failures[(error as? InferenceError)?.code.description ?? "\(error)", default: 0] += 1
                        }
                    }
                    return (latencies, failures)
                }
            }
            var latencies: [Duration] = []
            var failures: [String: Int] = [:]
            for await (part, failed) in group {
                latencies += part
                failures.merge(failed, uniquingKeysWith: +)
            }
            return (latencies.sorted(), failures)
        }
        let elapsed = started.duration(to: clock.now)
        await client.close()
        let (latencies, failures) = outcomes
        func ms(_ d: Duration) -> String { String(format: "%.3f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("echo to \(self.target): \(latencies.count) ok, \(failures.values.reduce(0, +)) failed in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(latencies.count) / seconds)) req/s, \(self.concurrency) in flight, \(self.connections) connection(s))")
        if !latencies.isEmpty {
            print("latency p50 \(ms(percentile(0.5)))  p90 \(ms(percentile(0.9)))  p99 \(ms(percentile(0.99)))  max \(ms(latencies.last!))")
        }
        for (status, count) in failures.sorted(by: { $0.key < $1.key }) { print("  \(count) × \(status)") }
        if !failures.isEmpty { throw ExitCode.failure }
    }
}
