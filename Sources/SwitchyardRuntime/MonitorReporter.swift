import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
public import SwitchyardTransport
public import SwitchyardTensor
import SwitchyardWire

/// Pushes this process's metrics (and sampled inputs) to the monitor every few seconds over the wire protocol.
///
/// Why push rather than let the monitor pull: instances come and go on plain VMs, and a pushing instance needs no
/// registry of targets. The monitor learns who is alive from who reports, and the instance's identity is the
/// common name of the client certificate it reports with (mutual TLS), not something it claims. A pull design would
/// need each instance to listen for the monitor and the monitor to be told every address.
///
/// The request path never waits for the monitor: reports go from this service's own task, one at a time, each
/// bounded by a timeout. A report that cannot be delivered (monitor down, slow or refusing) is dropped and counted
/// in `switchyard_monitor_reports_dropped_total`; nothing is queued, so memory stays bounded however long the
/// monitor is away. Intervals missed while a report was pending count as dropped too.
public final class MonitorReporter: Service, Sendable {
    /// Settings of a reporter.
    public struct Configuration: Sendable {
        /// The monitor's wire address and the TLS material to reach it (this certificate names the instance).
        public var client: WireClientConfiguration
        /// The reporting service's name (`router`, `inference`, ...).
        public var service: String
        /// The address this instance serves on, for the monitor's instance list.
        public var address: String = ""
        /// Finds the address once the server has bound (a service started with port 0), else ``address`` is used.
        public var resolveAddress: (@Sendable () async -> String?)?
        /// Time between reports.
        public var interval: Duration = .seconds(5)
        /// Longest a report may take, connecting included, before it is dropped.
        public var timeout: Duration = .seconds(2)

        /// Makes a configuration.
        /// - Parameters:
        ///   - client: where the monitor listens, and TLS.
        ///   - service: the reporting service's name.
        public init(client: WireClientConfiguration, service: String) {
            self.client = client
            self.service = service
        }
    }

    private let configuration: Configuration
    private let exposition: @Sendable () -> [UInt8]
    private let samples: (@Sendable () -> [NamedTensor])?
    private let logger: Logger
    private let sent = Counter(label: "switchyard_monitor_reports_total")
    private let droppedUnreachable = Counter(
        label: "switchyard_monitor_reports_dropped_total",
        dimensions: [("reason", "unreachable")]
    )
    private let droppedLate = Counter(
        label: "switchyard_monitor_reports_dropped_total",
        dimensions: [("reason", "late")]
    )
    private let started = Date().timeIntervalSince1970

    /// Makes a reporter; nothing is sent until `run()`.
    /// - Parameters:
    ///   - configuration: the monitor, the identity, the interval.
    ///   - exposition: this process's metrics in the Prometheus text format (``MetricsExport/exposition()``).
    ///   - samples: takes the inputs sampled since the last report, to send along (the router's sampler).
    ///   - logger: for the first failure of a run of failures and the recovery.
    public init(
        configuration: Configuration,
        exposition: @escaping @Sendable () -> [UInt8] = { MetricsExport.exposition() },
        samples: (@Sendable () -> [NamedTensor])? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.exposition = exposition
        self.samples = samples
        self.logger = logger
    }

    /// Reports every interval until graceful shutdown, then sends one last report saying the instance is draining.
    /// - Throws: `TransportError` when the TLS material does not load.
    public func run() async throws {
        var clientConfiguration = self.configuration.client
        clientConfiguration.connectTimeout = min(clientConfiguration.connectTimeout, self.configuration.timeout)
        clientConfiguration.connections = 1
        let client = try WireClient(configuration: clientConfiguration, logger: self.logger)
        let monitor = "\(clientConfiguration.host):\(clientConfiguration.port)"
        let address = await self.configuration.resolveAddress?() ?? self.configuration.address
        await cancelWhenGracefulShutdown {
            var failing = false
            var next = ContinuousClock.now
            while !Task.isCancelled {
                let delivered = await self.report(client, state: "serving", address: address)
                if delivered == failing {
                    failing = !delivered
                    if failing {
                        self.logger.warning(
                            "monitor unreachable; reports are dropped until it is back",
                            metadata: ["monitor": "\(monitor)"]
                        )
                    } else {
                        self.logger.info("monitor reachable again")
                    }
                }
                next = next.advanced(by: self.configuration.interval)
                let now = ContinuousClock.now
                if next < now {  // the report took longer than an interval: those reports never happened
                    let missed = Int(next.duration(to: now).seconds / self.configuration.interval.seconds) + 1
                    self.droppedLate.increment(by: missed)
                    next = now
                }
                try? await Task.sleep(until: next)
            }
        }
        _ = await self.report(client, state: "draining", address: address)
        await client.close()
    }

    /// Sends one report; returns whether it arrived.
    private func report(_ client: WireClient, state: String, address: String) async -> Bool {
        var tensors: [NamedTensor] = []
        let metrics = self.exposition()
        if let text = try? Tensor(metrics, shape: [metrics.count]) { tensors.append(NamedTensor("metrics", text)) }
        tensors += self.samples?() ?? []
        let request = Request(
            method: Method.report,
            idempotent: false,
            parameters: [
                Parameter(ParameterKey.service, self.configuration.service), Parameter(ParameterKey.state, state),
                Parameter(ParameterKey.version, SwitchyardRelease.version), Parameter(ParameterKey.address, address),
                Parameter(ParameterKey.interval, "\(self.configuration.interval.seconds)"),
                Parameter(ParameterKey.processID, "\(ProcessInfo.processInfo.processIdentifier)"),
                Parameter(ParameterKey.started, "\(self.started)"),
            ],
            tensors: tensors
        )
        do {
            _ = try await client.call(request, deadline: .now.advanced(by: self.configuration.timeout))
            self.sent.increment()
            return true
        } catch {
            self.droppedUnreachable.increment()
            self.logger.debug("report dropped", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// The release of this build, reported to the monitor by every instance.
public enum SwitchyardRelease {
    /// The version string.
    public static let version = "0.1.0"
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
