import ArgumentParser
import Foundation
import Logging
import SwitchyardRouting
import SwitchyardRouter
import SwitchyardTransport
import SwitchyardWire

/// Where the router is and who we are to it: the options every release command shares.
struct RouterConnection: ParsableArguments {
    @Option(help: "The router, as HOST:PORT.") var router = "127.0.0.1:7400"
    @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
    @Option(help: "Client certificate (PEM); changes need one with OU=admin.") var cert = "ops/certs/out/ops.pem"
    @Option(help: "Client private key (PEM).") var key = "ops/certs/out/ops.key"
    @Flag(help: "Print the router's JSON instead of a table.") var json = false

    func validate() throws {
        guard Echo.split(self.router) != nil else { throw ValidationError("--router must be HOST:PORT, got '\(self.router)'") }
    }

    /// Calls a release method and prints the state it answers with.
    func call(_ command: String, _ request: Request) async throws {
        let response = try await self.send(command, request)
        let text = response[parameter: ParameterKey.status] ?? "[]"
        if self.json {
            print(text)
            return
        }
        guard let statuses = try? JSONDecoder().decode([ReleaseStatus].self, from: Data(text.utf8)) else {
            throw fail(command, "the router's answer is not a release status: \(text.prefix(200))")
        }
        print(Self.table(statuses))
    }

    /// Calls the router; any failure becomes one line on standard error.
    func send(_ command: String, _ request: Request) async throws -> Response {
        let (host, port) = Echo.split(self.router)!
        var logger = Logger(label: "yard")
        logger.logLevel = .critical
        let response: Response
        do {
            var configuration = WireClientConfiguration(host: host, port: port, tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key))
            configuration.identity = "yard-\(command)"
            let client = try WireClient(configuration: configuration, logger: logger)
            defer { Task { await client.close() } }
            response = try await client.call(request, deadline: .now.advanced(by: .seconds(10)))
        } catch let status as Status {
            throw fail(command, "\(status)")
        } catch {
            throw fail(command, "cannot reach the router at \(self.router): \(error)")
        }
        return response
    }

    static func table(_ statuses: [ReleaseStatus]) -> String {
        var lines = ["MODEL      STABLE  CANDIDATE  WEIGHT  PHASE         STEP   CANDIDATE WINDOW"]
        for status in statuses {
            let rollout = status.rollout
            let phase = rollout.map { $0.phase.rawValue } ?? "-"
            let step = rollout.map { "\($0.step + 1)/\($0.plan.steps.count)" } ?? "-"
            let window = status.candidateWindow
            let measured = rollout?.isActive == true
                ? "\(window.requests) req, \(Self.percent(window.errorRate)) errors, "
                    + "\(window.compared) compared, \(Self.percent(window.disagreement)) disagree"
                    + (window.p99Milliseconds.map { String(format: ", p99 %.1f ms", $0) } ?? "")
                : "-"
            lines.append(
                [status.model.padding(10), (status.stable.isEmpty ? "newest" : status.stable).padding(7),
                 (status.candidate ?? "-").padding(10), String(format: "%5.1f%%", status.candidatePercent).padding(7),
                 phase.padding(13), step.padding(6), measured].joined(separator: " ")
            )
            if let rollout {
                if let reason = rollout.reason { lines.append("  reason: \(reason)") }
                for entry in rollout.history.suffix(5) {
                    let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: entry.time))
                    lines.append("  \(time)  \(entry.message)")
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self.count >= width ? self : self + String(repeating: " ", count: width - self.count) }
}

/// `yard rollout`: canary rollouts of a model version through the router.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Start, watch and steer canary rollouts (admin certificate needed for changes).",
        subcommands: [Start.self, StatusCommand.self, Pause.self, Resume.self, Promote.self, Abort.self, Pin.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a canary of CANDIDATE for MODEL.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "The version to roll out.") var candidate: String
        @Option(help: "The version serving now (default: the router's pinned version).") var stable: String?
        @Option(help: "The candidate's weight at each step, in percent.") var steps = "5,25,50,100"
        @Option(help: "Least seconds per step.") var stepSeconds: Double = 30
        @Option(help: "Least candidate requests per step.") var minRequests = 100
        @Option(help: "Percent of candidate requests the stable version also scores, for disagreement.") var shadowPercent: Double = 20
        @Option(help: "Most the candidate's error rate may exceed stable's (0.01 = 1 point).") var maxErrorRateIncrease = 0.01
        @Option(help: "Most the candidate's p99 may be, as a multiple of stable's.") var maxLatencyRatio = 2.0
        @Option(help: "Most top-1 disagreement with stable on shadow-scored requests (fraction).") var maxDisagreement = 0.10
        @Option(help: "Requests (or comparisons) before a gate is judged.") var minSamples = 20
        @Option(help: "Timed requests on each side before latency is judged.") var minLatencySamples = 100
        @Option(help: "A p99 difference under this many milliseconds never fails the latency gate.") var latencyToleranceMs = 2.0

        func run() async throws {
            var parameters = [
                Parameter(ParameterKey.candidate, self.candidate), Parameter(ParameterKey.steps, self.steps), Parameter(ParameterKey.stepSeconds, "\(self.stepSeconds)"),
                Parameter(ParameterKey.minRequests, "\(self.minRequests)"), Parameter(ParameterKey.shadowPercent, "\(self.shadowPercent)"),
                Parameter(ParameterKey.maxErrorRateIncrease, "\(self.maxErrorRateIncrease)"), Parameter(ParameterKey.maxLatencyRatio, "\(self.maxLatencyRatio)"),
                Parameter(ParameterKey.maxDisagreement, "\(self.maxDisagreement)"), Parameter(ParameterKey.minSamples, "\(self.minSamples)"),
                Parameter(ParameterKey.minLatencySamples, "\(self.minLatencySamples)"), Parameter(ParameterKey.latencyToleranceMilliseconds, "\(self.latencyToleranceMs)"),
            ]
            if let stable { parameters.append(Parameter(ParameterKey.stable, stable)) }
            try await self.connection.call("rollout start", Request(method: Method.rolloutStart, model: self.model, parameters: parameters))
        }
    }

    struct StatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show each model's split and rollout.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "Only this model.") var model = ""

        func run() async throws {
            try await self.connection.call("rollout status", Request(method: Method.rolloutStatus, model: self.model))
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hold the rollout at its current weight.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws { try await self.connection.call("rollout pause", Request(method: Method.rolloutPause, model: self.model)) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a paused rollout.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws { try await self.connection.call("rollout resume", Request(method: Method.rolloutResume, model: self.model)) }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the candidate stable now.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws { try await self.connection.call("rollout promote", Request(method: Method.rolloutPromote, model: self.model)) }
    }

    struct Pin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve VERSION to everyone while no rollout runs (no analysis).")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "The version to serve.") var version: String
        func run() async throws {
            try await self.connection.call("rollout pin", Request(method: Method.releasePin, model: self.model, version: self.version))
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send all traffic back to the stable version.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws { try await self.connection.call("rollout abort", Request(method: Method.rolloutAbort, model: self.model)) }
    }
}
