import ArgumentParser
import Foundation
public import Logging
public import ServiceLifecycle
public import SwitchyardTransport
public import SwitchyardWire
public import UnixSignals

/// Reloads a service without a restart, on SIGHUP (`systemctl reload`) and on `admin.reload`: reads its settings
/// again (the `--config` file; the environment and command line stay those it started with), loads its
/// certificate files again into the process's ``TLSCredentials`` (new connections get the new contexts, open ones
/// keep theirs), and hands the new settings to the service's own `apply` (the router changes its stage pools).
///
/// Nothing changes when the settings or a certificate do not load: the error is logged and the old ones stay.
/// A changed setting outside `reloadable` keeps its old value until a restart, and is logged as such.
public final class Reloader<Command: ServiceCommand>: Service, Sendable {
    /// What a reload did.
    public struct Outcome: Sendable, Equatable {
        /// Changed settings that keep their old value until a restart, by option name.
        public var needsRestart: [String]
    }

    /// Options always applied by a reload: the certificate files.
    public static var tlsOptions: Set<String> { ["ca", "cert", "key"] }

    private let commandLine: [String]
    private let environment: [String: String]
    private let started: [String: [String]]
    private let reloadable: Set<String>
    private let credentials: TLSCredentials
    private let requireClientCertificate: Bool
    private let signals: UnixSignalsSequence?
    private let apply: @Sendable (Command) async throws -> Void
    private let logger: Logger
    /// One reload at a time: a second SIGHUP or `admin.reload` waits for the first.
    private let turns = Turns()

    /// Makes a reloader.
    /// - Parameters:
    ///   - commandLine: the arguments the process started with (without the program name).
    ///   - environment: the environment it started with.
    ///   - credentials: the process's TLS material.
    ///   - requireClientCertificate: whether the server demands client certificates (kept across reloads).
    ///   - reloadable: options `apply` takes while serving, besides the certificate files.
    ///   - signals: SIGHUP, trapped before the service started (`nil`: reload only through ``reload(trigger:)``).
    ///   - logger: the service's logger.
    ///   - apply: applies the new settings; throw to refuse them (the reason is logged and answered).
    /// - Throws: `ValidationError` when the settings the process started with cannot be read again.
    public init(
        commandLine: [String],
        environment: [String: String],
        credentials: TLSCredentials,
        requireClientCertificate: Bool = true,
        reloadable: Set<String> = [],
        signals: UnixSignalsSequence?,
        logger: Logger,
        apply: @escaping @Sendable (Command) async throws -> Void = { _ in }
    ) throws {
        self.commandLine = commandLine
        self.environment = environment
        self.credentials = credentials
        self.requireClientCertificate = requireClientCertificate
        self.reloadable = reloadable.union(Self.tlsOptions)
        self.signals = signals
        self.logger = logger
        self.apply = apply
        self.started = Self.options(
            try SettingsSources.arguments(
                commandLine: commandLine,
                service: Command.serviceName,
                environment: environment
            )
        )
    }

    /// Reloads on every SIGHUP until graceful shutdown.
    public func run() async throws {
        guard let signals = self.signals else { return }
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                _ = try? await self.reload(trigger: "SIGHUP")
            }
        }
    }

    /// Reads the settings and certificates again and applies them.
    /// - Parameter trigger: what asked, for the log (`SIGHUP`, `admin.reload by ops`).
    /// - Returns: the changed settings that need a restart.
    /// - Throws: `RuntimeError` (`invalid argument`) saying why nothing changed.
    public func reload(trigger: String) async throws -> Outcome {
        try await self.turns.acquire()  // one reload at a time, the others in order
        defer { self.turns.release() }
        do {
            let arguments = try SettingsSources.arguments(
                commandLine: self.commandLine,
                service: Command.serviceName,
                environment: self.environment
            )
            let parsed: Command
            do {
                guard let command = try Command.parseAsRoot(arguments) as? Command else {
                    throw RuntimeError(.invalidSettings, "the settings do not name this service's command")
                }
                parsed = command
            } catch let error as RuntimeError {
                throw error
            } catch {
                throw RuntimeError(.invalidSettings, Command.message(for: error))
            }
            // the certificates load before the settings apply and take effect after them: a refused setting
            // leaves the old certificates in use too
            let prepared: TLSCredentials.Prepared
            do {
                let tls = parsed.server.tls(requireClientCertificate: self.requireClientCertificate)
                prepared = try self.credentials.prepare(tls)
            } catch {
                throw RuntimeError(.invalidSettings, "\(error)")
            }
            do {
                try await self.apply(parsed)
            } catch {
                throw RuntimeError(.invalidSettings, "\(error)")
            }
            self.credentials.install(prepared)
            let now = Self.options(arguments)
            let changed = Set(now.keys).union(self.started.keys).filter { now[$0] != self.started[$0] }
            let needsRestart = changed.subtracting(self.reloadable).sorted()
            self.logger.notice(
                "reloaded",
                metadata: [
                    "trigger": "\(trigger)", "tls.generation": "\(self.credentials.generation)",
                    "changed": "\(changed.sorted().joined(separator: ","))",
                ]
            )
            if !needsRestart.isEmpty {
                self.logger.warning(
                    "settings changed that keep their old value until a restart",
                    metadata: ["settings": "\(needsRestart.joined(separator: ","))"]
                )
            }
            return Outcome(needsRestart: needsRestart)
        } catch let error as RuntimeError {
            self.logger.error(
                "reload refused; the running settings and certificates stay",
                metadata: ["trigger": "\(trigger)", "error": "\(error.message)"]
            )
            throw error
        }
    }

    /// Option names and their values, from an argument list (`--name value`, `--flag`).
    static func options(_ arguments: [String]) -> [String: [String]] {
        var result: [String: [String]] = [:]
        var name: String?
        for argument in arguments {
            if argument.hasPrefix("--") {
                let option = String(argument.dropFirst(2))
                if let equals = option.firstIndex(of: "=") {
                    result[String(option[..<equals]), default: []].append(
                        String(option[option.index(after: equals)...])
                    )
                    name = nil
                } else {
                    name = option
                    result[option, default: []] = result[option] ?? []
                }
            } else if let current = name {
                result[current, default: []].append(argument)
                name = nil
            }
        }
        // the last occurrence wins, as when parsing
        return result.mapValues { $0.suffix(1).map { $0 } }
    }
}

/// Answers `admin.reload` (admin certificates only) with a ``Reloader``; every other request goes to the service.
public struct ReloadingService<Command: ServiceCommand>: WireService {
    private let service: any WireService
    private let reloader: Reloader<Command>

    /// Puts `reloader` in front of `service`.
    public init(_ service: any WireService, reloader: Reloader<Command>) {
        self.service = service
        self.reloader = reloader
    }

    /// The wrapped service's refusals at arrival (overload shedding), passed on.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.service.refusal(for: request, deadline: deadline)
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        guard request.method == Method.adminReload else {
            return try await self.service.handle(request, context: context)
        }
        let outcome = try await self.reloader.reload(trigger: "admin.reload by \(context.peer)")
        return Response(
            parameters: [Parameter(ParameterKey.status, "reloaded")]
                + outcome.needsRestart.map { Parameter(ParameterKey.restart, $0) }
        )
    }
}
