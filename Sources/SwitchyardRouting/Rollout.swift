/// One canary rollout of a model: its plan, where it is, and what happened. A value type whose methods take the
/// time (seconds since 1970, so that the state survives a restart) and return whether anything changed; the owner
/// persists it and carries out what it asks for (``needsConfirmation``: POST the step's evidence to the webhook
/// gates).
public struct Rollout: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable {
        case progressing, paused
        /// Waiting for `approve` at a pause of the plan; the gates are still judged.
        case waiting
        case promoted
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
    /// Why it ended (rollback or abort), or why it waits.
    public private(set) var reason: String?
    public private(set) var history: [Entry] = []
    /// The step's gates passed and the webhook gates are being asked; the step moves on when they answer 2xx.
    public private(set) var awaitingConfirmation = false
    /// Webhook gates that could not be reached in a row (three roll the candidate back).
    public private(set) var webhookFailures = 0
    /// Why a step whose time and requests are done cannot end yet (a metric without a value), if so.
    public private(set) var holding: String?

    /// Unreachable webhook gates tolerated in a row before the candidate is rolled back.
    public static let webhookFailureLimit = 3

    /// Starts a rollout at its first step.
    public init(model: String, stable: String, candidate: String, plan: RolloutPlan, now: Double) {
        self.model = model
        self.stable = stable
        self.candidate = candidate
        self.plan = plan
        self.stepStarted = now
        self.note("started: \(candidate) against \(stable), steps \(plan.stepsDescription)", now)
        self.note("step 1 of \(plan.steps.count): \(Self.percent(plan.steps[0])) to \(candidate)", now)
    }

    /// Whether the rollout still runs (progressing, paused or waiting for approval).
    public var isActive: Bool { self.phase == .progressing || self.phase == .paused || self.phase == .waiting }

    /// Whether the owner should POST the step's evidence to the webhook gates now.
    public var needsConfirmation: Bool { self.phase == .progressing && self.awaitingConfirmation }

    /// The traffic split the rollout asks for now.
    public var split: TrafficSplit {
        switch self.phase {
        case .progressing, .paused, .waiting:
            TrafficSplit(stable: self.stable, candidate: self.candidate, candidatePercent: self.plan.steps[self.step])
        case .promoted: TrafficSplit(stable: self.candidate)
        case .rolledBack, .aborted: TrafficSplit(stable: self.stable)
        }
    }

    /// Judges the current step on the two versions' windows since it began; may roll back, advance, wait for
    /// approval or ask the webhook gates.
    /// - Parameters:
    ///   - stable: the stable version's window.
    ///   - candidate: the candidate's window (with the comparisons of its shadow-scored requests).
    ///   - metrics: the latest value of each of the plan's metric gates over this step, by name.
    ///   - now: seconds since 1970.
    /// - Returns: whether anything changed (the caller then resets the windows and persists the rollout).
    public mutating func evaluate(
        stable: ArmWindow, candidate: ArmWindow, metrics: [String: Double] = [:], now: Double
    ) -> Bool {
        guard self.phase == .progressing || self.phase == .waiting else { return false }
        let age = now - self.stepStarted
        if let failure = Self.failedGate(self.plan.gates, stable: stable, candidate: candidate)
            ?? self.plan.gates.metrics.lazy.compactMap({ gate in
                metrics[gate.name].flatMap { gate.failure($0, age: age) }
            }).first
        {
            self.rollBack(failure, now)
            return true
        }
        guard self.phase == .progressing, !self.awaitingConfirmation else { return false }
        guard age >= self.plan.stepSeconds, candidate.requests >= self.plan.minRequestsPerStep else { return false }
        let missing = self.plan.gates.metrics.filter { metrics[$0.name] == nil }.map(\.name)
        // a step passes its gates only once each could judge: outputs compared and metrics read
        var holding: String?
        if self.plan.shadowPercent > 0, candidate.compared < self.plan.gates.minSamples {
            holding = "the step waits for \(self.plan.gates.minSamples) shadow-scored requests to compare outputs"
        } else if !missing.isEmpty {
            holding = "the step waits for a value of metric \(missing.map { "'\($0)'" }.joined(separator: ", "))"
        }
        if let holding {
            guard self.holding != holding else { return false }
            self.holding = holding
            self.note(holding, now)
            return true
        }
        self.holding = nil
        let evidence = Self.evidence(stable: stable, candidate: candidate, metrics: metrics)
        if !self.plan.gates.webhooks.isEmpty {
            self.awaitingConfirmation = true
            self.note("gates passed (\(evidence)); asking the webhook gates", now)
            return true
        }
        self.advance(evidence: evidence, now)
        return true
    }

    /// The webhook gates answered 2xx: the step moves on.
    public mutating func confirm(now: Double) -> Bool {
        guard self.needsConfirmation else { return false }
        self.awaitingConfirmation = false
        self.webhookFailures = 0
        self.advance(evidence: "webhook gates answered 2xx", now)
        return true
    }

    /// A webhook gate refused the step (any answer but 2xx): the candidate is rolled back.
    public mutating func refuse(_ reason: String, now: Double) -> Bool {
        guard self.needsConfirmation else { return false }
        self.awaitingConfirmation = false
        self.rollBack(reason, now)
        return true
    }

    /// A webhook gate could not be reached; after ``webhookFailureLimit`` in a row the candidate is rolled back.
    public mutating func webhookUnreachable(_ reason: String, now: Double) -> Bool {
        guard self.needsConfirmation else { return false }
        self.webhookFailures += 1
        guard self.webhookFailures >= Self.webhookFailureLimit else { return false }
        self.awaitingConfirmation = false
        self.rollBack("\(reason) (\(self.webhookFailures) times in a row)", now)
        return true
    }

    /// Past a pause of the plan: the next step starts (or the candidate is promoted).
    public mutating func approve(now: Double) -> Bool {
        guard self.phase == .waiting else { return false }
        self.phase = .progressing
        self.reason = nil
        self.moveOn(evidence: "approved by an operator", now)
        return true
    }

    /// Holds the current weight; the gates are not judged while paused.
    public mutating func pause(now: Double) -> Bool {
        guard self.phase == .progressing || self.phase == .waiting else { return false }
        self.phase = .paused
        self.awaitingConfirmation = false
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
        self.reason = nil
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

    /// The step's gates passed: wait at a pause of the plan, or move on.
    private mutating func advance(evidence: String, _ now: Double) {
        let next = self.step + 1
        if self.plan.pauses.contains(next) {
            self.phase = .waiting
            let what =
                next < self.plan.steps.count
                ? "step \(next + 1) of \(self.plan.steps.count) (\(Self.percent(self.plan.steps[next])))" : "promotion"
            self.reason = "waiting for approval before \(what)"
            self.note("gates passed (\(evidence)); waiting for approval before \(what) (yard rollout approve)", now)
            return
        }
        self.moveOn(evidence: "gates passed (\(evidence))", now)
    }

    private mutating func moveOn(evidence: String, _ now: Double) {
        if self.step + 1 < self.plan.steps.count {
            self.step += 1
            self.stepStarted = now
            self.note(
                "\(evidence); step \(self.step + 1) of \(self.plan.steps.count): "
                    + "\(Self.percent(self.plan.steps[self.step])) to \(self.candidate)",
                now
            )
        } else {
            self.phase = .promoted
            self.note("\(evidence); promoted: \(self.candidate) is the stable version", now)
        }
    }

    private mutating func rollBack(_ failure: String, _ now: Double) {
        self.phase = .rolledBack
        self.reason = failure
        self.awaitingConfirmation = false
        self.note("rolled back at \(Self.percent(self.plan.steps[self.step])): \(failure)", now)
    }

    private mutating func note(_ message: String, _ now: Double) {
        self.history.append(Entry(time: now, message: message))
        if self.history.count > 200 { self.history.removeFirst(self.history.count - 200) }
    }

    static func percent(_ value: Double) -> String { "\(Self.format(value))%" }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        let rounded = (value * 100).rounded() / 100
        if rounded == 0, value != 0 {
            return abs(value) < 0.0001 ? "< 0.0001" : String((value * 10_000).rounded() / 10_000)
        }
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : String(rounded)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ duration: Duration) -> String { "\(Self.format(Self.seconds(duration) * 1000)) ms" }

    enum CodingKeys: String, CodingKey {
        case model, stable, candidate, plan, phase, step, stepStarted, reason, history, awaitingConfirmation
        case webhookFailures, holding
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.model = try c.decode(String.self, forKey: .model)
        self.stable = try c.decode(String.self, forKey: .stable)
        self.candidate = try c.decode(String.self, forKey: .candidate)
        self.plan = try c.decode(RolloutPlan.self, forKey: .plan)
        self.phase = try c.decode(Phase.self, forKey: .phase)
        self.step = try c.decode(Int.self, forKey: .step)
        self.stepStarted = try c.decode(Double.self, forKey: .stepStarted)
        self.reason = try c.decodeIfPresent(String.self, forKey: .reason)
        self.history = try c.decodeIfPresent([Entry].self, forKey: .history) ?? []
        self.awaitingConfirmation = try c.decodeIfPresent(Bool.self, forKey: .awaitingConfirmation) ?? false
        self.webhookFailures = try c.decodeIfPresent(Int.self, forKey: .webhookFailures) ?? 0
        self.holding = try c.decodeIfPresent(String.self, forKey: .holding)
        guard self.plan.steps.indices.contains(self.step) else {
            throw DecodingError.dataCorruptedError(
                forKey: .step, in: c, debugDescription: "step \(self.step) is not a step of the plan"
            )
        }
    }
}
