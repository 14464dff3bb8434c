import Foundation
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// The release methods of the router. Every one but `rollout.status`, `ab.report`, `feedback` and `release.state`
/// needs an admin client certificate.
///
/// - `rollout.start`: `model`, parameter `candidate`, optional `stable`, `plan` (a whole ``RolloutPlan`` as JSON),
///   and parameters that replace its fields: `steps` (`5,25,50,100`, with `pause` where the rollout waits for
///   approval), `step_seconds`, `min_requests`, `shadow_percent`, `confidence`, `max_error_rate_increase`,
///   `max_latency_ratio`, `max_disagreement`, `max_score_difference`, `max_js_divergence`, `max_relative_difference`,
///   `max_accuracy_drop`, `min_labels`, `max_prediction_shift`, `min_predictions`, `min_samples`,
///   `min_latency_samples`, `latency_tolerance_ms`, `testers` (routing keys), `tester_match` (`key=value,...`),
///   `notify` and `webhooks` (URLs, comma-separated).
/// - `rollout.pause|resume|promote|abort|approve`: `model`.
/// - `rollout.status`: `model` or empty for all.
/// - `release.pin`: `model`, `version`: the version that serves when no rollout runs.
/// - `ab.start`: `model`, parameters `champion`, `challenger`, `mode` (`split` or `shadow`), `percent` (the
///   challenger's share of users, or of requests mirrored), `compare_percent`, `guardrail` (`on`/`off`),
///   `guardrail_max_error_rate_increase`, `guardrail_max_accuracy_drop`. `ab.report` and `ab.stop`: `model`.
///   Answers carry an ``ExperimentReport`` as JSON in the parameter `report`.
/// - `feedback` (any client): parameters `request_id` (an answer's `request.id`) and `label`; or a batch, as the
///   tensors `request_id` (`bytes`, one per label) and `label` (integers). Answers with `accepted` and `unknown`.
/// - `release.state` (any client): the state document (as in `releases.json`) in the parameter `state`, which
///   routers started with `--release-leader` read every tick.
///
/// Answers carry the state as JSON in the parameter `status` (schema: an array of ``ReleaseStatus``).
extension RouterService {
    /// Whether the router's release administration answers `method` (the release methods, and unknown methods of
    /// the same families, which it refuses by name).
    static func isReleaseMethod(_ method: String) -> Bool {
        method.hasPrefix("rollout.") || method.hasPrefix("release.") || method.hasPrefix("ab.")
            || method == Method.feedback
    }

    /// The release methods a following router answers; the others need a router that leads (who may call which is
    /// the server's ``AuthorizationPolicy``).
    private static let openMethods: Set<String> = [Method.rolloutStatus, Method.abReport, Method.feedback]

    func administer(_ request: Request, context: RequestContext) throws -> Response {
        guard let releases = self.releases else { throw RouterError(.releasesOff, "this router runs no releases") }
        if request.method == Method.releaseState {
            return Response(parameters: [Parameter(ParameterKey.state, try releases.stateDocument())])
        }
        if !Self.openMethods.contains(request.method), let reason = releases.followerReason {
            throw RouterError(.follower, reason)
        }
        switch request.method {
        case Method.feedback:
            return try Self.feedback(request, releases: releases)
        case Method.abStart, Method.abReport, Method.abStop:
            return try self.compare(request, releases: releases)
        case Method.rolloutStart:
            guard let candidate = request[parameter: ParameterKey.candidate], !candidate.isEmpty else {
                throw RouterError(
                    .invalidArgument,
                    "rollout.start needs the parameter 'candidate' (a version of \(request.model))"
                )
            }
            let plan = try Self.plan(from: request)
            _ = try releases.start(
                model: request.model,
                candidate: candidate,
                stable: request[parameter: ParameterKey.stable],
                plan: plan
            )
        case Method.rolloutStatus:
            break
        case Method.releasePin:
            guard !request.version.isEmpty else {
                throw RouterError(.invalidArgument, "release.pin needs the version to pin")
            }
            try releases.pin(model: request.model, version: request.version)
        default:
            let name = String(request.method.dropFirst("rollout.".count))
            guard request.method.hasPrefix("rollout."), let action = ReleaseController.Action(rawValue: name) else {
                throw RouterError(.unknownMethod, "unknown release method '\(request.method)'")
            }
            _ = try releases.apply(action, model: request.model)
        }
        let statuses = releases.status.filter { request.model.isEmpty || $0.model == request.model }.map(
            ReleaseStatus.init
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(statuses), as: UTF8.self)
        return Response(parameters: [Parameter(ParameterKey.status, json)])
    }

    private func compare(_ request: Request, releases: ReleaseController) throws -> Response {
        let report: ExperimentReport
        switch request.method {
        case Method.abStart:
            guard let champion = request[parameter: ParameterKey.champion],
                let challenger = request[parameter: ParameterKey.challenger]
            else {
                throw RouterError(
                    .invalidArgument,
                    "ab.start needs the parameters 'champion' and 'challenger' (versions of \(request.model))"
                )
            }
            let modeName = request[parameter: ParameterKey.mode] ?? "split"
            guard let mode = Experiment.Mode(rawValue: modeName) else {
                throw RouterError(.invalidArgument, "'mode' must be split or shadow, not '\(modeName)'")
            }
            func number(_ key: String, _ fallback: Double) throws(RouterError) -> Double {
                guard let text = request[parameter: key] else { return fallback }
                guard let value = Double(text), value.isFinite else {
                    throw RouterError(.invalidArgument, "'\(key)' must be a number, not '\(text)'")
                }
                return value
            }
            var experiment = Experiment(
                model: request.model,
                champion: champion,
                challenger: challenger,
                mode: mode,
                percent: try number(ParameterKey.percent, mode == .split ? 50 : 100),
                comparePercent: try number(ParameterKey.comparePercent, 20),
                now: Date().timeIntervalSince1970
            )
            switch request[parameter: ParameterKey.guardrail] ?? "on" {
            case "on": experiment.guardrail.enabled = true
            case "off": experiment.guardrail.enabled = false
            case let other: throw RouterError(.invalidArgument, "'guardrail' must be on or off, not '\(other)'")
            }
            experiment.guardrail.maxErrorRateIncrease = try number(
                ParameterKey.guardrailMaxErrorRateIncrease,
                experiment.guardrail.maxErrorRateIncrease
            )
            experiment.guardrail.maxAccuracyDrop = try number(
                ParameterKey.guardrailMaxAccuracyDrop,
                experiment.guardrail.maxAccuracyDrop
            )
            try releases.startExperiment(experiment)
            report = experiment.report
        case Method.abStop:
            report = try releases.stopExperiment(model: request.model)
        default:
            report = try releases.experimentReport(model: request.model)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            parameters: [Parameter(ParameterKey.report, String(decoding: try encoder.encode(report), as: UTF8.self))]
        )
    }

    /// `feedback`: one label in parameters, or a batch in tensors.
    static func feedback(_ request: Request, releases: ReleaseController) throws(RouterError) -> Response {
        let ids = request.tensors.first { $0.name == ParameterKey.feedbackRequestID }?.tensor
        let labels = request.tensors.first { $0.name == ParameterKey.label }?.tensor
        guard ids != nil || labels != nil else {
            guard let id = request[parameter: ParameterKey.feedbackRequestID],
                let text = request[parameter: ParameterKey.label], let label = Int64(text)
            else {
                throw RouterError(
                    .invalidArgument,
                    "feedback needs the parameters 'request_id' (from the answer's request.id) and 'label' (an integer "
                        + "class), or for a batch the tensors 'request_id' (bytes) and 'label' (integers)"
                )
            }
            try releases.feedback(requestID: id, label: label)
            return Response(parameters: [Parameter(ParameterKey.accepted, "1"), Parameter(ParameterKey.unknown, "0")])
        }
        guard let ids, let labels, ids.dtype == .bytes, let names = try? ids.strings(),
            let values = Self.integers(labels), names.count == values.count
        else {
            throw RouterError(
                .invalidArgument,
                "a feedback batch needs the tensors 'request_id' (bytes) and 'label' (integers) with one entry each "
                    + "per label"
            )
        }
        let (accepted, unknown) = releases.feedback(Array(zip(names, values).map { (requestID: $0, label: $1) }))
        return Response(
            parameters: [
                Parameter(ParameterKey.accepted, "\(accepted)"), Parameter(ParameterKey.unknown, "\(unknown)"),
            ]
        )
    }

    static func integers(_ tensor: Tensor) -> [Int64]? {
        switch tensor.dtype {
        case .int64: try? tensor.scalars(as: Int64.self)
        case .int32: (try? tensor.scalars(as: Int32.self))?.map(Int64.init)
        case .uint8: (try? tensor.scalars(as: UInt8.self))?.map(Int64.init)
        case .int8: (try? tensor.scalars(as: Int8.self))?.map(Int64.init)
        default: nil
        }
    }

    /// The rollout plan of a `rollout.start` request: the `plan` JSON or the defaults, with each parameter given
    /// replacing its field.
    /// - Throws: `RouterError.invalidArgument` naming the parameter that is malformed.
    static func plan(from request: Request) throws(RouterError) -> RolloutPlan {
        var plan = RolloutPlan()
        if let json = request[parameter: ParameterKey.plan] {
            do {
                plan = try JSONDecoder().decode(RolloutPlan.self, from: Data(json.utf8))
            } catch {
                throw RouterError(.invalidArgument, "'plan' is not a rollout plan: \(error)", cause: error)
            }
        }
        func list(_ key: String) -> [String]? {
            request[parameter: key].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        }
        func number(_ key: String) throws(RouterError) -> Double? {
            guard let text = request[parameter: key] else { return nil }
            guard let value = Double(text), value.isFinite else {
                throw RouterError(.invalidArgument, "'\(key)' must be a number, not '\(text)'")
            }
            return value
        }
        // a count beyond Int's range would trap in Int(_:)
        func count(_ key: String) throws(RouterError) -> Int? {
            guard let value = try number(key) else { return nil }
            guard abs(value) < 1e15 else { throw RouterError(.invalidArgument, "'\(key)' is out of range: \(value)") }
            return Int(value)
        }
        if let steps = request[parameter: ParameterKey.steps] {
            guard let parsed = RolloutPlan.parseSteps(steps) else {
                throw RouterError(
                    .invalidArgument,
                    "'steps' must be percentages like 5,25,50,100 (with pause where to wait), not '\(steps)'"
                )
            }
            plan.steps = parsed.steps
            plan.pauses = parsed.pauses
        }
        if let value = try number(ParameterKey.stepSeconds) { plan.stepSeconds = value }
        if let value = try count(ParameterKey.minRequests) { plan.minRequestsPerStep = value }
        if let value = try number(ParameterKey.shadowPercent) { plan.shadowPercent = value }
        if let value = try number(ParameterKey.maxErrorRateIncrease) { plan.gates.maxErrorRateIncrease = value }
        if let value = try number(ParameterKey.maxLatencyRatio) { plan.gates.maxLatencyRatio = value }
        if let value = try number(ParameterKey.maxDisagreement) { plan.gates.maxDisagreement = value }
        if let value = try count(ParameterKey.minSamples) { plan.gates.minSamples = value }
        if let value = try count(ParameterKey.minLatencySamples) { plan.gates.minLatencySamples = value }
        if let value = try number(ParameterKey.latencyToleranceMilliseconds) {
            plan.gates.latencyToleranceMilliseconds = value
        }
        if let value = try number(ParameterKey.confidence) { plan.gates.confidence = value }
        if let value = try number(ParameterKey.maxScoreDifference) { plan.gates.maxScoreDifference = value }
        if let value = try number(ParameterKey.maxJensenShannon) { plan.gates.maxJensenShannon = value }
        if let value = try number(ParameterKey.maxRelativeDifference) { plan.gates.maxRelativeDifference = value }
        if let value = try number(ParameterKey.maxAccuracyDrop) { plan.gates.maxAccuracyDrop = value }
        if let value = try count(ParameterKey.minLabels) { plan.gates.minLabels = value }
        if let value = try number(ParameterKey.maxPredictionShift) { plan.gates.maxPredictionShift = value }
        if let value = try count(ParameterKey.minPredictions) { plan.gates.minPredictions = value }
        if let keys = list(ParameterKey.testers) { plan.testers.routingKeys = keys.filter { !$0.isEmpty } }
        if let pairs = list(ParameterKey.testerMatch) {
            for pair in pairs where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw RouterError(.invalidArgument, "'tester_match' takes key=value pairs, not '\(pair)'")
                }
                plan.testers.parameters[parts[0]] = parts[1]
            }
        }
        if let urls = list(ParameterKey.notify) { plan.notify = urls.filter { !$0.isEmpty } }
        if let urls = list(ParameterKey.webhooks) { plan.gates.webhooks = urls.filter { !$0.isEmpty } }
        return plan
    }
}
