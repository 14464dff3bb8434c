public import ArgumentParser
public import Logging
public import ServiceLifecycle
public import SwitchyardTensor
public import SwitchyardTransport
import Foundation
import SwitchyardWire
import UnixSignals

/// The options every service shares: the config file, where to listen, its TLS files, limits, drain time.
public struct ServerOptions: ParsableArguments {
    @Option(help: "A YAML file of settings: option names as keys (file < SWITCHYARD_<SERVICE>_* environment < flags).")
    public var config: String?
    @Option(help: "Address to listen on.") public var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one and logs it. (default: the service's own port)") public
        var port: Int?
    @Option(help: "CA certificate (PEM) that client certificates must chain to.") public var ca: String
    @Option(help: "This service's certificate (PEM).") public var cert: String
    @Option(help: "This service's private key (PEM).") public var key: String
    @Option(help: "Requests in flight per connection; more are refused at once with resource exhausted.") public
        var maxInFlight: UInt32 = 1024
    @Option(help: "Seconds to let in-flight requests finish on SIGTERM.") public var drainSeconds = 30
    @Option(help: "Least severe log level written: trace, debug, info, notice, warning, error, critical.")
    public var logLevel = "info"
    @Option(help: "Log lines as 'text' or as 'json' (one object a line, metadata as fields).") public var logFormat =
        "text"
    @Option(help: "Most connections open at once; more are closed as soon as they are accepted.")
    public var maxConnections = 4096
    @Option(
        help:
            "Most connections open at once from one IP address (0: no limit of its own); more from it are closed as soon as they are accepted."
    )
    public var maxConnectionsPerPeer = 1024
    @Option(
        help:
            "Most bytes held in frames still arriving, over all connections; a connection whose next frame does not fit is closed with resource exhausted."
    )
    public var maxBufferedBytes = 64 << 20
    @Option(
        help:
            "Most bytes of tensors in requests being served at once, over all connections; a request that does not fit is refused with resource exhausted."
    )
    public var maxInFlightBytes = 1 << 30
    @Option(
        help:
            "Event-loop threads for connections and request handling. Fewer than cores can win when services share a small machine. (default: one per core)"
    )
    public var eventLoops: Int?
    @Option(
        help: ArgumentHelp(
            "Gives ROLE to certificates: ROLE=IDENTITY[,IDENTITY...], each IDENTITY cn:NAME, ou:UNIT or uri:URI (a trailing * matches a prefix); repeatable. Adds to the defaults (OU=<role>, URI spiffe://switchyard/<role>).",
            valueName: "role=identities"
        )
    )
    public var roles: [String] = []
    @Option(
        help: ArgumentHelp(
            "Sets the roles a method needs on this service: METHOD=ROLE[,ROLE...] (* for anyone, admin for admin only); repeatable. Replaces the method's default.",
            valueName: "method=roles"
        )
    )
    public var allow: [String] = []
    @OptionGroup public var monitoring: MonitoringOptions
    @OptionGroup public var tracing: TracingOptions

    public init() {}

    public func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0...65535") }
        guard (1...1_000_000).contains(self.maxInFlight) else {
            throw ValidationError("--max-in-flight must be 1...1000000")
        }
        guard (0...3600).contains(self.drainSeconds) else { throw ValidationError("--drain-seconds must be 0...3600") }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError(
                "--log-level must be trace, debug, info, notice, warning, error or critical, not '\(self.logLevel)'"
            )
        }
        guard ["text", "json"].contains(self.logFormat) else {
            throw ValidationError("--log-format must be text or json, not '\(self.logFormat)'")
        }
        guard (1...1_000_000).contains(self.maxConnections) else {
            throw ValidationError("--max-connections must be 1...1000000")
        }
        guard (0...1_000_000).contains(self.maxConnectionsPerPeer) else {
            throw ValidationError("--max-connections-per-peer must be 0...1000000 (0: no limit)")
        }
        guard (1 << 20...1 << 40).contains(self.maxInFlightBytes) else {
            throw ValidationError("--max-in-flight-bytes must be 1 MiB...1 TiB (1048576...1099511627776)")
        }
        guard (1 << 20...1 << 40).contains(self.maxBufferedBytes) else {
            throw ValidationError("--max-buffered-bytes must be 1 MiB...1 TiB (1048576...1099511627776)")
        }
        if let eventLoops, !(1...256).contains(eventLoops) { throw ValidationError("--event-loops must be 1...256") }
        do {
            _ = try self.authorization(service: "validation")
        } catch {
            throw ValidationError("--roles/--allow: \(error.message)")
        }
    }

    /// The service's authorization policy: the mesh's defaults for `service`, with `--roles` and `--allow` applied.
    /// - Parameter service: the service's short name (`router`, `inference` ...).
    /// - Throws: `TransportError` naming an entry that does not parse.
    public func authorization(service: String) throws(TransportError) -> AuthorizationPolicy {
        var policy = AuthorizationPolicy.defaults(service: service)
        try policy.grant(entries: self.roles)
        try policy.allow(entries: self.allow)
        return policy
    }

    /// This service's certificate, key and CA; mutual TLS unless `requireClientCertificate` is false.
    public func tls(requireClientCertificate: Bool = true) -> TLSSettings {
        TLSSettings(
            caPath: self.ca,
            certificatePath: self.cert,
            keyPath: self.key,
            requireClientCertificate: requireClientCertificate
        )
    }
}

extension ServiceCommand {
    /// Bootstraps logging to standard error (once per process) at `--log-level` in `--log-format`, and returns the
    /// service's logger.
    public func makeLogger() -> Logger {
        let level = Logger.Level(rawValue: self.server.logLevel) ?? .info
        let json = self.server.logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "switchyard.\(Self.serviceName)")
        logger.logLevel = level
        return logger
    }

    /// The process's TLS material from the options, reloadable (``TLSCredentials``): make it before ``serve``
    /// when clients of the service's own (the router's stage pools) should follow certificate reloads too.
    /// - Parameters:
    ///   - options: the certificate, key and CA paths.
    ///   - requireClientCertificate: mutual TLS (the mesh default).
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public static func credentials(
        _ options: ServerOptions,
        requireClientCertificate: Bool = true
    ) throws -> TLSCredentials {
        try TLSCredentials(options.tls(requireClientCertificate: requireClientCertificate))
    }

    /// Serves `service` over the wire protocol until SIGTERM or SIGINT, then drains and returns; reloads on SIGHUP
    /// and `admin.reload` (``Reloader``).
    /// - Parameters:
    ///   - service: answers the requests.
    ///   - options: where to listen, TLS, limits.
    ///   - logger: the service's logger.
    ///   - requireClientCertificate: mutual TLS (the mesh default).
    ///   - companions: services that run beside the server and stop after it has drained (e.g. the router's batchers).
    ///   - samples: takes the inputs sampled since the last report to the monitor (the router's sampler).
    ///   - saturation: how busy the service is, for autoscalers; `nil`: CPU time over the event loops.
    ///   - credentials: the process's TLS material, when the caller made it (``credentials(_:requireClientCertificate:)``).
    ///   - reloadable: options besides the certificate files that `reload` applies while serving.
    ///   - reload: applies reloaded settings; throw to refuse them.
    public static func serve(
        _ service: any WireService,
        options: ServerOptions,
        logger: Logger,
        requireClientCertificate: Bool = true,
        companions: [any Service] = [],
        samples: (@Sendable () -> [NamedTensor])? = nil,
        saturation: Saturation? = nil,
        credentials: TLSCredentials? = nil,
        reloadable: Set<String> = [],
        reload: @escaping @Sendable (Self) async throws -> Void = { _ in }
    ) async throws {
        MetricsExport.export(saturation ?? .eventLoops(options.eventLoops), service: Self.serviceName)
        let credentials =
            try credentials ?? Self.credentials(options, requireClientCertificate: requireClientCertificate)
        // trapped before anything serves: an early SIGHUP must not end the process (its default action)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloader = try Reloader<Self>(
            commandLine: Array(CommandLine.arguments.dropFirst()),
            environment: ProcessInfo.processInfo.environment,
            credentials: credentials,
            requireClientCertificate: requireClientCertificate,
            reloadable: reloadable,
            signals: hangups,
            logger: logger,
            apply: reload
        )
        var configuration = WireServerConfiguration(tls: credentials.settings, identity: Self.serviceName)
        configuration.credentials = credentials
        configuration.host = options.host
        configuration.port = options.port ?? Self.defaultPort
        configuration.maxInFlightPerConnection = options.maxInFlight
        configuration.drainTimeout = .seconds(options.drainSeconds)
        configuration.maxConnections = options.maxConnections
        configuration.maxConnectionsPerPeer = options.maxConnectionsPerPeer == 0 ? nil : options.maxConnectionsPerPeer
        configuration.maxBufferedBytes = options.maxBufferedBytes
        configuration.maxInFlightBytes = options.maxInFlightBytes
        configuration.authorization = try options.authorization(service: Self.serviceName)
        let tracing = try options.tracing.startTracing(
            service: Self.serviceName,
            environment: ProcessInfo.processInfo.environment,
            logger: logger
        )
        let served = ReloadingService(MeteredService(service, name: Self.serviceName), reloader: reloader)
        let server = WireServer(configuration: configuration, service: served, logger: logger)
        let watched = try options.monitoring.services(
            service: Self.serviceName,
            host: options.host,
            server: server,
            tls: configuration.tls,
            logger: logger,
            samples: samples,
            readiness: { await Self.notReadyReason(service, logger: logger) },
            credentials: credentials
        )
        // a group stops its services in reverse order: the reloader first, then the server drains before its
        // companions stop, and the span exporter flushes last
        var services: [any Service] = tracing.map { [$0] } ?? []
        services += watched.beforeServer + companions
        services += [server] + watched.afterServer + [reloader]
        try await ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        ).run()
    }
}

extension ServiceCommand {
    /// Why `service` is not ready to serve, from its own `health` answer (asked in-process); `nil` when ready.
    static func notReadyReason(_ service: any WireService, logger: Logger) async -> String? {
        let context = RequestContext(
            requestID: 0,
            deadline: .now.advanced(by: .seconds(2)),
            peer: PeerIdentity(announced: "readyz"),
            logger: logger
        )
        do {
            _ = try await service.handle(Request(method: Method.health, idempotent: true), context: context)
            return nil
        } catch let error as any StatusConvertible {
            return error.status.message
        } catch {
            return "\(error)"
        }
    }

    /// Makes what the service serves, or logs why it cannot (at critical level) and exits with failure.
    /// - Parameters:
    ///   - failure: the log message when it cannot, e.g. `cannot read the pipelines`.
    ///   - logger: the service's logger.
    ///   - make: makes it.
    /// - Throws: `ExitCode.failure` when `make` throws.
    public static func make<Made>(
        orExit failure: Logger.Message,
        logger: Logger,
        _ make: () throws -> Made
    ) throws -> Made {
        do {
            return try make()
        } catch {
            logger.critical(failure, metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
