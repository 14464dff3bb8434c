import Foundation
import Histogram
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire

/// One measured configuration.
struct BenchResult: Sendable {
    var name: String
    var connections: Int
    var inFlight: Int
    var requests: UInt64
    var seconds: Double
    var histogram: Histogram<UInt64>
    /// Process CPU time (user + system, client and server together) per measured request, in µs.
    var cpuPerRequest: Double = 0
    var rate: Double { Double(self.requests) / self.seconds }

    /// Two measurement rounds of the same configuration as one.
    func merged(with other: BenchResult) -> BenchResult {
        var histogram = self.histogram
        histogram.add(other.histogram)
        let requests = self.requests + other.requests
        let cpu = (self.cpuPerRequest * Double(self.requests) + other.cpuPerRequest * Double(other.requests)) / Double(max(1, requests))
        return BenchResult(
            name: self.name, connections: self.connections, inFlight: self.inFlight, requests: requests,
            seconds: self.seconds + other.seconds, histogram: histogram, cpuPerRequest: cpu
        )
    }
    var p50: Double { Double(self.histogram.valueAtPercentile(50)) / 1000 }
    var p99: Double { Double(self.histogram.valueAtPercentile(99)) / 1000 }
}

/// Runs `inFlight` closed loops over `targets` (round-robin) for `duration` after `warmup`, timing each call in ns.
func closedLoop(
    name: String, connections: Int, inFlight: Int, warmup: Duration, duration: Duration,
    call: @escaping @Sendable (Int) async throws -> Void
) async throws -> BenchResult {
    let clock = ContinuousClock()
    let start = clock.now
    let measureFrom = start.advanced(by: warmup)
    let end = measureFrom.advanced(by: duration)
    let cpuBefore = processCPUSeconds()
    let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
        for worker in 0..<inFlight {
            group.addTask {
                var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                while true {
                    let sent = clock.now
                    if sent >= end { break }
                    try await call(worker)
                    if sent >= measureFrom {
                        let elapsed = sent.duration(to: clock.now)
                        _ = histogram.record(UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000))
                    }
                }
                return histogram
            }
        }
        var all: [Histogram<UInt64>] = []
        for try await histogram in group { all.append(histogram) }
        return all
    }
    let cpuSeconds = processCPUSeconds() - cpuBefore
    var merged = histograms[0]
    for other in histograms.dropFirst() { merged.add(other) }
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    let warmupSeconds = Double(warmup.components.seconds) + Double(warmup.components.attoseconds) / 1e18
    let total = Double(merged.totalCount) * (seconds + warmupSeconds) / seconds  // warm-up calls used CPU too
    return BenchResult(
        name: name, connections: connections, inFlight: inFlight, requests: merged.totalCount, seconds: seconds,
        histogram: merged, cpuPerRequest: cpuSeconds / total * 1e6
    )
}

/// Our protocol's echo against a bare TLS echo, same payload, same process, same event loops.
func runWireBench(seconds: Int, warmupSeconds: Double, rounds: Int, placement: HandlerPlacement, only: [(Int, Int)]? = nil) async throws -> [(BenchResult, BenchResult)] {
    let certificates = try CertificateFixture(names: ["server", "client"])
    defer { certificates.remove() }
    let tls = TLSSettings(caPath: certificates.caPath, certificatePath: certificates.certificatePath("server"), keyPath: certificates.keyPath("server"))
    let clientTLS = TLSSettings(caPath: certificates.caPath, certificatePath: certificates.certificatePath("client"), keyPath: certificates.keyPath("client"))
    // Same topology for both: the server on one event loop, the client on another (as two processes would be).
    let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var logger = Logger(label: "bench")
    logger.logLevel = .warning

    // Ours.
    var serverConfiguration = WireServerConfiguration(tls: tls, identity: "echo")
    serverConfiguration.handlerPlacement = placement
    let server = WireServer(configuration: serverConfiguration, service: EchoService(), logger: logger, group: serverGroup)
    let serverTask = Task { try await server.run() }
    let port = try await server.localAddress().port!
    // The ceiling.
    let bareServer = try await BareEcho.startServer(group: serverGroup, context: try tls.makeServerContext())
    let barePort = bareServer.localAddress!.port!

    let row = try Tensor((0..<784).map { Float($0) / 784 }, shape: [1, 784])  // 3136 bytes
    let request = Request(method: Method.echo, tensors: [NamedTensor("x", row)])
    var payload = ByteBufferAllocator().buffer(capacity: 3136)
    row.data.withUnsafeBytes { _ = payload.writeBytes($0) }
    let frozenPayload = payload

    var results: [(BenchResult, BenchResult)] = []
    for (connections, inFlight) in only ?? [(1, 1), (1, 64), (4, 1), (4, 64)] {
        var configuration = WireClientConfiguration(host: "127.0.0.1", port: port, tls: clientTLS)
        configuration.connections = connections
        let client = try WireClient(configuration: configuration, logger: logger, group: group)
        try await client.connect()
        let bareChannels = try await withThrowingTaskGroup(of: (any Channel).self) { group2 in
            for _ in 0..<connections { group2.addTask { try await BareEcho.connect(group: group, context: try clientTLS.makeClientContext(), port: barePort) } }
            var channels: [any Channel] = []
            for try await channel in group2 { channels.append(channel) }
            return channels
        }
        let only = ProcessInfo.processInfo.environment["SWITCHYARD_BENCH_ONLY"]  // "ours" or "bare": profile one side
        // Alternate short rounds so that load changes on the machine hit both sides alike.
        var bareRuns: BenchResult?
        var ourRuns: BenchResult?
        for _ in 0..<rounds {
            if only != "ours" {
                let round = try await closedLoop(
                    name: "bare TLS echo", connections: connections, inFlight: inFlight,
                    warmup: .seconds(warmupSeconds), duration: .seconds(seconds)
                ) { worker in
                    _ = try await BareEcho.call(bareChannels[worker % connections], payload: frozenPayload)
                }
                bareRuns = bareRuns.map { $0.merged(with: round) } ?? round
            }
            if only != "bare" {
                let round = try await closedLoop(
                    name: "switchyard echo", connections: connections, inFlight: inFlight,
                    warmup: .seconds(warmupSeconds), duration: .seconds(seconds)
                ) { _ in
                    _ = try await client.call(request)
                }
                ourRuns = ourRuns.map { $0.merged(with: round) } ?? round
            }
        }
        for channel in bareChannels { try? await channel.close().get() }
        await client.close()
        let empty = BenchResult(name: "-", connections: connections, inFlight: inFlight, requests: 0, seconds: 1, histogram: Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
        let ours = ourRuns ?? empty
        let bare = bareRuns ?? empty
        results.append((ours, bare))
        print(String(format: "%d conn × %3d in flight: switchyard %8.0f req/s p50 %6.1f µs p99 %7.1f µs | bare %8.0f req/s p50 %6.1f µs p99 %7.1f µs | throughput %.2f×, p50 %.2f× | CPU/req %.1f vs %.1f µs",
                     connections, inFlight, ours.rate, ours.p50, ours.p99, bare.rate, bare.p50, bare.p99, ours.rate / bare.rate, ours.p50 / bare.p50, ours.cpuPerRequest, bare.cpuPerRequest))
    }
    serverTask.cancel()
    _ = try? await serverTask.value
    try? await bareServer.close().get()
    return results
}

func wireMarkdown(_ results: [(BenchResult, BenchResult)], command: String) -> String {
    var text = "| connections | in flight | switchyard req/s | p50 µs | p99 µs | CPU µs/req | bare TLS req/s | p50 µs | p99 µs | CPU µs/req | throughput ratio | p50 ratio |\n"
    text += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (ours, bare) in results {
        text += String(format: "| %d | %d | %.0f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.2f | %.2f |\n",
                       ours.connections, ours.inFlight, ours.rate, ours.p50, ours.p99, ours.cpuPerRequest,
                       bare.rate, bare.p50, bare.p99, bare.cpuPerRequest, ours.rate / bare.rate, ours.p50 / bare.p50)
    }
    return text
}

/// One configuration of the wire benchmark, as `switchyard-bench report` reads it.
struct WireRecord: Codable {
    var connections: Int
    var inFlight: Int
    var oursRps: Double
    var oursP50Us: Double
    var oursP99Us: Double
    var oursCpuUsPerRequest: Double
    var bareRps: Double
    var bareP50Us: Double
    var bareP99Us: Double
    var bareCpuUsPerRequest: Double
}

func wireJSON(_ results: [(BenchResult, BenchResult)]) throws -> Data {
    let records = results.map { ours, bare in
        WireRecord(connections: ours.connections, inFlight: ours.inFlight, oursRps: ours.rate, oursP50Us: ours.p50, oursP99Us: ours.p99,
                   oursCpuUsPerRequest: ours.cpuPerRequest, bareRps: bare.rate, bareP50Us: bare.p50, bareP99Us: bare.p99,
                   bareCpuUsPerRequest: bare.cpuPerRequest)
    }
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(records)
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
