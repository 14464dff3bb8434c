import ArgumentParser
import Foundation
import Logging
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTransport
import SwitchyardWire
import Yams

/// Where the router is and who we are to it: the options every release command shares.
struct RouterConnection: ParsableArguments {
    @Option(help: "The router, as HOST:PORT.") var router = "127.0.0.1:7400"
    @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
    @Option(help: ArgumentHelp(ClientCertificate.help)) var cert: String?
    @Option(help: ArgumentHelp(ClientCertificate.keyHelp)) var key: String?
    @Flag(help: "Print the router's JSON instead of a table.") var json = false

    func validate() throws {
        guard Echo.split(self.router) != nil else {
            throw ValidationError("--router must be HOST:PORT, got '\(self.router)'")
        }
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
            let (cert, key) = ClientCertificate.paths(for: request.method, cert: self.cert, key: self.key)
            var configuration = WireClientConfiguration(
                host: host,
                port: port,
                tls: TLSSettings(caPath: self.ca, certificatePath: cert, keyPath: key)
            )
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
            let measured =
                rollout?.isActive == true
                ? "\(window.requests) req, \(Self.percent(window.errorRate)) errors, "
                    + "\(window.compared) compared, \(Self.percent(window.disagreement)) disagree"
                    + (window.p99Milliseconds.map { String(format: ", p99 %.1f ms", $0) } ?? "")
                    + (window.accuracy.map { String(format: ", accuracy %.3f of %d", $0, window.labelled) } ?? "")
                : "-"
            lines.append(
                [
                    status.model.padding(10), (status.stable.isEmpty ? "newest" : status.stable).padding(7),
                    (status.candidate ?? "-").padding(10),
                    String(format: "%5.1f%%", status.candidatePercent).padding(7),
                    phase.padding(13), step.padding(6), measured,
                ].joined(separator: " ")
            )
            if rollout?.isActive == true {
                for name in window.outputs.keys.sorted() {
                    let output = window.outputs[name]!
                    var parts = ["  output \(name) (\(output.kind.rawValue)): \(output.rows) rows"]
                    if let value = output.disagreement { parts.append("top-1 differs \(Self.percent(value))") }
                    if let value = output.scoreDifference, output.kind != .values {
                        parts.append(String(format: "|Δ| %.4f", value))
                    }
                    if let value = output.jensenShannon { parts.append(String(format: "JS %.4f", value)) }
                    if let value = output.relativeDifference {
                        parts.append("relative difference \(Self.percent(value))")
                    }
                    if let value = output.bias { parts.append(String(format: "bias %+.1f%%", value * 100)) }
                    lines.append(parts.joined(separator: ", "))
                }
                if let stable = status.stableWindow.accuracy {
                    lines.append(
                        String(format: "  stable accuracy %.3f of %d labels", stable, status.stableWindow.labelled)
                    )
                }
                for name in status.metrics.keys.sorted() {
                    lines.append("  metric \(name) = \(status.metrics[name]!)")
                }
            }
            if !status.waiting.isEmpty {
                lines.append(
                    "  waiting for a rollout: version \(status.waiting.joined(separator: ", ")) "
                        + "(no traffic until one starts)"
                )
            }
            if let rollout {
                if let reason = rollout.reason { lines.append("  reason: \(reason)") }
                if let holding = rollout.holding { lines.append("  holding: \(holding)") }
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
    fileprivate func padding(_ width: Int) -> String {
        self.count >= width ? self : self + String(repeating: " ", count: width - self.count)
    }
}

/// `yard rollout`: canary rollouts of a model version through the router.
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Start, watch and steer canary rollouts (admin certificate needed for changes).",
        subcommands: [
            Start.self, StatusCommand.self, Pause.self, Resume.self, Approve.self, Promote.self, Abort.self, Pin.self,
            Feedback.self,
        ]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a canary of CANDIDATE for MODEL.",
            discussion: """
                Options left out keep the router's defaults (ops/RELEASES.md) or the --plan file's values. Steps may
                say pause where the rollout waits for `yard rollout approve`, e.g. 0,pause,5,25,50,100,pause: a 0%
                step serves only --testers, and a last pause asks for approval before promotion.
                Metric gates: --metric 'NAME<=MAX:PROMQL' or 'NAME>=MIN:PROMQL'; $window in the query is the step's
                age as a range ([42s]), $model, $stable and $candidate the rollout's names.
                """
        )
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "The version to roll out.") var candidate: String
        @Option(help: "The version serving now (default: the router's pinned version).") var stable: String?
        @Option(
            help: "A rollout plan, JSON or YAML (the keys of releases.json's plans); options given replace its fields."
        )
        var plan: String?
        @Option(
            help: "The candidate's weight at each step, in percent, with pause where to wait (default 5,25,50,100)."
        )
        var steps: String?
        @Flag(help: "Wait for approval before promotion (a pause after the last step).") var approve = false
        @Option(help: "Least seconds per step (default 30).") var stepSeconds: Double?
        @Option(help: "Least candidate requests per step (default 100).") var minRequests: Int?
        @Option(
            help: "Percent of candidate requests the stable version also scores, for the output gates (default 20)."
        )
        var shadowPercent: Double?
        @Option(help: "Confidence of every gate's confidence sequence (default 0.95).") var confidence: Double?
        @Option(help: "Most the candidate's error rate may exceed stable's (default 0.01 = 1 point).")
        var maxErrorRateIncrease: Double?
        @Option(help: "Most the candidate's p99 may be, as a multiple of stable's (default 2).") var maxLatencyRatio:
            Double?
        @Option(help: "Every label/score output: most top-1 disagreement with stable (default 0.10).")
        var maxDisagreement: Double?
        @Option(help: "Every score output: most mean absolute score difference (default 0.05).") var maxScoreDifference:
            Double?
        @Option(help: "Every probability output: most mean Jensen–Shannon divergence, nats (default 0.05).")
        var maxJsDivergence: Double?
        @Option(help: "Every regression output: most mean relative difference (default 0.10).")
        var maxRelativeDifference: Double?
        @Option(help: "Most the labelled accuracy may fall below stable's (default 0.02).") var maxAccuracyDrop: Double?
        @Option(help: "Labels per side before accuracy is judged (default 30).") var minLabels: Int?
        @Option(help: "Most PSI of the predicted classes against stable's, above noise (default 0.25).")
        var maxPredictionShift: Double?
        @Option(help: "Predictions per side before their shift is judged (default 200).") var minPredictions: Int?
        @Option(help: "Requests (or compared rows) before a gate is judged (default 20).") var minSamples: Int?
        @Option(help: "Timed requests on each side before latency is judged (default 100).") var minLatencySamples: Int?
        @Option(help: "A p99 difference under this many milliseconds never fails the latency gate (default 2).")
        var latencyToleranceMs: Double?
        @Option(help: "Routing keys of testers the candidate serves at every step (comma-separated).") var testers:
            String?
        @Option(help: "Request parameters that make a caller a tester (key=value,...).") var testerMatch: String?
        @Option(help: "URLs this rollout's decisions are POSTed to (comma-separated).") var notify: String?
        @Option(
            help: "Webhook gates: URLs POSTed the step's evidence before it moves on; 2xx continues (comma-separated)."
        )
        var webhookGate: String?
        @Option(help: "A metric gate, 'NAME<=MAX:PROMQL' or 'NAME>=MIN:PROMQL' (repeatable).") var metric: [String] = []
        @Option(help: "The Prometheus server of the --metric gates (default: the router's --prometheus).")
        var prometheus: String?

        func validate() throws {
            for gate in self.metric { _ = try Self.metricGate(gate, address: self.prometheus) }
        }

        /// `NAME<=MAX:QUERY` or `NAME>=MIN:QUERY`.
        static func metricGate(_ text: String, address: String?) throws -> MetricGate {
            guard let colon = text.firstIndex(of: ":") else {
                throw ValidationError("--metric takes NAME<=MAX:PROMQL or NAME>=MIN:PROMQL, got '\(text)'")
            }
            let head = String(text[..<colon])
            let query = String(text[text.index(after: colon)...])
            for (symbol, isMax) in [("<=", true), (">=", false)] {
                let parts = head.components(separatedBy: symbol)
                guard parts.count == 2, let bound = Double(parts[1]), !parts[0].isEmpty, !query.isEmpty else {
                    continue
                }
                var gate = MetricGate(name: parts[0], query: query, address: address)
                if isMax { gate.max = bound } else { gate.min = bound }
                return gate
            }
            throw ValidationError("--metric takes NAME<=MAX:PROMQL or NAME>=MIN:PROMQL, got '\(text)'")
        }

        func run() async throws {
            var parameters = [Parameter(ParameterKey.candidate, self.candidate)]
            var plan: RolloutPlan?
            if let path = self.plan { plan = try Self.readPlan(path) }
            if !self.metric.isEmpty {
                var base = plan ?? RolloutPlan()
                base.gates.metrics += try self.metric.map { try Self.metricGate($0, address: self.prometheus) }
                plan = base
            }
            var steps = self.steps
            if self.approve {
                if let given = steps {
                    steps = given + ",pause"
                } else {
                    var base = plan ?? RolloutPlan()
                    if !base.pauses.contains(base.steps.count) { base.pauses.append(base.steps.count) }
                    plan = base
                }
            }
            if let plan {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                parameters.append(
                    Parameter(ParameterKey.plan, String(decoding: try encoder.encode(plan), as: UTF8.self))
                )
            }
            let optional: [(String, String?)] = [
                (ParameterKey.steps, steps), (ParameterKey.stepSeconds, self.stepSeconds.map { "\($0)" }),
                (ParameterKey.minRequests, self.minRequests.map { "\($0)" }),
                (ParameterKey.shadowPercent, self.shadowPercent.map { "\($0)" }),
                (ParameterKey.confidence, self.confidence.map { "\($0)" }),
                (ParameterKey.maxErrorRateIncrease, self.maxErrorRateIncrease.map { "\($0)" }),
                (ParameterKey.maxLatencyRatio, self.maxLatencyRatio.map { "\($0)" }),
                (ParameterKey.maxDisagreement, self.maxDisagreement.map { "\($0)" }),
                (ParameterKey.maxScoreDifference, self.maxScoreDifference.map { "\($0)" }),
                (ParameterKey.maxJensenShannon, self.maxJsDivergence.map { "\($0)" }),
                (ParameterKey.maxRelativeDifference, self.maxRelativeDifference.map { "\($0)" }),
                (ParameterKey.maxAccuracyDrop, self.maxAccuracyDrop.map { "\($0)" }),
                (ParameterKey.minLabels, self.minLabels.map { "\($0)" }),
                (ParameterKey.maxPredictionShift, self.maxPredictionShift.map { "\($0)" }),
                (ParameterKey.minPredictions, self.minPredictions.map { "\($0)" }),
                (ParameterKey.minSamples, self.minSamples.map { "\($0)" }),
                (ParameterKey.minLatencySamples, self.minLatencySamples.map { "\($0)" }),
                (ParameterKey.latencyToleranceMilliseconds, self.latencyToleranceMs.map { "\($0)" }),
                (ParameterKey.testers, self.testers), (ParameterKey.testerMatch, self.testerMatch),
                (ParameterKey.notify, self.notify), (ParameterKey.webhooks, self.webhookGate),
                (ParameterKey.stable, self.stable),
            ]
            parameters += optional.compactMap { key, value in value.map { Parameter(key, $0) } }
            try await self.connection.call(
                "rollout start",
                Request(method: Method.rolloutStart, model: self.model, parameters: parameters)
            )
        }

        /// A plan file: JSON, or YAML with the same keys.
        static func readPlan(_ path: String) throws -> RolloutPlan {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read the plan \(path): \(error.localizedDescription)")
            }
            do {
                let data: Data
                if path.hasSuffix(".json") {
                    data = Data(text.utf8)
                } else {
                    guard let object = try Yams.load(yaml: text) else { throw ValidationError("\(path) is empty") }
                    data = try JSONSerialization.data(withJSONObject: object)
                }
                let plan = try JSONDecoder().decode(RolloutPlan.self, from: data)
                if let problem = plan.problem { throw ValidationError("the plan \(path) is not valid: \(problem)") }
                return plan
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("the plan \(path) cannot be read: \(error)")
            }
        }
    }

    struct StatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show each model's split and rollout."
        )
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
        func run() async throws {
            try await self.connection.call("rollout pause", Request(method: Method.rolloutPause, model: self.model))
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Continue a paused rollout.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await self.connection.call("rollout resume", Request(method: Method.rolloutResume, model: self.model))
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a rollout waiting at a pause of its plan on to its next step (or to promotion)."
        )
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await self.connection.call("rollout approve", Request(method: Method.rolloutApprove, model: self.model))
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the candidate stable now.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await self.connection.call("rollout promote", Request(method: Method.rolloutPromote, model: self.model))
        }
    }

    struct Pin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve VERSION to everyone while no rollout runs (no analysis)."
        )
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "The version to serve.") var version: String
        func run() async throws {
            try await self.connection.call(
                "rollout pin",
                Request(method: Method.releasePin, model: self.model, version: self.version)
            )
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send all traffic back to the stable version.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await self.connection.call("rollout abort", Request(method: Method.rolloutAbort, model: self.model))
        }
    }

    struct Feedback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report true labels of earlier answers (their request.id): one, or a file of many in batches."
        )
        @OptionGroup var connection: RouterConnection
        @OptionGroup var labels: FeedbackOptions
        func run() async throws { try await self.labels.run(self.connection, "rollout feedback") }
    }
}
