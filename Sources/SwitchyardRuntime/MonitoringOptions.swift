public import ArgumentParser
import NIOCore
public import Logging
public import ServiceLifecycle
public import SwitchyardTensor
public import SwitchyardTransport

/// The options every service shares for being watched: reporting to the monitor, its own `/metrics`, sampling.
public struct MonitoringOptions: ParsableArguments {
    @Option(help: "The monitor's wire address, HOST:PORT; reports go there every --report-seconds. (default: none)")
    public var monitor: String?
    @Option(help: "Seconds between reports to the monitor.") public var reportSeconds = 5.0
    @Option(help: "Serve this process's metrics on http://HOST:PORT/metrics (and /healthz); 0 picks a free port. (default: off)")
    public var metricsPort: Int?
    @Option(help: "Fraction of answered requests whose inputs and predictions go to the monitor for drift (router only).")
    public var sampleRate = 0.05
    @Option(help: "Sampled rows kept per model version between two reports; more are dropped and counted.")
    public var sampleLimit = 256

    public init() {}

    /// The fraction of answered requests to sample: ``sampleRate``, or 0 when there is no monitor to send them to.
    public var effectiveSampleRate: Double { self.monitor == nil ? 0 : self.sampleRate }

    public func validate() throws {
        if let monitor { _ = try Self.split(monitor) }
        guard (0.1...3600).contains(self.reportSeconds) else { throw ValidationError("--report-seconds must be 0.1...3600") }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535") }
        guard (0...1).contains(self.sampleRate) else { throw ValidationError("--sample-rate must be 0...1") }
        guard (1...100_000).contains(self.sampleLimit) else { throw ValidationError("--sample-limit must be 1...100000") }
    }

    static func split(_ target: String) throws -> (String, Int) {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--monitor '\(target)' is not HOST:PORT")
        }
        return (String(target[..<colon]), port)
    }

    /// The services that export and report this process's metrics: the `/metrics` endpoint (to run before the
    /// wire server, so it stops after the drain) and the reporter (to run after it, so it stops first and says
    /// the instance is draining).
    /// - Parameters:
    ///   - service: the service's short name.
    ///   - host: the address the service listens on (the metrics endpoint listens there too).
    ///   - server: the service's wire server: its bound address goes in the monitor's instance list.
    ///   - tls: the service's certificate: it names the instance to the monitor.
    ///   - logger: the service's logger.
    ///   - samples: takes the inputs sampled since the last report, to send with it (the router's sampler).
    ///   - readiness: why the service is not ready (`nil` when it is), for `/readyz`.
    ///   - credentials: the process's reloadable TLS material; `nil`: `tls` loaded once.
    /// - Throws: `ValidationError` for a bad `--monitor`.
    public func services(
        service: String, host: String, server: WireServer, tls: TLSSettings, logger: Logger,
        samples: (@Sendable () -> [NamedTensor])? = nil, readiness: @escaping @Sendable () async -> String? = { nil },
        credentials: TLSCredentials? = nil
    ) throws -> (beforeServer: [any Service], afterServer: [any Service]) {
        var before: [any Service] = []
        var after: [any Service] = []
        if let metricsPort {
            before.append(HTTPEndpoint(host: host, port: metricsPort, name: "metrics", logger: logger) { request in
                switch request.path {
                case "/metrics": .prometheus(MetricsExport.exposition())
                // liveness: the process answers; readiness: the service's own health (a router with a healthy
                // instance of every stage, an inference service with a model loaded)
                case "/healthz": .text("ok\n")
                case "/readyz":
                    if let reason = await readiness() { .text("not ready: \(reason)\n", status: 503) } else { .text("ready\n") }
                default: .notFound
                }
            })
        }
        if let monitor {
            let (monitorHost, monitorPort) = try Self.split(monitor)
            var client = WireClientConfiguration(host: monitorHost, port: monitorPort, tls: tls)
            client.identity = service
            client.credentials = credentials
            var configuration = MonitorReporter.Configuration(client: client, service: service)
            configuration.resolveAddress = {
                guard let address = try? await server.localAddress() else { return nil }
                return "\(address.ipAddress ?? host):\(address.port ?? 0)"
            }
            configuration.interval = .milliseconds(Int(self.reportSeconds * 1000))
            configuration.timeout = min(.seconds(2), configuration.interval)
            after.append(MonitorReporter(configuration: configuration, samples: samples, logger: logger))
        }
        return (before, after)
    }
}
