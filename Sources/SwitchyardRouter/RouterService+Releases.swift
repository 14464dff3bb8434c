import Foundation
public import SwitchyardRouting
import SwitchyardTransport
import SwitchyardWire

/// The release methods of the router. Every one but `rollout.status` needs an admin client certificate.
///
/// - `rollout.start`: `model`, parameter `candidate`, optional `stable`, `steps` (`5,25,50,100`), `step_seconds`,
///   `min_requests`, `shadow_percent`, `max_error_rate_increase`, `max_latency_ratio`, `max_disagreement`,
///   `min_samples`, `min_latency_samples`, `latency_tolerance_ms`.
/// - `rollout.pause|resume|promote|abort`: `model`.
/// - `rollout.status`: `model` or empty for all.
/// - `release.pin`: `model`, `version`: the version that serves when no rollout runs.
/// - `ab.start`: `model`, parameters `champion`, `challenger`, `mode` (`split` or `shadow`), `percent` (the
///   challenger's share of users, or of requests mirrored), `compare_percent`. `ab.report` and `ab.stop`: `model`.
///   Answers carry an ``ExperimentReport`` as JSON in the parameter `report`.
/// - `feedback` (any client): parameters `request_id` (an answer's `request.id`) and `label`.
/// - `release.state` (any client): the state document (as in `releases.json`) in the parameter `state`, which
///   routers started with `--release-leader` read every tick.
///
/// Answers carry the state as JSON in the parameter `status` (schema: an array of ``ReleaseStatus``).
extension RouterService {
    func administer(_ request: Request, context: RequestContext) throws -> Response {
        guard let releases = self.releases else { throw Status(.unimplemented, "this router runs no releases") }
        if request.method == "release.state" { return Response(parameters: [Parameter("state", try releases.stateDocument())]) }
        let open: Set<String> = ["rollout.status", "ab.report", "feedback"]
        if !open.contains(request.method), !context.peer.organizationalUnits.contains("admin") {
            throw Status(.permissionDenied, "\(request.method) needs an admin client certificate (OU=admin); \(context.peer) has none")
        }
        if !["rollout.status", "ab.report", "feedback"].contains(request.method), let reason = releases.followerReason {
            throw Status(.failedPrecondition, reason)
        }
        switch request.method {
        case "feedback":
            guard let id = request[parameter: "request_id"], let text = request[parameter: "label"], let label = Int64(text) else {
                throw Status(.invalidArgument, "feedback needs the parameters 'request_id' (from the answer's request.id) and 'label' (an integer class)")
            }
            try releases.feedback(requestID: id, label: label)
            return Response()
        case "ab.start", "ab.report", "ab.stop":
            return try self.compare(request, releases: releases)
        case "rollout.start":
            guard let candidate = request[parameter: "candidate"], !candidate.isEmpty else {
                throw Status(.invalidArgument, "rollout.start needs the parameter 'candidate' (a version of \(request.model))")
            }
            let plan = try Self.plan(from: request)
            _ = try releases.start(model: request.model, candidate: candidate, stable: request[parameter: "stable"], plan: plan)
        case "rollout.status":
            break
        case "release.pin":
            guard !request.version.isEmpty else { throw Status(.invalidArgument, "release.pin needs the version to pin") }
            try releases.pin(model: request.model, version: request.version)
        default:
            let name = String(request.method.dropFirst("rollout.".count))
            guard request.method.hasPrefix("rollout."), let action = ReleaseController.Action(rawValue: name) else {
                throw Status(.notFound, "unknown release method '\(request.method)'")
            }
            _ = try releases.apply(action, model: request.model)
        }
        let statuses = releases.status.filter { request.model.isEmpty || $0.model == request.model }.map(ReleaseStatus.init)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(statuses), as: UTF8.self)
        return Response(parameters: [Parameter("status", json)])
    }

    private func compare(_ request: Request, releases: ReleaseController) throws -> Response {
        let report: ExperimentReport
        switch request.method {
        case "ab.start":
            guard let champion = request[parameter: "champion"], let challenger = request[parameter: "challenger"] else {
                throw Status(.invalidArgument, "ab.start needs the parameters 'champion' and 'challenger' (versions of \(request.model))")
            }
            let modeName = request[parameter: "mode"] ?? "split"
            guard let mode = Experiment.Mode(rawValue: modeName) else {
                throw Status(.invalidArgument, "'mode' must be split or shadow, not '\(modeName)'")
            }
            func number(_ key: String, _ fallback: Double) throws -> Double {
                guard let text = request[parameter: key] else { return fallback }
                guard let value = Double(text), value.isFinite else { throw Status(.invalidArgument, "'\(key)' must be a number, not '\(text)'") }
                return value
            }
            let experiment = Experiment(
                model: request.model, champion: champion, challenger: challenger, mode: mode,
                percent: try number("percent", mode == .split ? 50 : 100), comparePercent: try number("compare_percent", 20),
                now: Date().timeIntervalSince1970
            )
            try releases.startExperiment(experiment)
            report = experiment.report
        case "ab.stop":
            report = try releases.stopExperiment(model: request.model)
        default:
            report = try releases.experimentReport(model: request.model)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(parameters: [Parameter("report", String(decoding: try encoder.encode(report), as: UTF8.self))])
    }

    static func plan(from request: Request) throws -> RolloutPlan {
        var plan = RolloutPlan()
        func number(_ key: String) throws -> Double? {
            guard let text = request[parameter: key] else { return nil }
            guard let value = Double(text), value.isFinite else { throw Status(.invalidArgument, "'\(key)' must be a number, not '\(text)'") }
            return value
        }
        if let steps = request[parameter: "steps"] {
            plan.steps = try steps.split(separator: ",").map { part in
                guard let value = Double(part.trimmingCharacters(in: .whitespaces)) else {
                    throw Status(.invalidArgument, "'steps' must be percentages like 5,25,50,100, not '\(steps)'")
                }
                return value
            }
        }
        if let value = try number("step_seconds") { plan.stepSeconds = value }
        if let value = try number("min_requests") { plan.minRequestsPerStep = Int(value) }
        if let value = try number("shadow_percent") { plan.shadowPercent = value }
        if let value = try number("max_error_rate_increase") { plan.gates.maxErrorRateIncrease = value }
        if let value = try number("max_latency_ratio") { plan.gates.maxLatencyRatio = value }
        if let value = try number("max_disagreement") { plan.gates.maxDisagreement = value }
        if let value = try number("min_samples") { plan.gates.minSamples = Int(value) }
        if let value = try number("min_latency_samples") { plan.gates.minLatencySamples = Int(value) }
        if let value = try number("latency_tolerance_ms") { plan.gates.latencyToleranceMilliseconds = value }
        return plan
    }
}

/// One model's release state as `rollout.status` reports it (JSON, snake_case keys).
public struct ReleaseStatus: Codable, Sendable {
    /// One version's measurements in the current analysis window.
    public struct Window: Codable, Sendable {
        public var requests: Int
        public var errors: Int
        public var errorRate: Double
        public var p99Milliseconds: Double?
        public var compared: Int
        public var disagreement: Double

        init(_ window: ArmWindow) {
            self.requests = window.requests
            self.errors = window.errors
            self.errorRate = window.errorRate
            self.p99Milliseconds = window.latency(quantile: 0.99).map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
            self.compared = window.compared
            self.disagreement = window.disagreement
        }

        enum CodingKeys: String, CodingKey {
            case requests, errors, compared, disagreement
            case errorRate = "error_rate"
            case p99Milliseconds = "p99_ms"
        }
    }

    public var model: String
    public var stable: String
    public var candidate: String?
    public var candidatePercent: Double
    public var rollout: Rollout?
    public var stableWindow: Window
    public var candidateWindow: Window

    init(_ entry: (model: String, split: TrafficSplit, rollout: Rollout?, stable: ArmWindow, candidate: ArmWindow)) {
        self.model = entry.model
        self.stable = entry.split.stable
        self.candidate = entry.split.candidate
        self.candidatePercent = entry.split.candidatePercent
        self.rollout = entry.rollout
        self.stableWindow = Window(entry.stable)
        self.candidateWindow = Window(entry.candidate)
    }

    enum CodingKeys: String, CodingKey {
        case model, stable, candidate, rollout
        case candidatePercent = "candidate_percent"
        case stableWindow = "stable_window"
        case candidateWindow = "candidate_window"
    }
}
