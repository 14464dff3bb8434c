/// How a canary proceeds: its steps, how long and how much traffic each needs, where it waits for a person, who may
/// reach the candidate before any public step, the gates it must pass and whom to tell. Names follow Flagger's
/// `analysis` and Argo Rollouts' `steps` where they mean the same.
///
/// Decoding fills any key a document lacks with its default, so that state written by an older router and plans
/// that give only what they change both read.
public struct RolloutPlan: Sendable, Hashable, Codable {
    /// The candidate's share at each step, in percent (`setWeight`). A step of 0 serves only the testers.
    public var steps: [Double] = [5, 25, 50, 100]
    /// Step indices before which the rollout waits for `approve` (Argo's `pause: {}`); `steps.count` means before
    /// promotion. Written `pause` between weights in a steps list: `0,pause,5,25,50,100,pause`.
    public var pauses: [Int] = []
    /// The least time a step lasts before the next (Flagger's `interval`), in seconds.
    public var stepSeconds: Double = 30
    /// The least candidate requests a step needs before the next.
    public var minRequestsPerStep = 100
    /// Of the candidate's requests, the percentage the stable version also scores (shadow), for the output gates.
    public var shadowPercent: Double = 20
    /// The checks at every step.
    public var gates = RolloutGates()
    /// Callers served by the candidate at every step, before any public one.
    public var testers = Testers()
    /// URLs every decision of this rollout is POSTed to (Slack-compatible JSON), besides the router's own.
    public var notify: [String] = []

    public init() {}

    /// Why the plan cannot run, or `nil`.
    public var problem: String? {
        if self.steps.isEmpty { return "a rollout needs at least one step" }
        if let bad = self.steps.first(where: { !(0...100).contains($0) }) {
            return "step weight \(bad) is not in 0...100"
        }
        if zip(self.steps, self.steps.dropFirst()).contains(where: { $0 > $1 }) {
            return "step weights must not decrease"
        }
        if let bad = self.pauses.first(where: { !(1...self.steps.count).contains($0) }) {
            return "a pause must come after a step (pause before step \(bad + 1) of \(self.steps.count))"
        }
        if !(0...86_400).contains(self.stepSeconds) { return "the step interval must be 0...86400 seconds" }
        if self.minRequestsPerStep < 0 { return "the minimum requests per step must not be negative" }
        if !(0...100).contains(self.shadowPercent) { return "the shadow percentage must be 0...100" }
        if let bad = self.notify.first(where: { !$0.hasPrefix("http://") }) {
            return "notify URLs must be http://, not '\(bad)'"
        }
        if self.steps.first == 0, self.testers.isEmpty {
            return "a first step of 0% serves nobody: name testers or start above 0"
        }
        return self.gates.problem
    }

    /// Reads the steps syntax: weights in percent with `pause` where the rollout waits for approval, e.g.
    /// `0,pause,5,25,50,100,pause`.
    /// - Returns: the weights and the pauses, or `nil` when a part is neither a number nor `pause`.
    public static func parseSteps(_ text: String) -> (steps: [Double], pauses: [Int])? {
        var steps: [Double] = []
        var pauses: [Int] = []
        for part in text.split(separator: ",") {
            let word = part.split(separator: " ").joined()
            if word == "pause" {
                pauses.append(steps.count)
            } else if let value = Double(word), value.isFinite {
                steps.append(value)
            } else {
                return nil
            }
        }
        return (steps, pauses)
    }

    /// The steps as ``parseSteps(_:)`` reads them.
    public var stepsDescription: String {
        var parts: [String] = []
        for (index, weight) in self.steps.enumerated() {
            if self.pauses.contains(index) { parts.append("pause") }
            parts.append(Rollout.percent(weight))
        }
        if self.pauses.contains(self.steps.count) { parts.append("pause") }
        return parts.joined(separator: " → ")
    }

    enum CodingKeys: String, CodingKey {
        case steps, pauses, stepSeconds, minRequestsPerStep, shadowPercent, gates, testers, notify
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RolloutPlan()
        self.steps = try container.decodeIfPresent([Double].self, forKey: .steps) ?? defaults.steps
        self.pauses = try container.decodeIfPresent([Int].self, forKey: .pauses) ?? defaults.pauses
        self.stepSeconds = try container.decodeIfPresent(Double.self, forKey: .stepSeconds) ?? defaults.stepSeconds
        self.minRequestsPerStep =
            try container.decodeIfPresent(Int.self, forKey: .minRequestsPerStep) ?? defaults.minRequestsPerStep
        self.shadowPercent =
            try container.decodeIfPresent(Double.self, forKey: .shadowPercent) ?? defaults.shadowPercent
        self.gates = try container.decodeIfPresent(RolloutGates.self, forKey: .gates) ?? defaults.gates
        self.testers = try container.decodeIfPresent(Testers.self, forKey: .testers) ?? defaults.testers
        self.notify = try container.decodeIfPresent([String].self, forKey: .notify) ?? defaults.notify
    }
}

/// Callers who reach the candidate before (and during) the public steps, as Flagger's header `match` and Argo's
/// `setHeaderRoute` do: by routing key (named users, e.g. the team's own accounts) or by a request parameter.
/// A request can also ask for a side itself with the parameter `version.tag` (`candidate` or `stable`).
public struct Testers: Sendable, Hashable, Codable {
    /// Routing keys served by the candidate.
    public var routingKeys: [String] = []
    /// Request parameters that make a caller a tester: all given must match (`tester=yes`).
    public var parameters: [String: String] = [:]

    public init(routingKeys: [String] = [], parameters: [String: String] = [:]) {
        self.routingKeys = routingKeys
        self.parameters = parameters
    }

    /// Whether no rule is set.
    public var isEmpty: Bool { self.routingKeys.isEmpty && self.parameters.isEmpty }

    /// Whether a request is a tester's.
    /// - Parameters:
    ///   - routingKey: the request's routing key.
    ///   - parameter: looks up a request parameter by key.
    public func matches(routingKey: String, parameter: (String) -> String?) -> Bool {
        if !routingKey.isEmpty, self.routingKeys.contains(routingKey) { return true }
        guard !self.parameters.isEmpty else { return false }
        return self.parameters.allSatisfy { parameter($0.key) == $0.value }
    }
}

/// The analysis gates: the candidate against the stable version over the same window, each judged continuously
/// on a confidence sequence (``Statistics/Interval``), so that checking every tick does not raise the chance of
/// rolling back a good candidate.
public struct RolloutGates: Sendable, Hashable, Codable {
    /// Confidence of every gate's sequence; a candidate exactly at a threshold fails a gate with probability at most
    /// (1 − confidence) / 2 per step, however long the step runs.
    public var confidence = 0.95
    /// Most the candidate's error rate may exceed the stable version's (0.01 = one percentage point), judged on the
    /// lower end of the difference's interval, so that a few unlucky requests do not roll back a good model.
    public var maxErrorRateIncrease = 0.01
    /// Most the candidate's p99 latency may be, as a multiple of the stable version's. The router measures each
    /// version's own inference run time (as the inference service reports it, without queueing), because both
    /// versions usually share instances, and queueing behind a slow candidate would slow the stable one too.
    public var maxLatencyRatio = 2.0
    /// For every label or score output: most rows whose label or top-1 differs from the stable version's on the
    /// same inputs, as a fraction.
    public var maxDisagreement = 0.10
    /// For every score or probability output: most mean absolute difference of a row's scores.
    public var maxScoreDifference = 0.05
    /// For every probability output: most mean Jensen–Shannon divergence (nats, 0 ... 0.693) of a row's
    /// distribution from the stable version's.
    public var maxJensenShannon = 0.05
    /// For every regression output: most mean symmetric relative difference from the stable version's values
    /// (0.1: a candidate 10% off).
    public var maxRelativeDifference = 0.10
    /// Per output name: thresholds (and kind) that replace the ones above for that output.
    public var outputs: [String: OutputGate] = [:]
    /// Candidate requests (for errors) or compared rows (for an output) before a gate is judged at all.
    public var minSamples = 20
    /// Timed requests on each side before latency is judged (p99 of fewer is noise).
    public var minLatencySamples = 100
    /// A p99 difference below this many milliseconds never fails the latency gate, whatever the ratio: at
    /// fractions of a millisecond a ratio measures scheduling noise, not the model.
    public var latencyToleranceMilliseconds = 2.0
    /// Most the candidate's labelled accuracy may fall below the stable version's (0.02 = two points), judged on the
    /// upper end of the difference's interval.
    public var maxAccuracyDrop = 0.02
    /// Labelled answers on each side before accuracy is judged.
    public var minLabels = 30
    /// Most population stability index of the candidate's predicted classes against the stable version's, above
    /// what sampling alone gives; 0.25 is the usual "major shift".
    public var maxPredictionShift = 0.25
    /// Predictions on each side before the shift is judged.
    public var minPredictions = 200
    /// Queries of a Prometheus server, each with a threshold, evaluated over the step's window.
    public var metrics: [MetricGate] = []
    /// URLs a step's evidence is POSTed to before the rollout moves on; it continues on a 2xx answer and rolls
    /// back on any other.
    public var webhooks: [String] = []

    public init() {}

    /// The chance of error of every gate's confidence sequence.
    public var alpha: Double { 1 - self.confidence }

    /// The thresholds that apply to output `name`.
    public func gate(for name: String) -> OutputGate {
        var gate = OutputGate(
            maxDisagreement: self.maxDisagreement, maxScoreDifference: self.maxScoreDifference,
            maxJensenShannon: self.maxJensenShannon, maxRelativeDifference: self.maxRelativeDifference
        )
        guard let specific = self.outputs[name] else { return gate }
        gate.kind = specific.kind
        gate.ignore = specific.ignore
        gate.maxDisagreement = specific.maxDisagreement ?? gate.maxDisagreement
        gate.maxScoreDifference = specific.maxScoreDifference ?? gate.maxScoreDifference
        gate.maxJensenShannon = specific.maxJensenShannon ?? gate.maxJensenShannon
        gate.maxRelativeDifference = specific.maxRelativeDifference ?? gate.maxRelativeDifference
        return gate
    }

    var problem: String? {
        if !(0.5..<1).contains(self.confidence) { return "the confidence must be 0.5 ... 0.999" }
        if !(0...1).contains(self.maxErrorRateIncrease) { return "max error-rate increase must be 0...1" }
        if self.maxLatencyRatio < 1 { return "max latency ratio must be at least 1" }
        for (name, value) in [
            ("max disagreement", self.maxDisagreement), ("max score difference", self.maxScoreDifference),
            ("max accuracy drop", self.maxAccuracyDrop),
        ] where !(0...1).contains(value) {
            return "\(name) must be 0...1"
        }
        if !(0...0.7).contains(self.maxJensenShannon) { return "max Jensen–Shannon divergence must be 0...0.7" }
        if !(0...2).contains(self.maxRelativeDifference) { return "max relative difference must be 0...2" }
        if self.maxPredictionShift < 0 { return "max prediction shift must not be negative" }
        if self.minSamples < 1 || self.minLatencySamples < 1 || self.minLabels < 1 || self.minPredictions < 1 {
            return "minimum samples must be at least 1"
        }
        if !(0...60_000).contains(self.latencyToleranceMilliseconds) {
            return "the latency tolerance must be 0...60000 ms"
        }
        for (name, output) in self.outputs {
            if let problem = output.problem { return "output '\(name)': \(problem)" }
        }
        for metric in self.metrics {
            if let problem = metric.problem { return "metric '\(metric.name)': \(problem)" }
        }
        if Set(self.metrics.map(\.name)).count != self.metrics.count { return "metric names must be different" }
        if let bad = self.webhooks.first(where: { !$0.hasPrefix("http://") }) {
            return "webhook URLs must be http://, not '\(bad)'"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case confidence, maxErrorRateIncrease, maxLatencyRatio, maxDisagreement, maxScoreDifference, maxJensenShannon
        case maxRelativeDifference, outputs, minSamples, minLatencySamples, latencyToleranceMilliseconds
        case maxAccuracyDrop, minLabels, maxPredictionShift, minPredictions, metrics, webhooks
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RolloutGates()
        self.confidence = try c.decodeIfPresent(Double.self, forKey: .confidence) ?? d.confidence
        self.maxErrorRateIncrease =
            try c.decodeIfPresent(Double.self, forKey: .maxErrorRateIncrease) ?? d.maxErrorRateIncrease
        self.maxLatencyRatio = try c.decodeIfPresent(Double.self, forKey: .maxLatencyRatio) ?? d.maxLatencyRatio
        self.maxDisagreement = try c.decodeIfPresent(Double.self, forKey: .maxDisagreement) ?? d.maxDisagreement
        self.maxScoreDifference =
            try c.decodeIfPresent(Double.self, forKey: .maxScoreDifference) ?? d.maxScoreDifference
        self.maxJensenShannon = try c.decodeIfPresent(Double.self, forKey: .maxJensenShannon) ?? d.maxJensenShannon
        self.maxRelativeDifference =
            try c.decodeIfPresent(Double.self, forKey: .maxRelativeDifference) ?? d.maxRelativeDifference
        self.outputs = try c.decodeIfPresent([String: OutputGate].self, forKey: .outputs) ?? d.outputs
        self.minSamples = try c.decodeIfPresent(Int.self, forKey: .minSamples) ?? d.minSamples
        self.minLatencySamples = try c.decodeIfPresent(Int.self, forKey: .minLatencySamples) ?? d.minLatencySamples
        self.latencyToleranceMilliseconds =
            try c.decodeIfPresent(Double.self, forKey: .latencyToleranceMilliseconds) ?? d.latencyToleranceMilliseconds
        self.maxAccuracyDrop = try c.decodeIfPresent(Double.self, forKey: .maxAccuracyDrop) ?? d.maxAccuracyDrop
        self.minLabels = try c.decodeIfPresent(Int.self, forKey: .minLabels) ?? d.minLabels
        self.maxPredictionShift =
            try c.decodeIfPresent(Double.self, forKey: .maxPredictionShift) ?? d.maxPredictionShift
        self.minPredictions = try c.decodeIfPresent(Int.self, forKey: .minPredictions) ?? d.minPredictions
        self.metrics = try c.decodeIfPresent([MetricGate].self, forKey: .metrics) ?? d.metrics
        self.webhooks = try c.decodeIfPresent([String].self, forKey: .webhooks) ?? d.webhooks
    }
}

/// The thresholds for one output; `nil` keeps the plan's default for every output.
public struct OutputGate: Sendable, Hashable, Codable {
    /// What the output is, when the data alone would mislead (several regression targets look like scores).
    public var kind: OutputKind?
    /// Not judged at all (an output that is allowed to change, like an embedding).
    public var ignore: Bool?
    public var maxDisagreement: Double?
    public var maxScoreDifference: Double?
    public var maxJensenShannon: Double?
    public var maxRelativeDifference: Double?

    public init(
        kind: OutputKind? = nil, ignore: Bool? = nil, maxDisagreement: Double? = nil, maxScoreDifference: Double? = nil,
        maxJensenShannon: Double? = nil, maxRelativeDifference: Double? = nil
    ) {
        self.kind = kind
        self.ignore = ignore
        self.maxDisagreement = maxDisagreement
        self.maxScoreDifference = maxScoreDifference
        self.maxJensenShannon = maxJensenShannon
        self.maxRelativeDifference = maxRelativeDifference
    }

    var problem: String? {
        for value in [self.maxDisagreement, self.maxScoreDifference].compactMap({ $0 }) where !(0...1).contains(value) {
            return "thresholds of disagreement and score difference must be 0...1"
        }
        if let value = self.maxJensenShannon, !(0...0.7).contains(value) {
            return "max Jensen–Shannon must be 0...0.7"
        }
        if let value = self.maxRelativeDifference, !(0...2).contains(value) {
            return "max relative difference must be 0...2"
        }
        return nil
    }
}

/// A custom analysis gate (Argo's AnalysisTemplate, Flagger's metric template): a PromQL query whose value must stay
/// within bounds over the step. In the query, `$window` becomes the step's age as a range (`[42s]`, at least
/// `minWindowSeconds`), and `$model`, `$stable` and `$candidate` the rollout's names.
public struct MetricGate: Sendable, Hashable, Codable {
    /// The gate's name in reasons and the status.
    public var name: String
    /// The PromQL query; its result must be one number (a scalar, or a vector of one sample).
    public var query: String
    /// The rollout fails when the value is above this.
    public var max: Double?
    /// The rollout fails when the value is below this.
    public var min: Double?
    /// The Prometheus server (`http://host:9090`); the router's `--prometheus` when `nil`.
    public var address: String?
    /// The shortest range `$window` stands for, so that a young step still covers a few scrapes.
    public var minWindowSeconds: Double?

    public init(name: String, query: String, max: Double? = nil, min: Double? = nil, address: String? = nil) {
        self.name = name
        self.query = query
        self.max = max
        self.min = min
        self.address = address
    }

    var problem: String? {
        if self.name.isEmpty { return "a metric gate needs a name" }
        if self.query.isEmpty { return "a metric gate needs a query" }
        if self.max == nil, self.min == nil { return "a metric gate needs max or min" }
        if let address, !address.hasPrefix("http://") { return "the Prometheus address must be http://" }
        return nil
    }

    /// The query with its placeholders filled in for a step that began `age` seconds ago.
    public func query(age: Double, model: String, stable: String, candidate: String) -> String {
        let seconds = Swift.max(Int(age.rounded(.up)), Int(self.minWindowSeconds ?? 10), 1)
        return self.query.replacing("$window", with: "\(seconds)s").replacing("$model", with: model)
            .replacing("$stable", with: stable).replacing("$candidate", with: candidate)
    }

    /// Why `value` fails the gate, or `nil`.
    func failure(_ value: Double, age: Double) -> String? {
        let over = "over the step's \(Rollout.format(age)) s"
        if let max, value > max {
            return "metric '\(self.name)' = \(Rollout.format(value)) \(over) (at most \(Rollout.format(max)))"
        }
        if let min, value < min {
            return "metric '\(self.name)' = \(Rollout.format(value)) \(over) (at least \(Rollout.format(min)))"
        }
        return nil
    }
}
