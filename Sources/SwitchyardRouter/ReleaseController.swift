import Foundation
internal import Metrics
public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
internal import Synchronization
internal import SwitchyardTensor
public import SwitchyardWire

/// The router's releases: which version of each model answers (a sticky ``TrafficSplit``), the canary rollouts
/// that move that split, and the measurements their gates judge.
///
/// State lives in one JSON file in the router's state directory, written (atomically, by rename) on every
/// decision, so a router restarted mid-rollout resumes at the same step with the same weights. Routers that share
/// the directory converge: each re-reads the file every tick and adopts what another router wrote, so their
/// weights agree within one tick (1 s by default). Only the router that started a rollout (its owner) judges
/// it, on its own traffic; the others follow. Routers on other VMs follow a leader router over the wire instead
/// (`release.state`, every tick, so they agree within a tick plus a round trip) and refuse release commands. A file, not a database or a consensus protocol: one small JSON
/// document per router group, readable by people and by `jq`, and nothing else to run on a VM.
/// Each model's split and rollout phase are also metrics (`switchyard_release_candidate_percent{model}`,
/// `switchyard_rollout_phase{model,phase}`, and the latest decision in words as `switchyard_rollout_decision_info{model,decision}`),
/// so the monitor's dashboard and alert rules see every decision.
public final class ReleaseController: Service {
    /// Which side of a split a request went to.
    public enum Arm: Sendable { case stable, candidate }

    /// Where a request goes.
    public struct Route: Sendable {
        /// The version to ask for ("" for the newest).
        public var version: String
        /// The arm to measure, when a rollout runs.
        public var arm: Arm?
        /// The stable version to score the same inputs with (shadow), if this request is sampled.
        public var shadowVersion: String?
        /// In an A/B comparison: whether the challenger serves this request.
        public var challenger: Bool? = nil
        /// In an A/B comparison: the other arm's version, to answer the same inputs off the request path.
        public var mirrorVersion: String? = nil
    }

    private struct ModelState {
        var rollout: Rollout?
        var split: TrafficSplit
        /// The router that judges the rollout.
        var owner = ""
        /// The A/B comparison running, or the last one.
        var experiment: Experiment?
        var stable = ArmWindow()
        var candidate = ArmWindow()
    }

    /// What the state file holds.
    private struct Stored: Codable {
        /// The router that wrote the file, and when.
        var writer: String
        var updated: Double
        var rollouts: [String: Rollout]
        var splits: [String: TrafficSplit]
        /// Per model, the router that judges its rollout.
        var owners: [String: String]
    }

    private let models: Mutex<[String: ModelState]>
    private let path: String?
    private let identity: String
    private let tick: Duration
    private let logger: Logger
    private let shadowsInFlight = Atomic<Int>(0)
    /// What each recent experiment request was answered, for labels that come back later.
    private let answers = Mutex(AnswerLog(capacity: 100_000))
    /// The router this one follows, if any.
    private let leader: (any Upstream)?
    /// The decision each model's `switchyard_rollout_decision_info` series shows.
    private let publishedDecisions = Mutex<[String: String]>([:])
    /// The state file's `updated` as last read or written here.
    private let seen = Mutex<Double>(0)
    /// Shadow calls at once; more are skipped, so that scoring never piles up behind a slow version.
    public static let maxShadowsInFlight = 32

    /// Makes a controller for `models`, reading the state file if there is one.
    /// - Parameters:
    ///   - models: the models the router serves.
    ///   - stateDirectory: where `releases.json` lives; `nil` keeps state in memory only.
    ///   - identity: this router's name, recorded as the owner of the rollouts it starts.
    ///   - tick: how often rollouts are judged and the file re-read.
    ///   - logger: every decision is logged at notice level.
    ///   - leader: another router whose release state this one follows (over the wire, every tick) instead of
    ///     deciding anything itself; for routers on other VMs that share no directory.
    public init(
        models: [String], stateDirectory: String?, identity: String, tick: Duration = .seconds(1), leader: (any Upstream)? = nil,
        logger: Logger
    ) throws {
        self.leader = leader
        self.path = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("releases.json").path }
        self.identity = identity
        self.tick = tick
        self.logger = logger
        var states = Dictionary(uniqueKeysWithValues: models.map { ($0, ModelState(split: TrafficSplit(stable: ""))) })
        if let path = self.path {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if let stored = try Self.read(path) {
                Self.adopt(stored, into: &states)
                self.seen.withLock { $0 = stored.updated }
                for (model, state) in states where state.rollout?.isActive == true {
                    logger.notice("rollout resumed", metadata: ["model": "\(model)", "step": "\(state.rollout!.step + 1)", "weight": "\(state.split.candidatePercent)%", "owner": "\(state.owner)"])
                }
            }
        }
        self.models = Mutex(states)
        self.publish()
    }

    // MARK: Request path

    /// The version for a request that pinned none, and whether it is measured or shadow-scored.
    public func route(model: String, routingKey: String) -> Route {
        self.models.withLock { models in
            guard let state = models[model] else { return Route(version: "") }
            var random = SystemRandomNumberGenerator()
            if let experiment = state.experiment, experiment.isRunning {
                let version = experiment.split.version(for: routingKey, using: &random)
                let challenger = version == experiment.challenger
                let sample = Double.random(in: 0..<100, using: &random)
                let mirror: String? = switch experiment.mode {
                case .shadow: sample < experiment.percent ? experiment.challenger : nil
                case .split: challenger && sample < experiment.comparePercent ? experiment.champion : nil
                }
                return Route(version: version, challenger: challenger, mirrorVersion: mirror)
            }
            let version = state.split.version(for: routingKey, using: &random)
            guard let rollout = state.rollout, rollout.isActive else { return Route(version: version) }
            let arm: Arm = version == rollout.candidate ? .candidate : .stable
            let shadow = arm == .candidate && Double.random(in: 0..<100, using: &random) < rollout.plan.shadowPercent
            return Route(version: version, arm: arm, shadowVersion: shadow ? rollout.stable : nil)
        }
    }

    /// Counts a finished request of a measured arm.
    public func record(model: String, arm: Arm, ok: Bool, latency: Duration) {
        self.models.withLock { models in
            switch arm {
            case .stable: models[model]?.stable.record(ok: ok, latency: latency)
            case .candidate: models[model]?.candidate.record(ok: ok, latency: latency)
            }
        }
    }

    /// Scores `inputs` with the stable version beside the candidate's answer, off the request path.
    public func shadow(model: String, stable: String, request: Request, candidateAnswer: Response, via inference: any Upstream) {
        self.offPath(request, version: stable, via: inference) { answer, _ in
            guard let answer, let ours = Self.top1(candidateAnswer), let theirs = Self.top1(answer) else { return }
            self.models.withLock { $0[model]?.candidate.recordComparison(agreed: ours == theirs) }
        }
    }

    /// Asks `version` the same inference request in a task of its own: the caller never waits for it, at most
    /// ``maxShadowsInFlight`` run at once (more are skipped), and each has a 10 s deadline.
    private func offPath(
        _ request: Request, version: String, via inference: any Upstream, then: @escaping @Sendable (Response?, Duration) -> Void
    ) {
        guard self.shadowsInFlight.add(1, ordering: .relaxed).newValue <= Self.maxShadowsInFlight else {
            self.shadowsInFlight.subtract(1, ordering: .relaxed)
            return
        }
        var copy = request
        copy.version = version
        Task {
            defer { self.shadowsInFlight.subtract(1, ordering: .relaxed) }
            let started = ContinuousClock.now
            let answer = try? await inference.call(copy, deadline: .now.advanced(by: .seconds(10)))
            then(answer, started.duration(to: .now))
        }
    }

    // MARK: A/B comparisons

    /// Counts a finished request of an A/B arm and keeps its top-1 answer for feedback.
    /// - Returns: the id to report the true label under (`feedback`), or `nil` when no experiment runs.
    public func recordExperiment(model: String, requestID: String, challenger: Bool, answer: Response?, latency: Duration) {
        self.models.withLock { models in
            models[model]?.experiment?.recordAnswer(challenger: challenger, ok: answer != nil, latency: latency)
        }
        guard let answer, let top1 = Self.top1(answer)?.first else { return }
        // a label that came back before this arm's (mirrored) answer is scored now
        guard let label = self.answers.withLock({ $0.record(requestID, model: model, challenger: challenger, top1: top1) }) else { return }
        self.models.withLock { $0[model]?.experiment?.recordFeedback(challenger: challenger, correct: top1 == label) }
    }

    /// Has the other arm answer the same inference request off the request path (bounded like ``shadow``);
    /// compares the answers, and in shadow mode measures the challenger as if it had served.
    public func mirror(model: String, requestID: String, version: String, servedByChallenger: Bool, request: Request, answer: Response, via inference: any Upstream) {
        self.offPath(request, version: version, via: inference) { other, latency in
            if !servedByChallenger {  // shadow mode: this is the challenger's only traffic
                self.recordExperiment(model: model, requestID: requestID, challenger: true, answer: other, latency: latency)
            }
            guard let other, let ours = Self.top1(answer), let theirs = Self.top1(other) else { return }
            let difference = Self.meanAbsoluteDifference(answer, other)
            self.models.withLock { $0[model]?.experiment?.recordComparison(agreed: ours == theirs, meanAbsoluteScoreDifference: difference) }
        }
    }

    /// A true label for an earlier request: each arm that answered it is scored.
    /// - Throws: `Status.notFound` when the request is unknown or too old (the log keeps the last 100,000).
    public func feedback(requestID: String, label: Int64) throws {
        guard let entry = self.answers.withLock({ $0.label(requestID, label) }) else {
            throw Status(.notFound, "no experiment request '\(requestID)' is remembered (unknown, older than the last 100000, or labelled already)")
        }
        self.models.withLock { models in
            if let top1 = entry.champion { models[entry.model]?.experiment?.recordFeedback(challenger: false, correct: top1 == label) }
            if let top1 = entry.challenger { models[entry.model]?.experiment?.recordFeedback(challenger: true, correct: top1 == label) }
        }
    }

    /// Starts an A/B comparison.
    /// - Throws: `Status` (`not found`, `failed precondition` while a rollout or another comparison runs, `invalid argument`).
    public func startExperiment(_ experiment: Experiment) throws {
        if let problem = experiment.problem { throw Status(.invalidArgument, "the comparison is not valid: \(problem)") }
        try self.models.withLock { models in
            guard let state = models[experiment.model] else { throw Status(.notFound, "no model '\(experiment.model)' on this router") }
            if let rollout = state.rollout, rollout.isActive {
                throw Status(.failedPrecondition, "a rollout of \(experiment.model) runs; promote or abort it before comparing")
            }
            if let running = state.experiment, running.isRunning {
                throw Status(.failedPrecondition, "a comparison of \(running.champion) and \(running.challenger) runs; stop it first")
            }
            models[experiment.model]?.experiment = experiment
        }
        self.logger.notice(
            "comparison started",
            metadata: ["model": "\(experiment.model)", "champion": "\(experiment.champion)", "challenger": "\(experiment.challenger)", "mode": "\(experiment.mode.rawValue)"]
        )
    }

    /// Stops the model's comparison; its report stays readable.
    public func stopExperiment(model: String) throws -> ExperimentReport {
        let report = try self.models.withLock { models in
            guard var experiment = models[model]?.experiment, experiment.isRunning else { throw Status(.notFound, "no comparison of '\(model)' runs") }
            experiment.stop(now: Date().timeIntervalSince1970)
            models[model]?.experiment = experiment
            models[model]?.split = TrafficSplit(stable: experiment.champion)  // the champion keeps serving everyone
            return experiment.report
        }
        self.logger.notice("comparison stopped", metadata: ["model": "\(model)", "verdict": "\(report.verdict)"])
        try self.persist()
        return report
    }

    /// The model's comparison so far (running or stopped).
    public func experimentReport(model: String) throws -> ExperimentReport {
        guard let experiment = self.models.withLock({ $0[model]?.experiment }) else { throw Status(.notFound, "no comparison of '\(model)'") }
        return experiment.report
    }

    static func meanAbsoluteDifference(_ a: Response, _ b: Response) -> Double? {
        guard let x = a.tensors.first(where: { $0.tensor.dtype == .float32 }), let y = b.tensors.first(where: { $0.name == x.name }),
            let first = try? x.tensor.scalars(as: Float.self), let second = try? y.tensor.scalars(as: Float.self),
            first.count == second.count, !first.isEmpty
        else { return nil }
        var sum = 0.0
        for index in first.indices { sum += Double(abs(first[index] - second[index])) }
        return sum / Double(first.count)
    }

    /// The top-1 class of every row: the `label` output if there is one, else the argmax of the first float output.
    static func top1(_ response: Response) -> [Int64]? {
        if let label = response.tensors.first(where: { $0.name == "label" })?.tensor, label.dtype == .int64 {
            return try? label.scalars(as: Int64.self)
        }
        guard let scores = response.tensors.first(where: { $0.tensor.dtype == .float32 })?.tensor, scores.shape.rank == 2,
            let values = try? scores.scalars(as: Float.self)
        else { return nil }
        let columns = scores.shape[1]
        guard columns > 0 else { return nil }
        return stride(from: 0, to: values.count, by: columns).map { start in
            var best = start
            for index in start..<(start + columns) where values[index] > values[best] { best = index }
            return Int64(best - start)
        }
    }

    // MARK: Administration

    /// Starts a rollout of `candidate` for `model`.
    /// - Throws: `Status` (`not found`, `failed precondition` when one runs, `invalid argument` for a bad plan).
    public func start(model: String, candidate: String, stable: String?, plan: RolloutPlan) throws -> Rollout {
        if let problem = plan.problem { throw Status(.invalidArgument, "the rollout plan is not valid: \(problem)") }
        let now = Date().timeIntervalSince1970
        let rollout = try self.models.withLock { models -> Rollout in
            guard let state = models[model] else { throw Status(.notFound, "no model '\(model)' on this router") }
            if let running = state.rollout, running.isActive {
                throw Status(.failedPrecondition, "a rollout of \(model) to \(running.candidate) is already \(running.phase.rawValue); promote or abort it first")
            }
            let stable = stable ?? state.split.stable
            guard !stable.isEmpty else {
                throw Status(.invalidArgument, "name the stable version of \(model) (nothing is pinned yet, so the router cannot tell which one serves now)")
            }
            guard stable != candidate else { throw Status(.invalidArgument, "the candidate is the stable version (\(stable))") }
            let rollout = Rollout(model: model, stable: stable, candidate: candidate, plan: plan, now: now)
            models[model]?.rollout = rollout
            models[model]?.split = rollout.split
            models[model]?.owner = self.identity
            models[model]?.stable = ArmWindow()
            models[model]?.candidate = ArmWindow()
            return rollout
        }
        self.logger.notice("rollout started", metadata: ["model": "\(model)", "candidate": "\(candidate)", "stable": "\(rollout.stable)"])
        try self.persist()
        return rollout
    }

    /// An operator's action on the model's rollout.
    public enum Action: String, Sendable, CaseIterable { case pause, resume, promote, abort }

    /// Applies `action` to the model's rollout.
    /// - Throws: `Status` (`not found`, `failed precondition` when the action does not apply now).
    public func apply(_ action: Action, model: String) throws -> Rollout {
        let now = Date().timeIntervalSince1970
        let rollout = try self.models.withLock { models -> Rollout in
            guard var rollout = models[model]?.rollout else { throw Status(.notFound, "no rollout of '\(model)'") }
            let changed = switch action {
            case .pause: rollout.pause(now: now)
            case .resume: rollout.resume(now: now)
            case .promote: rollout.promote(now: now)
            case .abort: rollout.abort(now: now)
            }
            guard changed else { throw Status(.failedPrecondition, "cannot \(action.rawValue) a rollout that is \(rollout.phase.rawValue)") }
            models[model]?.rollout = rollout
            models[model]?.split = rollout.split
            models[model]?.stable = ArmWindow()
            models[model]?.candidate = ArmWindow()
            return rollout
        }
        self.logger.notice("rollout \(action.rawValue)", metadata: ["model": "\(model)", "by": "operator"])
        try self.persist()
        return rollout
    }

    /// Pins the version that serves a model when no rollout runs.
    public func pin(model: String, version: String) throws {
        try self.models.withLock { models in
            guard models[model] != nil else { throw Status(.notFound, "no model '\(model)' on this router") }
            if let rollout = models[model]?.rollout, rollout.isActive {
                throw Status(.failedPrecondition, "a rollout of \(model) runs; promote or abort it first")
            }
            models[model]?.split = TrafficSplit(stable: version)
        }
        try self.persist()
    }

    /// Each model's rollout (the last one, if it ended) and current split.
    public var status: [(model: String, split: TrafficSplit, rollout: Rollout?, stable: ArmWindow, candidate: ArmWindow)] {
        self.models.withLock { models in
            models.keys.sorted().map { model in
                let state = models[model]!
                return (model, state.split, state.rollout, state.stable, state.candidate)
            }
        }
    }

    // MARK: Judging

    /// Judges every progressing rollout once (see ``Rollout/evaluate(stable:candidate:now:)``) and persists changes.
    public func evaluate(now: Double) {
        let decisions = self.models.withLock { models -> [(String, Rollout)] in
            var decisions: [(String, Rollout)] = []
            for model in models.keys {
                guard var state = models[model], state.owner == self.identity, var rollout = state.rollout, rollout.isActive else { continue }
                guard rollout.evaluate(stable: state.stable, candidate: state.candidate, now: now) else { continue }
                state.rollout = rollout
                state.split = rollout.split
                state.stable = ArmWindow()
                state.candidate = ArmWindow()
                models[model] = state
                decisions.append((model, rollout))
            }
            return decisions
        }
        for (model, rollout) in decisions {
            self.logger.notice(
                "rollout decision",
                metadata: ["model": "\(model)", "phase": "\(rollout.phase.rawValue)", "decision": "\(rollout.history.last?.message ?? "")"]
            )
        }
        if !decisions.isEmpty {
            do {
                try self.persist()
            } catch {
                self.logger.error("cannot write the release state", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Judges rollouts every tick until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.tick)
                if let leader = self.leader {
                    await self.follow(leader)
                } else {
                    self.follow()
                    self.evaluate(now: Date().timeIntervalSince1970)
                }
            }
        }
    }

    // MARK: State file

    /// Takes the file's rollouts and splits; windows restart where the split changed.
    private static func adopt(_ stored: Stored, into states: inout [String: ModelState]) {
        for model in states.keys {
            var state = states[model]!
            let split = stored.rollouts[model]?.split ?? stored.splits[model] ?? state.split
            if split != state.split {
                state.stable = ArmWindow()
                state.candidate = ArmWindow()
            }
            state.split = split
            state.rollout = stored.rollouts[model] ?? state.rollout
            state.owner = stored.owners[model] ?? state.owner
            states[model] = state
        }
    }

    /// The release state as the state file holds it (JSON), for routers that follow this one.
    public func stateDocument() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self.stored()), as: UTF8.self)
    }

    /// Why this router takes no release commands, or `nil` when it decides for itself.
    public var followerReason: String? {
        self.leader == nil ? nil : "this router follows another router's releases (--release-leader); send release commands there"
    }

    /// Adopts the leader's state when it changed; the leader being away changes nothing here.
    private func follow(_ leader: any Upstream) async {
        do {
            let response = try await leader.call(Request(method: "release.state"), deadline: .now.advanced(by: self.tick))
            let stored = try JSONDecoder().decode(Stored.self, from: Data((response[parameter: "state"] ?? "").utf8))
            guard self.seen.withLock({ seen in
                guard stored.updated > seen else { return false }
                seen = stored.updated
                return true
            }) else { return }
            self.models.withLock { Self.adopt(stored, into: &$0) }
            self.publish()
            self.logger.info("release state adopted", metadata: ["leader": "\(stored.writer)"])
            if let path = self.path { try Self.write(stored, to: path) }  // a restart starts from the last known state
        } catch {
            self.logger.debug("cannot read the leader's release state", metadata: ["error": "\(error)"])
        }
    }

    /// Adopts what another router wrote since this one last read or wrote the file.
    private func follow() {
        guard let path = self.path else { return }
        do {
            guard let stored = try Self.read(path), stored.writer != self.identity,
                self.seen.withLock({ seen in
                    guard stored.updated > seen else { return false }
                    seen = stored.updated
                    return true
                })
            else { return }
            self.models.withLock { Self.adopt(stored, into: &$0) }
            self.publish()
            self.logger.info("release state adopted", metadata: ["writer": "\(stored.writer)"])
        } catch {
            self.logger.warning("cannot read the release state", metadata: ["error": "\(error)"])
        }
    }

    /// Publishes each model's split and rollout phase as metrics, so that dashboards and alerts see decisions.
    private func publish() {
        let states = self.models.withLock { models in models.mapValues { ($0.split, $0.rollout?.phase) } }
        let decisions = self.models.withLock { models in models.compactMapValues { $0.rollout?.history.last?.message } }
        // an info-style series: the latest decision's words as a label, 1; the one before goes to 0
        let replaced = self.publishedDecisions.withLock { published in
            defer { published = decisions }
            return published.filter { decisions[$0.key] != $0.value }
        }
        for (model, message) in replaced {
            Gauge(label: "switchyard_rollout_decision_info", dimensions: [("model", model), ("decision", message)]).record(0)
        }
        for (model, message) in decisions {
            Gauge(label: "switchyard_rollout_decision_info", dimensions: [("model", model), ("decision", message)]).record(1)
        }
        for (model, (split, phase)) in states {
            Gauge(label: "switchyard_release_candidate_percent", dimensions: [("model", model)]).record(split.candidatePercent)
            for candidate in [Rollout.Phase.progressing, .paused, .promoted, .rolledBack, .aborted] {
                Gauge(label: "switchyard_rollout_phase", dimensions: [("model", model), ("phase", candidate.rawValue)]).record(phase == candidate ? 1 : 0)
            }
        }
    }

    private func stored() -> Stored {
        self.models.withLock { models in
            Stored(
                writer: self.identity, updated: Date().timeIntervalSince1970,
                rollouts: models.compactMapValues(\.rollout), splits: models.mapValues(\.split),
                owners: models.compactMapValues { $0.owner.isEmpty ? nil : $0.owner }
            )
        }
    }

    private func persist() throws {
        self.publish()
        guard let path = self.path else { return }
        let stored = self.stored()
        self.seen.withLock { $0 = max($0, stored.updated) }
        try Self.write(stored, to: path)
    }

    private static func write(_ stored: Stored, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(stored)
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw Status(.internalError, "cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func read(_ path: String) throws -> Stored? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(Stored.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw Status(.failedPrecondition, "the release state \(path) cannot be read: \(error)")
        }
    }
}

/// The last requests of A/B comparisons: each arm's top-1 answer and the true label, whichever comes first;
/// oldest forgotten first. Each arm is scored once, when both its answer and the label are known.
struct AnswerLog {
    struct Entry {
        var model: String
        var champion: Int64?
        var challenger: Int64?
        var label: Int64?
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Keeps an arm's answer. - Returns: the label, if it came first (the caller scores the arm now).
    mutating func record(_ id: String, model: String, challenger: Bool, top1: Int64) -> Int64? {
        if self.entries[id] == nil {
            if self.order.count < self.capacity {
                self.order.append(id)
            } else {
                self.entries.removeValue(forKey: self.order[self.head])
                self.order[self.head] = id
                self.head = (self.head + 1) % self.capacity
            }
            self.entries[id] = Entry(model: model)
        }
        if challenger { self.entries[id]?.challenger = top1 } else { self.entries[id]?.champion = top1 }
        return self.entries[id]?.label
    }

    /// Keeps the true label. - Returns: the entry as it was (the caller scores the arms that answered), or `nil`
    /// when the request is unknown or was labelled before.
    mutating func label(_ id: String, _ label: Int64) -> Entry? {
        guard let entry = self.entries[id], entry.label == nil else { return nil }
        self.entries[id]?.label = label
        return entry
    }
}
