/// How a canary proceeds: its steps, how long and how much traffic each needs, and the gates it must pass.
/// Names follow Flagger's `analysis` and Argo Rollouts' `steps` where they mean the same.
public struct RolloutPlan: Sendable, Hashable, Codable {
    /// The candidate's share at each step, in percent (`setWeight`); the last step is usually 100.
    public var steps: [Double] = [5, 25, 50, 100]
    /// The least time a step lasts before the next (Flagger's `interval`), in seconds.
    public var stepSeconds: Double = 30
    /// The least candidate requests a step needs before the next.
    public var minRequestsPerStep = 100
    /// Of the candidate's requests, the percentage the stable version also scores (shadow) for disagreement.
    public var shadowPercent: Double = 20
    /// The checks at every step.
    public var gates = RolloutGates()

    public init() {}

    /// Why the plan cannot run, or `nil`.
    public var problem: String? {
        if self.steps.isEmpty { return "a rollout needs at least one step" }
        if let bad = self.steps.first(where: { !(0...100).contains($0) }) { return "step weight \(bad) is not in 0...100" }
        if zip(self.steps, self.steps.dropFirst()).contains(where: { $0 > $1 }) { return "step weights must not decrease" }
        if !(0...86_400).contains(self.stepSeconds) { return "the step interval must be 0...86400 seconds" }
        if self.minRequestsPerStep < 0 { return "the minimum requests per step must not be negative" }
        if !(0...100).contains(self.shadowPercent) { return "the shadow percentage must be 0...100" }
        return self.gates.problem
    }
}

/// The analysis gates: the candidate against the stable version over the same window.
public struct RolloutGates: Sendable, Hashable, Codable {
    /// Most the candidate's error rate may exceed the stable version's (0.01 = one percentage point). The gate fails
    /// when the 95% lower bound of the increase exceeds it, so that a few unlucky requests do not roll back a good
    /// model.
    public var maxErrorRateIncrease = 0.01
    /// Most the candidate's p99 latency may be, as a multiple of the stable version's. The router measures each
    /// version's own inference run time (as the inference service reports it, without queueing), because both
    /// versions usually share instances, and queueing behind a slow candidate would slow the stable one too.
    public var maxLatencyRatio = 2.0
    /// Most shadow-scored requests whose top-1 answer differs between the versions, as a fraction. The gate fails
    /// when the 95% Wilson lower bound of the observed fraction exceeds it: on evidence, not on a small sample's luck.
    public var maxDisagreement = 0.10
    /// Candidate requests (for errors) or comparisons (for disagreement) before a gate is judged at all.
    public var minSamples = 20
    /// Timed requests on each side before latency is judged (p99 of fewer is noise).
    public var minLatencySamples = 100
    /// A p99 difference below this many milliseconds never fails the latency gate, whatever the ratio: at
    /// fractions of a millisecond a ratio measures scheduling noise, not the model.
    public var latencyToleranceMilliseconds = 2.0

    public init() {}

    var problem: String? {
        if !(0...1).contains(self.maxErrorRateIncrease) { return "max error-rate increase must be 0...1" }
        if self.maxLatencyRatio < 1 { return "max latency ratio must be at least 1" }
        if !(0...1).contains(self.maxDisagreement) { return "max disagreement must be 0...1" }
        if self.minSamples < 1 || self.minLatencySamples < 1 { return "minimum samples must be at least 1" }
        if !(0...60_000).contains(self.latencyToleranceMilliseconds) { return "the latency tolerance must be 0...60000 ms" }
        return nil
    }
}

/// One canary rollout of a model: its plan, where it is, and what happened. A value type whose methods take the
/// time (seconds since 1970, so that the state survives a restart) and return what changed; the owner persists it.
public struct Rollout: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable {
        case progressing, paused, promoted
        case rolledBack = "rolled_back"
        case aborted
    }

    /// A line of the rollout's history.
    public struct Entry: Sendable, Hashable, Codable {
        public var time: Double
        public var message: String
    }

    public var model: String
    public var stable: String
    public var candidate: String
    public var plan: RolloutPlan
    public private(set) var phase: Phase = .progressing
    /// Index in `plan.steps`.
    public private(set) var step = 0
    public private(set) var stepStarted: Double
    /// Why it ended (rollback or abort), or paused.
    public private(set) var reason: String?
    public private(set) var history: [Entry] = []

    /// Starts a rollout at its first step.
    public init(model: String, stable: String, candidate: String, plan: RolloutPlan, now: Double) {
        self.model = model
        self.stable = stable
        self.candidate = candidate
        self.plan = plan
        self.stepStarted = now
        self.note("started: \(candidate) against \(stable), steps \(plan.steps.map(Self.percent).joined(separator: " → "))", now)
        self.note("step 1 of \(plan.steps.count): \(Self.percent(plan.steps[0])) to \(candidate)", now)
    }

    /// Whether the rollout still runs (progressing or paused).
    public var isActive: Bool { self.phase == .progressing || self.phase == .paused }

    /// The traffic split the rollout asks for now.
    public var split: TrafficSplit {
        switch self.phase {
        case .progressing, .paused: TrafficSplit(stable: self.stable, candidate: self.candidate, candidatePercent: self.plan.steps[self.step])
        case .promoted: TrafficSplit(stable: self.candidate)
        case .rolledBack, .aborted: TrafficSplit(stable: self.stable)
        }
    }

    /// Judges the current step on the two versions' windows since it began; may roll back, advance or promote.
    /// - Returns: whether anything changed (the caller then resets the windows and persists the rollout).
    public mutating func evaluate(stable: ArmWindow, candidate: ArmWindow, now: Double) -> Bool {
        guard self.phase == .progressing else { return false }
        if let failure = Self.failedGate(self.plan.gates, stable: stable, candidate: candidate) {
            self.phase = .rolledBack
            self.reason = failure
            self.note("rolled back at \(Self.percent(self.plan.steps[self.step])): \(failure)", now)
            return true
        }
        guard now - self.stepStarted >= self.plan.stepSeconds, candidate.requests >= self.plan.minRequestsPerStep else { return false }
        let evidence = Self.evidence(stable: stable, candidate: candidate)
        if self.step + 1 < self.plan.steps.count {
            self.step += 1
            self.stepStarted = now
            self.note("gates passed (\(evidence)); step \(self.step + 1) of \(self.plan.steps.count): \(Self.percent(self.plan.steps[self.step])) to \(self.candidate)", now)
        } else {
            self.phase = .promoted
            self.note("gates passed (\(evidence)); promoted: \(self.candidate) is the stable version", now)
        }
        return true
    }

    /// Holds the current weight; the gates are not judged while paused.
    public mutating func pause(now: Double) -> Bool {
        guard self.phase == .progressing else { return false }
        self.phase = .paused
        self.reason = "paused by an operator"
        self.note("paused by an operator", now)
        return true
    }

    /// Continues a paused rollout; the current step starts over.
    public mutating func resume(now: Double) -> Bool {
        guard self.phase == .paused else { return false }
        self.phase = .progressing
        self.reason = nil
        self.stepStarted = now
        self.note("resumed at \(Self.percent(self.plan.steps[self.step]))", now)
        return true
    }

    /// Makes the candidate stable at once.
    public mutating func promote(now: Double) -> Bool {
        guard self.isActive else { return false }
        self.phase = .promoted
        self.note("promoted by an operator: \(self.candidate) is the stable version", now)
        return true
    }

    /// Sends all traffic back to the stable version.
    public mutating func abort(now: Double) -> Bool {
        guard self.isActive else { return false }
        self.phase = .aborted
        self.reason = "aborted by an operator"
        self.note("aborted by an operator: all traffic to \(self.stable)", now)
        return true
    }

    /// The first gate the candidate fails, in words, or `nil`.
    static func failedGate(_ gates: RolloutGates, stable: ArmWindow, candidate: ArmWindow) -> String? {
        // judged on the 95% lower bound of the increase: at 20 requests one error more than stable is 5 points,
        // and a candidate as good as a stable version that fails 1% of the time shows it one time in six
        if candidate.requests >= gates.minSamples,
            Statistics.differenceLowerBound(
                successes1: candidate.errors, trials1: candidate.requests,
                successes2: stable.errors, trials2: stable.requests
            ) > gates.maxErrorRateIncrease
        {
            let allowed = Self.percent(gates.maxErrorRateIncrease * 100)
            return "error rate \(Self.percent(candidate.errorRate * 100)) on \(candidate.requests) requests against "
                + "\(Self.percent(stable.errorRate * 100)) for stable "
                + "(at most +\(allowed), judged on the 95% lower bound)"
        }
        // judged on the 95% Wilson lower bound: at 20 samples a good candidate that truly disagrees 5% of the time
        // shows 15% one time in ten; a wrong one (80%) is still caught at once
        if candidate.compared >= gates.minSamples,
            Statistics.wilsonInterval(successes: candidate.disagreed, trials: candidate.compared).low > gates.maxDisagreement
        {
            return "top-1 disagreement with stable \(Self.percent(candidate.disagreement * 100)) on \(candidate.compared) shadow-scored requests "
                + "(at most \(Self.percent(gates.maxDisagreement * 100)), judged on the 95% lower bound)"
        }
        if candidate.latencySamples >= gates.minLatencySamples, stable.latencySamples >= gates.minLatencySamples,
            let ours = candidate.latency(quantile: 0.99), let theirs = stable.latency(quantile: 0.99)
        {
            let ratio = Self.seconds(ours) / max(Self.seconds(theirs), 1e-6)
            if ratio > gates.maxLatencyRatio, (Self.seconds(ours) - Self.seconds(theirs)) * 1000 > gates.latencyToleranceMilliseconds {
                return "p99 latency \(Self.milliseconds(ours)) against \(Self.milliseconds(theirs)) for stable "
                    + "(\(Self.format(ratio))×, at most \(Self.format(gates.maxLatencyRatio))×)"
            }
        }
        return nil
    }

    static func evidence(stable: ArmWindow, candidate: ArmWindow) -> String {
        var parts = [
            "\(candidate.requests) requests", "errors \(Self.percent(candidate.errorRate * 100)) vs \(Self.percent(stable.errorRate * 100))",
        ]
        if candidate.compared > 0 { parts.append("disagreement \(Self.percent(candidate.disagreement * 100)) of \(candidate.compared)") }
        if let ours = candidate.latency(quantile: 0.99), let theirs = stable.latency(quantile: 0.99) {
            parts.append("p99 \(Self.milliseconds(ours)) vs \(Self.milliseconds(theirs))")
        }
        return parts.joined(separator: ", ")
    }

    private mutating func note(_ message: String, _ now: Double) {
        self.history.append(Entry(time: now, message: message))
        if self.history.count > 200 { self.history.removeFirst(self.history.count - 200) }
    }

    static func percent(_ value: Double) -> String { "\(Self.format(value))%" }

    static func format(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ duration: Duration) -> String { "\(Self.format(Self.seconds(duration) * 1000)) ms" }
}
