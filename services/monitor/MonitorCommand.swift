import ArgumentParser
import Foundation
import Logging
import SwitchyardMonitor
import SwitchyardGateway
import SwitchyardMonitorService
import SwitchyardRuntime
import SwitchyardTransport

/// `switchyard-monitor`: where every instance reports; serves the dashboard, `/metrics`, drift and alerts.
@main
struct MonitorCommand: ServiceCommand {
    static let serviceName = "monitor"
    static let defaultPort = 7405
    static let configuration = CommandConfiguration(
        commandName: "switchyard-monitor",
        abstract: "Track every instance of the mesh; serve a live dashboard, Prometheus metrics, drift and alerts.",
        discussion: """
            Instances report here over the wire protocol (mutual TLS; the client certificate's common name names the
            instance, and only the mesh's services may report) when started with --monitor HOST:PORT. The dashboard
            and its JSON API are HTTPS on --http-port, with this service's certificate: a request needs a bearer token
            from --http-tokens (open the dashboard as https://HOST:PORT/#token=TOKEN) or a client certificate with a
            role allowed 'dashboard' (readonly or admin by default). Every instance's series for Prometheus are plain
            HTTP on --exposition-port (/metrics, open, as Prometheus scrapes).
            """
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "Port of the dashboard and its JSON API (HTTPS; a token or a client certificate).") var httpPort =
        7406
    @Option(help: "A file of bearer tokens for the dashboard, one a line (at least 32 characters). (default: none)")
    var httpTokens: String?
    @Option(help: "Port of every instance's series for Prometheus, /metrics (plain HTTP, open); 0 picks a free one.")
    var expositionPort = 7407
    @Option(help: "The model repository: drift profiles are read from models/<name>/<version>/profile.json.")
    var models = "models"
    @Option(help: "A YAML file of alert rules (see ops/monitor/alerts.yaml). (default: no rules)") var rules: String?
    @Option(help: "POST each alert that fires or resolves, as JSON, to this http:// URL. (default: none)") var webhook:
        String?
    @Option(help: "Where to keep the snapshot of the history, so a restart keeps it. (default: memory only)")
    var snapshot: String?
    @Option(help: "Seconds between snapshots.") var snapshotSeconds = 30.0
    @Option(help: "Minutes of history kept.") var retentionMinutes = 180.0
    @Option(help: "Seconds between samples of the monitor's own series (instance health, drift).") var sampleSeconds =
        5.0
    @Option(help: "Live rows per model version that drift is computed over.") var driftWindow = 500
    @Option(help: "Live rows needed before drift is computed.") var driftMinRows = 100

    func validate() throws {
        guard (0...65535).contains(self.httpPort) else { throw ValidationError("--http-port must be 0...65535") }
        guard (0...65535).contains(self.expositionPort) else {
            throw ValidationError("--exposition-port must be 0...65535")
        }
        if let httpTokens {
            do {
                _ = try BearerTokens(file: httpTokens)
            } catch {
                throw ValidationError("--http-tokens: \(error.message)")
            }
        }
        guard (0.1...86400).contains(self.snapshotSeconds) else {
            throw ValidationError("--snapshot-seconds must be 0.1...86400")
        }
        guard (1...10080).contains(self.retentionMinutes) else {
            throw ValidationError("--retention-minutes must be 1...10080")
        }
        guard (0.1...3600).contains(self.sampleSeconds) else {
            throw ValidationError("--sample-seconds must be 0.1...3600")
        }
        guard (10...1_000_000).contains(self.driftWindow) else {
            throw ValidationError("--drift-window must be 10...1000000")
        }
        guard (1...self.driftWindow).contains(self.driftMinRows) else {
            throw ValidationError("--drift-min-rows must be 1...--drift-window")
        }
        if let webhook, URL(string: webhook)?.scheme != "http" {
            throw ValidationError("--webhook must be an http:// URL")
        }
    }

    func run() async throws {
        let logger = self.makeLogger()
        var configuration = Monitor.Configuration()
        configuration.retention = self.retentionMinutes * 60
        configuration.ownInterval = self.sampleSeconds
        configuration.driftWindow = self.driftWindow
        configuration.driftMinimumRows = self.driftMinRows
        configuration.profiles = Self.profiles(in: self.models, logger: logger)
        if let rules {
            do {
                configuration.rules = try AlertRule.parse(yaml: String(contentsOfFile: rules, encoding: .utf8))
            } catch {
                logger.critical("alert rules refused", metadata: ["file.path": "\(rules)", "error": "\(error)"])
                throw ExitCode.failure
            }
        }
        var serviceConfiguration = MonitorService.Configuration()
        serviceConfiguration.snapshotPath = self.snapshot
        serviceConfiguration.snapshotInterval = .milliseconds(Int(self.snapshotSeconds * 1000))
        serviceConfiguration.webhook = self.webhook.flatMap(URL.init(string:))
        let service = MonitorService(
            monitor: Monitor(configuration: configuration),
            configuration: serviceConfiguration,
            logger: logger
        )
        do {
            if try service.restore() {
                logger.info("history restored", metadata: ["file.path": "\(self.snapshot ?? "")"])
            }
        } catch {
            logger.error("snapshot unreadable; starting without history", metadata: ["error": "\(error)"])
        }
        logger.info(
            "monitoring",
            metadata: [
                "alert.rules": "\(configuration.rules.count)",
                "drift.profiles": "\(configuration.profiles.keys.sorted().joined(separator: ","))",
            ]
        )
        let credentials = try Self.make(orExit: "cannot load the TLS files", logger: logger) {
            try Self.credentials(self.server)
        }
        let tokens = try self.httpTokens.map { path in
            try Self.make(orExit: "cannot read the dashboard's tokens", logger: logger) { try BearerTokens(file: path) }
        }
        let policy = try self.server.authorization(service: Self.serviceName)
        let access = HTTPAccess(credentials: credentials, openPaths: ["/", "/index.html", "/healthz"]) {
            authorization,
            peer in
            if tokens?.accepts(authorization) == true { return true }
            guard let peer else { return false }
            return policy.allows(AuthorizationPolicy.dashboard, for: policy.resolve(peer))
        }
        let dashboard = HTTPEndpoint(
            host: self.server.host,
            port: self.httpPort,
            name: "dashboard",
            logger: logger,
            access: access
        ) { request in
            service.http(request)
        }
        let exposition = HTTPEndpoint(
            host: self.server.host,
            port: self.expositionPort,
            name: "prometheus exposition",
            logger: logger
        ) { request in
            switch request.path {
            case "/metrics", "/healthz": service.http(request)
            default: .notFound
            }
        }
        try await Self.serve(
            service,
            options: self.server,
            logger: logger,
            companions: [service, dashboard, exposition],
            credentials: credentials
        )
    }

    /// The drift profiles of every model version in the repository, by `model/version`.
    static func profiles(in root: String, logger: Logger) -> [String: DriftProfile] {
        var profiles: [String: DriftProfile] = [:]
        let files = FileManager.default
        for model in (try? files.contentsOfDirectory(atPath: root)) ?? [] {
            for version in (try? files.contentsOfDirectory(atPath: "\(root)/\(model)")) ?? [] {
                let path = "\(root)/\(model)/\(version)/\(DriftProfile.fileName)"
                guard files.fileExists(atPath: path) else { continue }
                do {
                    profiles["\(model)/\(version)"] = try DriftProfile.read(path)
                } catch {
                    logger.error("drift profile refused", metadata: ["file.path": "\(path)", "error": "\(error)"])
                }
            }
        }
        return profiles
    }
}
