import Foundation
public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
public import SwitchyardTensor
import SwitchyardWire
internal import Synchronization

/// The router's releases: which version of each model answers (a sticky ``TrafficSplit``), the canary rollouts
/// that move that split, the A/B comparisons, and the measurements their gates judge.
///
/// Its parts: the route choice is ``ReleasePolicy``; the state file is ``ReleaseStore``, written on every decision
/// and, while a rollout or comparison runs, with its evidence every tick, so that a router restarted mid-step
/// continues the same analysis; the metrics are ``ReleaseMetrics``; decisions are also POSTed to webhooks
/// (``ReleaseNotifier``); following other routers is in `ReleaseController+Following.swift`, comparisons and
/// feedback in `ReleaseController+Experiments.swift`, and the gates that need the network (Prometheus queries,
/// webhook gates) in `ReleaseController+External.swift`.
///
/// A new version never gets traffic by itself: the first time the router learns a model's versions with nothing
/// pinned, it pins the newest one; later versions wait for a rollout or an explicit pin.
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
        /// The router that judges the rollout or comparison.
        var owner = ""
        /// The A/B comparison running, or the last one.
        var experiment: Experiment?
        /// Whether the comparison's named winner has been announced.
        var winnerAnnounced = false
        var stable = ArmWindow()
        var candidate = ArmWindow()
        /// The metric gates' latest values in this window.
        var metrics: [String: Double] = [:]
        /// The analysis window's number: it changes whenever the windows restart, so that answers and labels that
        /// arrive late for an earlier window are not counted in this one.
        var window = 0

        mutating func restartWindows() {
            self.stable = ArmWindow()
            self.candidate = ArmWindow()
            self.metrics = [:]
            self.window += 1
        }
    }

    /// What ``status`` reports of one model.
    public struct ModelStatus: Sendable {
        public var model: String
        public var split: TrafficSplit
        /// The running rollout, or the last one.
        public var rollout: Rollout?
        public var stable: ArmWindow
        public var candidate: ArmWindow
        /// The metric gates' latest values in this window.
        public var metrics: [String: Double]
        /// The versions the inference instances serve, when known.
        public var versions: [String]?
    }

    let models: Mutex<[String: ModelState]>
    let store: ReleaseStore?
    let identity: String
    let tick: Duration
    let logger: Logger
    let metrics = ReleaseMetrics()
    let shadowsInFlight = Atomic<Int>(0)
    /// What each recent rollout or comparison request was answered, for labels that come back later.
    let answers = Mutex(AnswerLog(capacity: ReleaseController.answersRemembered))
    /// The router this one follows, if any.
    let leader: (any Upstream)?
    /// The state document's `updated` as last read or written here.
    let seen = Mutex<Double>(0)
    /// Whether evidence was recorded since the state was last written.
    let evidenceChanged = Atomic<Bool>(false)
    /// Held while the state is taken and written, so that writes from the ticks and from commands neither share the
    /// temporary file nor land out of order.
    let writing = Mutex(())
    /// For metric gates, webhook gates and notifications; `nil`: none of them can run.
    let http: (any ReleaseHTTP)?
    let notifier: ReleaseNotifier
    /// The Prometheus server of metric gates that name none.
    let prometheus: String?
    /// The versions of a model the inference instances serve (ascending), or `nil` while unknown.
    let versions: (@Sendable (String) -> [String]?)?
    /// Versions already announced as waiting for a rollout, as `model/version`.
    let announced = Mutex<Set<String>>([])
    /// Network work in flight (`metrics/MODEL`, `confirm/MODEL`), at most one of each kind per model.
    let external = Mutex<Set<String>>([])
    /// Shadow calls at once; more are skipped, so that scoring never piles up behind a slow version.
    public static let maxShadowsInFlight = 32
    /// Requests remembered for labels that come back later.
    public static let answersRemembered = 100_000

    /// Makes a controller for `models`, reading the state file if there is one.
    /// - Parameters:
    ///   - models: the models the router serves.
    ///   - stateDirectory: where `releases.json` lives; `nil` keeps state in memory only.
    ///   - identity: this router's name, recorded as the owner of the rollouts it starts.
    ///   - tick: how often rollouts are judged and the file re-read.
    ///   - leader: another router whose release state this one follows (over the wire, every tick) instead of
    ///     deciding anything itself; for routers on other VMs that share no directory.
    ///   - http: for metric gates, webhook gates and notifications.
    ///   - notify: URLs every decision is POSTed to (Slack-compatible JSON).
    ///   - prometheus: the Prometheus server (`http://host:9090`) of metric gates that name none.
    ///   - versions: the versions of a model the inference instances serve, ascending (`nil` while unknown); with
    ///     it, a model with nothing pinned gets its newest version pinned, so that later ones wait for a rollout.
    ///   - logger: every decision is logged at notice level.
    /// - Throws: `RouterError` when the state directory cannot be made or the file cannot be read.
    public init(
        models: [String],
        stateDirectory: String?,
        identity: String,
        tick: Duration = .seconds(1),
        leader: (any Upstream)? = nil,
        http: (any ReleaseHTTP)? = nil,
        notify: [String] = [],
        prometheus: String? = nil,
        versions: (@Sendable (String) -> [String]?)? = nil,
        logger: Logger
    ) throws(RouterError) {
        self.leader = leader
        self.identity = identity
        self.tick = tick
        self.logger = logger
        self.http = http
        self.prometheus = prometheus
        self.versions = versions
        self.notifier = ReleaseNotifier(urls: notify, http: http, router: identity, logger: logger)
        var states = Dictionary(uniqueKeysWithValues: models.map { ($0, ModelState(split: TrafficSplit(stable: ""))) })
        if let stateDirectory {
            let store = try ReleaseStore(directory: stateDirectory)
            self.store = store
            if let stored = try store.read() {
                Self.adopt(stored, into: &states, identity: identity, restoring: true)
                self.seen.withLock { $0 = stored.updated }
                for (model, state) in states where state.rollout?.isActive == true {
                    logger.notice(
                        "rollout resumed",
                        metadata: [
                            "model": "\(model)", "step": "\(state.rollout!.step + 1)",
                            "weight": "\(state.split.candidatePercent)%", "owner": "\(state.owner)",
                            "evidence.requests": "\(state.candidate.requests)",
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
    ///   - parameter: looks up a request parameter (`version.tag`, the testers' rules).
    public func route(model: String, routingKey: String, parameter: (String) -> String? = { _ in nil }) -> Route {
        var random = SystemRandomNumberGenerator()
        return self.models.withLock {
            ReleasePolicy.route($0[model], routingKey: routingKey, parameter: parameter, using: &random)
        }
    }

    /// Counts a finished request of a measured arm.
    /// - Parameters:
    ///   - model: the model.
    ///   - arm: the side of the rollout that answered.
    ///   - ok: whether it succeeded.
    ///   - latency: the version's run time.
    ///   - window: the analysis window the request was routed in; a request of an earlier one is not counted.
    public func record(model: String, arm: Arm, ok: Bool, latency: Duration, window: Int? = nil) {
        self.models.withLock { models in
            guard models[model] != nil, window == nil || models[model]!.window == window else { return }
            switch arm {
            case .stable: models[model]!.stable.record(ok: ok, latency: latency)
            case .candidate: models[model]!.candidate.record(ok: ok, latency: latency)
            }
        }
        self.evidenceChanged.store(true, ordering: .relaxed)
    }

    /// Keeps a rollout answer's classes: for the drift of each version's predictions, and for its label later.
    /// - Parameters:
    ///   - model: the model.
    ///   - requestID: the id the answer carries (`request.id`).
    ///   - route: how the request was routed.
    ///   - outputs: the inference stage's outputs.
    public func remember(model: String, requestID: String, route: Route, outputs: [NamedTensor]) {
        guard let arm = route.arm, let classes = OutputComparison.classes(outputs), let first = classes.first else {
            return
        }
        let label = self.answers.withLock {
            $0.record(
                requestID,
                model: model,
                release: .rollout(window: route.window),
                tested: arm == .candidate,
                top1: first
            )
        }
        self.models.withLock { models in
            guard models[model]?.window == route.window else { return }
            switch arm {
            case .stable:
                models[model]!.stable.recordPredictions(classes)
                if let label { models[model]!.stable.recordLabel(correct: label == first) }
            case .candidate:
                models[model]!.candidate.recordPredictions(classes)
                if let label { models[model]!.candidate.recordLabel(correct: label == first) }
            }
        }
    }

    // MARK: Administration

    /// Starts a rollout of `candidate` for `model`.
    /// - Throws: `RouterError` (`unknownModel`, `conflict` when one runs, `invalidArgument` for a bad plan).
    public func start(
        model: String,
        candidate: String,
        stable: String?,
        plan: RolloutPlan
    ) throws(RouterError) -> Rollout {
        if let problem = plan.problem {
            throw RouterError(.invalidArgument, "the rollout plan is not valid: \(problem)")
        }
        if self.http == nil, !plan.gates.webhooks.isEmpty || !plan.gates.metrics.isEmpty || !plan.notify.isEmpty {
            throw RouterError(.invalidArgument, "this router has no HTTP client for webhook and metric gates")
        }
        if !plan.gates.metrics.isEmpty, self.prometheus == nil,
            let metric = plan.gates.metrics.first(where: { $0.address == nil })
        {
            throw RouterError(
                .invalidArgument,
                "metric gate '\(metric.name)' names no Prometheus server and the router has none (--prometheus)"
            )
        }
        let now = Date().timeIntervalSince1970
        let rollout = try self.models.withLock { models throws(RouterError) -> Rollout in
            guard let state = models[model] else {
                throw RouterError(.unknownModel, "no model '\(model)' on this router")
            }
            if let running = state.rollout, running.isActive {
                throw RouterError(
                    .conflict,
                    "a rollout of \(model) to \(running.candidate) is already \(running.phase.rawValue); "
                        + "promote or abort it first"
                )
            }
            if let running = state.experiment, running.isRunning {
                throw RouterError(
                    .conflict,
                    "a comparison of \(running.champion) and \(running.challenger) runs; stop it first"
                )
            }
            let stable = stable ?? state.split.stable
            guard !stable.isEmpty else {
                throw RouterError(
                    .invalidArgument,
                    "name the stable version of \(model) (nothing is pinned yet, so the router cannot tell which one "
                        + "serves now)"
                )
            }
            guard stable != candidate else {
                throw RouterError(.invalidArgument, "the candidate is the stable version (\(stable))")
            }
            let rollout = Rollout(model: model, stable: stable, candidate: candidate, plan: plan, now: now)
            models[model]!.rollout = rollout
            models[model]!.split = rollout.split
            models[model]!.owner = self.identity
            models[model]!.restartWindows()
            return rollout
        }
        self.logger.notice(
            "rollout started",
            metadata: ["model": "\(model)", "candidate": "\(candidate)", "stable": "\(rollout.stable)"]
        )
        self.announce(rollout, event: "rollout.started")
        try self.persist()
        return rollout
    }

    /// An operator's action on the model's rollout.
    public enum Action: String, Sendable, CaseIterable { case pause, resume, promote, abort, approve }

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
                case .approve: rollout.approve(now: now)
                }
            guard changed else {
                let hint = action == .approve ? " (only a rollout waiting at a pause can be approved)" : ""
                throw RouterError(
                    .conflict,
                    "cannot \(action.rawValue) a rollout that is \(rollout.phase.rawValue)\(hint)"
                )
            }
            models[model]!.rollout = rollout
            models[model]!.split = rollout.split
            models[model]!.restartWindows()
            return rollout
        }
        self.logger.notice("rollout \(action.rawValue)", metadata: ["model": "\(model)", "by": "operator"])
        self.announce(rollout, event: "rollout.\(action.rawValue)")
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
            if let experiment = models[model]?.experiment, experiment.isRunning {
                throw RouterError(.conflict, "a comparison of \(model) runs; stop it first")
            }
            models[model]!.split = TrafficSplit(stable: version)
        }
        self.logger.notice(
            "version pinned",
            metadata: ["model": "\(model)", "version": "\(version)", "by": "operator"]
        )
        self.notifier.post(
            ReleaseNotifier.Event(
                model: model,
                kind: "release.pinned",
                message: "\(model): \(version) pinned by an operator"
            )
        )
        try self.persist()
    }

    /// Each model's rollout (the last one, if it ended), current split and windows.
    public var status: [ModelStatus] {
        let states = self.models.withLock { $0 }
        return states.keys.sorted().map { model in
            let state = states[model]!
            return ModelStatus(
                model: model,
                split: state.split,
                rollout: state.rollout,
                stable: state.stable,
                candidate: state.candidate,
                metrics: state.metrics,
                versions: self.versions?(model)
            )
        }
    }

    // MARK: Judging

    /// Judges every running rollout this router owns once (see ``Rollout/evaluate(stable:candidate:metrics:now:)``)
    /// and every split comparison's guardrail, and persists changes.
    /// - Parameter now: the time, in seconds since 1970.
    public func evaluate(now: Double) {
        let decisions = self.models.withLock { models -> [Rollout] in
            var decisions: [Rollout] = []
            for model in models.keys {
                guard var state = models[model], state.owner == self.identity, var rollout = state.rollout,
                    rollout.isActive
                else { continue }
                let before = (rollout.step, rollout.phase)
                guard
                    rollout.evaluate(stable: state.stable, candidate: state.candidate, metrics: state.metrics, now: now)
                else { continue }
                state.rollout = rollout
                state.split = rollout.split
                // a new step or phase starts a new window; a note (holding, asking the webhook gates) keeps it
                if before != (rollout.step, rollout.phase) { state.restartWindows() }
                models[model] = state
                decisions.append(rollout)
            }
            return decisions
        }
        for rollout in decisions { self.decided(rollout) }
        let comparisons = self.judgeExperiments(now: now)
        if !decisions.isEmpty || comparisons {
            do {
                try self.persist()
            } catch {
                self.logger.error("cannot write the release state", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Logs and announces a rollout's latest decision.
    func decided(_ rollout: Rollout) {
        self.logger.notice(
            "rollout decision",
            metadata: [
                "model": "\(rollout.model)", "phase": "\(rollout.phase.rawValue)",
                "decision": "\(rollout.history.last?.message ?? "")",
            ]
        )
        let event =
            switch rollout.phase {
            case .rolledBack: "rollout.rolled_back"
            case .promoted: "rollout.promoted"
            case .waiting: "rollout.waiting"
            default: rollout.needsConfirmation ? "rollout.confirming" : "rollout.step"
            }
        self.announce(rollout, event: event)
    }

    /// POSTs a rollout's latest decision to the router's webhooks and the plan's.
    func announce(_ rollout: Rollout, event: String) {
        let message = rollout.history.last?.message ?? rollout.phase.rawValue
        self.notifier.post(
            ReleaseNotifier.Event(
                model: rollout.model,
                kind: event,
                message: "\(rollout.model): \(message)",
                phase: rollout.phase.rawValue,
                stable: rollout.stable,
                candidate: rollout.candidate,
                weight: rollout.split.candidatePercent,
                reason: rollout.reason
            ),
            also: rollout.plan.notify
        )
    }

    /// Judges rollouts every tick until graceful shutdown or cancellation (or, following a leader, adopts its state);
    /// posts notifications meanwhile.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.notifier.run() }
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { work in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.tick)
                        if Task.isCancelled { break }
                        if let leader = self.leader {
                            await self.follow(leader)
                            continue
                        }
                        self.followStore()
                        self.pinNewestWhereNothingIsPinned()
                        self.startExternalWork(in: &work, now: Date().timeIntervalSince1970)
                        self.evaluate(now: Date().timeIntervalSince1970)
                        self.persistEvidence()
                    }
                    work.cancelAll()
                }
            }
            self.persistEvidence()
            self.notifier.finish()
        }
    }

    /// The safe default: a model with nothing pinned and nothing running gets the newest version the inference
    /// instances serve pinned, the first time the router learns them; a version that appears later waits (and is
    /// announced once) until a rollout starts or someone pins it.
    func pinNewestWhereNothingIsPinned() {
        guard let versions = self.versions else { return }
        var pinned: [(String, String)] = []
        var waiting: [(String, String, String)] = []
        self.models.withLock { models in
            for model in models.keys {
                guard let known = versions(model), let newest = known.last else { continue }
                let state = models[model]!
                let busy = state.rollout?.isActive == true || state.experiment?.isRunning == true
                if state.split.stable.isEmpty, !busy {
                    models[model]!.split = TrafficSplit(stable: newest)
                    pinned.append((model, newest))
                    continue
                }
                let stable = state.split.stable
                let serving = Set([stable, state.split.candidate ?? ""])
                for version in known where !serving.contains(version) && Self.isNewer(version, than: stable) {
                    waiting.append((model, version, stable))
                }
            }
        }
        for (model, version) in pinned {
            self.announced.withLock { _ = $0.insert("\(model)/\(version)") }
            self.logger.notice(
                "version pinned",
                metadata: [
                    "model": "\(model)", "version": "\(version)",
                    "reason":
                        "the newest version served when the router first saw the model; later ones wait for a rollout",
                ]
            )
            self.notifier.post(
                ReleaseNotifier.Event(
                    model: model,
                    kind: "release.pinned",
                    message: "\(model): \(version) pinned (the newest version served); new versions wait for a rollout"
                )
            )
        }
        for (model, version, stable) in waiting
        where self.announced.withLock({ $0.insert("\(model)/\(version)").inserted }) {
            self.logger.notice(
                "new version waits for a rollout",
                metadata: ["model": "\(model)", "version": "\(version)", "stable": "\(stable)"]
            )
            self.notifier.post(
                ReleaseNotifier.Event(
                    model: model,
                    kind: "release.version_waiting",
                    message: "\(model): version \(version) is served by the inference instances and gets no traffic "
                        + "until a rollout starts (stable: \(stable))"
                )
            )
        }
        if !pinned.isEmpty {
            do {
                try self.persist()
            } catch {
                self.logger.error("cannot write the release state", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Version order: numbers by value, other names after them by text.
    static func isNewer(_ version: String, than other: String) -> Bool {
        switch (Int(version), Int(other)) {
        case (let a?, let b?): a > b
        case (nil, .some): true
        case (.some, nil): false
        case (nil, nil): version > other
        }
    }

    // MARK: State

    /// Takes a document's rollouts, splits and comparisons; windows restart where the split changed. Evidence is
    /// taken only when `restoring` (this router's own state after a restart), for the models it owns: another
    /// router's copy of this one's evidence is older than its own.
    static func adopt(
        _ stored: ReleaseStore.Document,
        into states: inout [String: ModelState],
        identity: String,
        restoring: Bool
    ) {
        for model in states.keys {
            var state = states[model]!
            let split = stored.rollouts[model]?.split ?? stored.splits[model] ?? state.split
            if split != state.split { state.restartWindows() }
            state.split = split
            state.rollout = stored.rollouts[model] ?? state.rollout
            state.owner = stored.owners[model] ?? state.owner
            if restoring || state.owner != identity, let experiment = stored.experiments?[model] {
                state.experiment = experiment
                state.winnerAnnounced = restoring || state.winnerAnnounced
            }
            if restoring, state.owner == identity, let evidence = stored.evidence?[model] {
                state.stable = evidence.stable
                state.candidate = evidence.candidate
                state.metrics = evidence.metrics
                state.window = evidence.window
            }
            states[model] = state
        }
    }

    /// The release state as a document, stamped now by this router.
    func document() -> ReleaseStore.Document {
        self.models.withLock { models in
            ReleaseStore.Document(
                writer: self.identity,
                updated: Date().timeIntervalSince1970,
                rollouts: models.compactMapValues(\.rollout),
                splits: models.mapValues(\.split),
                owners: models.compactMapValues { $0.owner.isEmpty ? nil : $0.owner },
                evidence: models.compactMapValues { state in
                    guard state.owner == self.identity, state.rollout?.isActive == true else { return nil }
                    return ReleaseStore.Evidence(
                        stable: state.stable,
                        candidate: state.candidate,
                        metrics: state.metrics,
                        window: state.window
                    )
                },
                experiments: models.compactMapValues(\.experiment)
            )
        }
    }

    /// Publishes each model's split and rollout phase as metrics.
    func publish() {
        let models = self.models.withLock { models in
            models.mapValues {
                ReleaseMetrics.Model(
                    split: $0.split,
                    phase: $0.rollout?.phase,
                    decision: $0.rollout?.history.last?.message
                )
            }
        }
        self.metrics.publish(models)
    }

    /// Publishes and writes the state after a decision.
    /// - Throws: `RouterError.stateUnwritable`.
    func persist() throws(RouterError) {
        self.publish()
        guard let store = self.store else { return }
        try self.writing.withLock { _ throws(RouterError) in
            self.evidenceChanged.store(false, ordering: .relaxed)
            let document = self.document()
            self.seen.withLock { $0 = max($0, document.updated) }
            try store.write(document)
        }
    }

    /// Writes the state when a rollout or comparison this router owns gathered evidence since the last write, so
    /// that a restart loses at most a tick of it.
    func persistEvidence() {
        guard self.store != nil, self.evidenceChanged.load(ordering: .relaxed) else { return }
        let owns = self.models.withLock { models in
            models.values.contains {
                $0.owner == self.identity && ($0.rollout?.isActive == true || $0.experiment?.isRunning == true)
            }
        }
        guard owns else {
            self.evidenceChanged.store(false, ordering: .relaxed)
            return
        }
        do {
            try self.persist()
        } catch {
            self.logger.error("cannot write the release state", metadata: ["error": "\(error)"])
        }
    }
}
