import Foundation
public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
internal import Synchronization
public import SwitchyardWire

/// The router's releases: which version of each model answers (a sticky ``TrafficSplit``), the canary rollouts
/// that move that split, the A/B comparisons, and the measurements their gates judge.
///
/// Its parts: the route choice is ``ReleasePolicy``; the state file is ``ReleaseStore``, written on every decision,
/// so a router restarted mid-rollout resumes at the same step with the same weights; the metrics are
/// ``ReleaseMetrics``; following other routers is in `ReleaseController+Following.swift` and comparisons in
/// `ReleaseController+Experiments.swift`.
///
/// Routers that share the state directory converge: each re-reads the file every tick and adopts what another
/// router wrote, so their weights agree within one tick (1 s by default). Only the router that started a rollout
/// (its owner) judges it, on its own traffic; the others follow. Routers on other VMs follow a leader router over
/// the wire instead (`release.state`, every tick, so they agree within a tick plus a round trip) and refuse release
/// commands.
public final class ReleaseController: Service {
    /// One model's release state.
    struct ModelState: Sendable {
        var rollout: Rollout?
        var split: TrafficSplit
        /// The router that judges the rollout.
        var owner = ""
        /// The A/B comparison running, or the last one.
        var experiment: Experiment?
        var stable = ArmWindow()
        var candidate = ArmWindow()
    }

    let models: Mutex<[String: ModelState]>
    let store: ReleaseStore?
    let identity: String
    let tick: Duration
    let logger: Logger
    let metrics = ReleaseMetrics()
    let shadowsInFlight = Atomic<Int>(0)
    /// What each recent experiment request was answered, for labels that come back later.
    let answers = Mutex(AnswerLog(capacity: 100_000))
    /// The router this one follows, if any.
    let leader: (any Upstream)?
    /// The state document's `updated` as last read or written here.
    let seen = Mutex<Double>(0)
    /// Shadow calls at once; more are skipped, so that scoring never piles up behind a slow version.
    public static let maxShadowsInFlight = 32

    /// Makes a controller for `models`, reading the state file if there is one.
    /// - Parameters:
    ///   - models: the models the router serves.
    ///   - stateDirectory: where `releases.json` lives; `nil` keeps state in memory only.
    ///   - identity: this router's name, recorded as the owner of the rollouts it starts.
    ///   - tick: how often rollouts are judged and the file re-read.
    ///   - leader: another router whose release state this one follows (over the wire, every tick) instead of
    ///     deciding anything itself; for routers on other VMs that share no directory.
    ///   - logger: every decision is logged at notice level.
    /// - Throws: `RouterError` when the state directory cannot be made or the file cannot be read.
    public init(
        models: [String], stateDirectory: String?, identity: String, tick: Duration = .seconds(1),
        leader: (any Upstream)? = nil, logger: Logger
    ) throws(RouterError) {
        self.leader = leader
        self.identity = identity
        self.tick = tick
        self.logger = logger
        var states = Dictionary(uniqueKeysWithValues: models.map { ($0, ModelState(split: TrafficSplit(stable: ""))) })
        if let stateDirectory {
            let store = try ReleaseStore(directory: stateDirectory)
            self.store = store
            if let stored = try store.read() {
                Self.adopt(stored, into: &states)
                self.seen.withLock { $0 = stored.updated }
                for (model, state) in states where state.rollout?.isActive == true {
                    logger.notice(
                        "rollout resumed",
                        metadata: [
                            "model": "\(model)", "step": "\(state.rollout!.step + 1)",
                            "weight": "\(state.split.candidatePercent)%", "owner": "\(state.owner)",
                        ]
                    )
                }
            }
        } else {
            self.store = nil
        }
        self.models = Mutex(states)
        self.publish()
    }

    // MARK: Request path

    /// The version for a request that pinned none, and whether it is measured or shadow-scored (``ReleasePolicy``).
    /// - Parameters:
    ///   - model: the model asked for.
    ///   - routingKey: the caller's key for sticky buckets.
    public func route(model: String, routingKey: String) -> Route {
        var random = SystemRandomNumberGenerator()
        return self.models.withLock { ReleasePolicy.route($0[model], routingKey: routingKey, using: &random) }
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

    // MARK: Administration

    /// Starts a rollout of `candidate` for `model`.
    /// - Throws: `RouterError` (`unknownModel`, `conflict` when one runs, `invalidArgument` for a bad plan).
    public func start(model: String, candidate: String, stable: String?, plan: RolloutPlan) throws(RouterError) -> Rollout {
        if let problem = plan.problem { throw RouterError(.invalidArgument, "the rollout plan is not valid: \(problem)") }
        let now = Date().timeIntervalSince1970
        let rollout = try self.models.withLock { models throws(RouterError) -> Rollout in
            guard let state = models[model] else { throw RouterError(.unknownModel, "no model '\(model)' on this router") }
            if let running = state.rollout, running.isActive {
                throw RouterError(
                    .conflict,
                    "a rollout of \(model) to \(running.candidate) is already \(running.phase.rawValue); promote or abort it first"
                )
            }
            let stable = stable ?? state.split.stable
            guard !stable.isEmpty else {
                throw RouterError(
                    .invalidArgument,
                    "name the stable version of \(model) (nothing is pinned yet, so the router cannot tell which one serves now)"
                )
            }
            guard stable != candidate else {
                throw RouterError(.invalidArgument, "the candidate is the stable version (\(stable))")
            }
            let rollout = Rollout(model: model, stable: stable, candidate: candidate, plan: plan, now: now)
            models[model]?.rollout = rollout
            models[model]?.split = rollout.split
            models[model]?.owner = self.identity
            models[model]?.stable = ArmWindow()
            models[model]?.candidate = ArmWindow()
            return rollout
        }
        self.logger.notice(
            "rollout started", metadata: ["model": "\(model)", "candidate": "\(candidate)", "stable": "\(rollout.stable)"]
        )
        try self.persist()
        return rollout
    }

    /// An operator's action on the model's rollout.
    public enum Action: String, Sendable, CaseIterable { case pause, resume, promote, abort }

    /// Applies `action` to the model's rollout.
    /// - Throws: `RouterError` (`notFound`, `conflict` when the action does not apply now).
    public func apply(_ action: Action, model: String) throws(RouterError) -> Rollout {
        let now = Date().timeIntervalSince1970
        let rollout = try self.models.withLock { models throws(RouterError) -> Rollout in
            guard var rollout = models[model]?.rollout else { throw RouterError(.notFound, "no rollout of '\(model)'") }
            let changed =
                switch action {
                case .pause: rollout.pause(now: now)
                case .resume: rollout.resume(now: now)
                case .promote: rollout.promote(now: now)
                case .abort: rollout.abort(now: now)
                }
            guard changed else {
                throw RouterError(.conflict, "cannot \(action.rawValue) a rollout that is \(rollout.phase.rawValue)")
            }
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
    /// - Throws: `RouterError` (`unknownModel`, `conflict` while a rollout runs).
    public func pin(model: String, version: String) throws(RouterError) {
        try self.models.withLock { models throws(RouterError) in
            guard models[model] != nil else { throw RouterError(.unknownModel, "no model '\(model)' on this router") }
            if let rollout = models[model]?.rollout, rollout.isActive {
                throw RouterError(.conflict, "a rollout of \(model) runs; promote or abort it first")
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

    /// Judges every progressing rollout this router owns once (see ``Rollout/evaluate(stable:candidate:now:)``)
    /// and persists changes.
    /// - Parameter now: the time, in seconds since 1970.
    public func evaluate(now: Double) {
        let decisions = self.models.withLock { models -> [(String, Rollout)] in
            var decisions: [(String, Rollout)] = []
            for model in models.keys {
                guard var state = models[model], state.owner == self.identity, var rollout = state.rollout,
                    rollout.isActive
                else { continue }
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
                metadata: [
                    "model": "\(model)", "phase": "\(rollout.phase.rawValue)",
                    "decision": "\(rollout.history.last?.message ?? "")",
                ]
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

    /// Judges rollouts every tick until graceful shutdown or cancellation (or, following a leader, adopts its state).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.tick)
                if let leader = self.leader {
                    await self.follow(leader)
                } else {
                    self.followStore()
                    self.evaluate(now: Date().timeIntervalSince1970)
                }
            }
        }
    }

    // MARK: State

    /// Takes a document's rollouts and splits; windows restart where the split changed.
    static func adopt(_ stored: ReleaseStore.Document, into states: inout [String: ModelState]) {
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

    /// The release state as a document, stamped now by this router.
    func document() -> ReleaseStore.Document {
        self.models.withLock { models in
            ReleaseStore.Document(
                writer: self.identity, updated: Date().timeIntervalSince1970,
                rollouts: models.compactMapValues(\.rollout), splits: models.mapValues(\.split),
                owners: models.compactMapValues { $0.owner.isEmpty ? nil : $0.owner }
            )
        }
    }

    /// Publishes each model's split and rollout phase as metrics.
    func publish() {
        let models = self.models.withLock { models in
            models.mapValues {
                ReleaseMetrics.Model(split: $0.split, phase: $0.rollout?.phase, decision: $0.rollout?.history.last?.message)
            }
        }
        self.metrics.publish(models)
    }

    /// Publishes and writes the state after a decision.
    /// - Throws: `RouterError.stateUnwritable`.
    func persist() throws(RouterError) {
        self.publish()
        guard let store = self.store else { return }
        let document = self.document()
        self.seen.withLock { $0 = max($0, document.updated) }
        try store.write(document)
    }
}
