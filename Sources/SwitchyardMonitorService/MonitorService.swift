public import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
public import SwitchyardMonitor
public import SwitchyardRuntime
import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// The monitor service: takes reports over the wire protocol, ticks the ``Monitor`` (drift, alerts, its own
/// health series), snapshots it to disk, POSTs alert changes to a webhook, and answers the dashboard's HTTP requests.
///
/// Run it as a `Service` beside the `WireServer` that serves it (before the server in the group, so it stops after
/// the server and writes a last snapshot), and serve ``http(_:)`` from an ``HTTPEndpoint``.
public final class MonitorService: WireService, Service {
    /// Settings of the service around the monitor.
    public struct Configuration: Sendable {
        /// Where snapshots go (written atomically); `nil` keeps everything in memory only.
        public var snapshotPath: String?
        /// Time between snapshots: a restart loses at most this much history.
        public var snapshotInterval: Duration = .seconds(30)
        /// Where alert changes are POSTed as JSON.
        public var webhook: URL?
        /// Time between ticks (drift and alert evaluation).
        public var tickInterval: Duration = .seconds(1)

        /// Makes the default configuration.
        public init() {}
    }

    /// The monitor.
    public let monitor: Monitor
    private let configuration: Configuration
    private let logger: Logger
    private let webhookQueue: AsyncStream<AlertEvent>
    private let webhookInput: AsyncStream<AlertEvent>.Continuation
    private let reportsRefused = Counter(label: "switchyard_monitor_reports_refused_total")
    private let webhookDropped = Counter(label: "switchyard_monitor_webhook_dropped_total")
    private let webhookFailed = Counter(label: "switchyard_monitor_webhook_failures_total")
    private let snapshotFailed = Counter(label: "switchyard_monitor_snapshot_failures_total")

    /// Makes the service.
    /// - Parameters:
    ///   - monitor: the monitor's state and logic.
    ///   - configuration: snapshots, webhook, tick.
    ///   - logger: alert changes are logged at warning (firing) and info (resolved).
    public init(monitor: Monitor, configuration: Configuration, logger: Logger) {
        self.monitor = monitor
        self.configuration = configuration
        self.logger = logger
        // a slow or dead webhook must not hold alerts in memory without bound: keep the newest 100, count the rest
        (self.webhookQueue, self.webhookInput) = AsyncStream.makeStream(
            of: AlertEvent.self,
            bufferingPolicy: .bufferingNewest(100)
        )
    }

    /// Restores the last snapshot, if there is one.
    /// - Returns: whether a snapshot was restored.
    /// - Throws: when the snapshot exists but cannot be read.
    @discardableResult
    public func restore() throws -> Bool {
        guard let path = self.configuration.snapshotPath, FileManager.default.fileExists(atPath: path) else {
            return false
        }
        try self.monitor.restore(Data(contentsOf: URL(fileURLWithPath: path)), now: Date().timeIntervalSince1970)
        return true
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case Method.report:
            // the instance is who its certificate says it is
            guard let instance = context.peer.commonName, !instance.isEmpty else {
                self.reportsRefused.increment()
                throw MonitorServiceError(
                    .unauthenticated,
                    "reports need a client certificate: its common name names the instance"
                )
            }
            self.monitor.ingest(try Self.report(request, instance: instance), now: Date().timeIntervalSince1970)
            return Response()
        case Method.health:
            return Response(parameters: [Parameter(ParameterKey.status, "serving")])
        default:
            throw MonitorServiceError(
                .unknownMethod,
                "unknown method '\(request.method)'; the monitor answers report and health"
            )
        }
    }

    static func report(_ request: Request, instance: String) throws -> Monitor.Report {
        var parameters: [String: String] = [:]
        for parameter in request.parameters { parameters[parameter.key] = parameter.value }
        var metrics = ""
        var inputs: [String: (Int, [Float])] = [:]
        var classes: [String: [Int64]] = [:]
        for named in request.tensors {
            if named.name == "metrics" {
                guard named.tensor.dtype == .uint8 else {
                    throw MonitorServiceError(.invalidReport, "'metrics' must be u8 text")
                }
                metrics = String(decoding: try named.tensor.scalars(as: UInt8.self), as: UTF8.self)
            } else if named.name.hasPrefix("inputs/") {
                let shape = named.tensor.shape.dims
                guard named.tensor.dtype == .float32, shape.count == 2 else {
                    throw MonitorServiceError(.invalidReport, "'\(named.name)' must be f32 rows × features")
                }
                inputs[String(named.name.dropFirst("inputs/".count))] = (
                    shape[1], try named.tensor.scalars(as: Float.self)
                )
            } else if named.name.hasPrefix("classes/") {
                guard named.tensor.dtype == .int64 else {
                    throw MonitorServiceError(.invalidReport, "'\(named.name)' must be i64")
                }
                classes[String(named.name.dropFirst("classes/".count))] = try named.tensor.scalars(as: Int64.self)
            }
        }
        var samples: [String: (inputs: [Float], features: Int, classes: [Int64])] = [:]
        for (key, (features, values)) in inputs {
            guard let predicted = classes[key], predicted.count * features == values.count else {
                throw MonitorServiceError(.invalidReport, "sample '\(key)' needs inputs and classes with the same rows")
            }
            samples[key] = (values, features, predicted)
        }
        return Monitor.Report(instance: instance, parameters: parameters, metrics: metrics, samples: samples)
    }

    /// Ticks until graceful shutdown: the monitor's own metrics, drift, alerts, snapshots; then a last snapshot.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.deliverWebhooks() }
            // snapshots take seconds with hours of history: their own task, so ticks (alerts) keep their pace
            group.addTask {
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.configuration.snapshotInterval)
                        if !Task.isCancelled { self.writeSnapshot() }
                    }
                }
            }
            await cancelWhenGracefulShutdown {
                var lastOwn = ContinuousClock.now - .seconds(3600)
                while !Task.isCancelled {
                    let now = Date().timeIntervalSince1970
                    if lastOwn.duration(to: .now) >= .seconds(self.monitor.configuration.ownInterval) {
                        lastOwn = .now
                        // the monitor's own process metrics go through the same path as every instance's
                        self.monitor.ingest(
                            Monitor.Report(
                                instance: self.monitor.configuration.identity,
                                parameters: [
                                    ParameterKey.service: "monitor", ParameterKey.version: SwitchyardRelease.version,
                                    ParameterKey.interval: "\(self.monitor.configuration.ownInterval)",
                                    ParameterKey.processID: "\(ProcessInfo.processInfo.processIdentifier)",
                                ],
                                metrics: String(decoding: MetricsExport.exposition(), as: UTF8.self)
                            ),
                            now: now
                        )
                    }
                    for event in self.monitor.tick(now: now) { self.announce(event) }
                    try? await Task.sleep(for: self.configuration.tickInterval)
                }
            }
            self.webhookInput.finish()
        }
        self.writeSnapshot()
    }

    private func announce(_ event: AlertEvent) {
        let metadata: Logger.Metadata = [
            "alert.name": "\(event.alert)",
            "alert.labels":
                "\(event.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "alert.value": "\(event.value)", "alert.condition": "\(event.condition)",
            "alert.severity": "\(event.severity)",
        ]
        if event.status == "firing" {
            self.logger.warning("alert firing", metadata: metadata)
        } else {
            self.logger.info("alert resolved", metadata: metadata)
        }
        guard self.configuration.webhook != nil else { return }
        if case .dropped = self.webhookInput.yield(event) { self.webhookDropped.increment() }
    }

    private func deliverWebhooks() async {
        guard let url = self.configuration.webhook else { return }
        for await event in self.webhookQueue {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            do {
                let answer = try await HTTPClient.send(
                    "POST",
                    url.absoluteString,
                    body: Array(try encoder.encode(event)),
                    timeout: .seconds(5)
                )
                if !(200..<300).contains(answer.status) {
                    self.webhookFailed.increment()
                    self.logger.warning(
                        "alert webhook refused the alert",
                        metadata: ["http.status": "\(answer.status)"]
                    )
                }
            } catch {
                self.webhookFailed.increment()
                self.logger.warning("alert webhook unreachable", metadata: ["error": "\(error)"])
            }
        }
    }

    private func writeSnapshot() {
        guard let path = self.configuration.snapshotPath else { return }
        do {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try self.monitor.snapshot().write(to: url, options: .atomic)
        } catch {
            self.snapshotFailed.increment()
            self.logger.error("snapshot not written", metadata: ["error": "\(error)", "file.path": "\(path)"])
        }
    }

    /// Answers the monitor's HTTP requests: the dashboard (`/`), `/metrics`, `/api/overview`, `/api/instances`,
    /// `/api/alerts`, `/healthz`.
    public func http(_ request: HTTPRequest) -> HTTPReply {
        let now = Date().timeIntervalSince1970
        switch request.path {
        case "/", "/index.html":
            return HTTPReply(contentType: "text/html; charset=utf-8", body: Array(Dashboard.html.utf8))
        case "/metrics":
            return .prometheus(Array(self.monitor.exposition(now: now).utf8))
        case "/api/overview":
            let minutes = min(max(Double(request.query["minutes"] ?? "") ?? 15, 1), 24 * 60)
            let step = min(max(Double(request.query["step"] ?? "") ?? 10, 1), 3600)
            return HTTPReply(
                contentType: "application/json",
                body: Overview(monitor: self.monitor, now: now, minutes: minutes, step: step).json()
            )
        case "/api/instances":
            let rows = self.monitor.instances(now: now).map { InstanceView(record: $0.record, status: $0.status) }
            return HTTPReply(contentType: "application/json", body: Array((try? JSONEncoder().encode(rows)) ?? Data()))
        case "/api/alerts":
            let body = AlertsView(active: self.monitor.activeAlerts, events: self.monitor.recentEvents)
            return HTTPReply(contentType: "application/json", body: Array((try? JSONEncoder().encode(body)) ?? Data()))
        case "/healthz":
            return .text("ok\n")
        default:
            return .notFound
        }
    }

    struct InstanceView: Encodable {
        var record: InstanceRecord
        var status: String
    }

    struct AlertsView: Encodable {
        var active: [ActiveAlert]
        var events: [AlertEvent]
    }
}
