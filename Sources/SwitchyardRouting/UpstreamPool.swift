public import Logging
public import SwitchyardWire
internal import Synchronization

/// Several instances of one service behind one ``Upstream``: power-of-two-choices load balancing on requests in
/// flight, passive outlier ejection (Envoy's defaults), a hook for active health checks, and retries of
/// idempotent requests on another instance within a retry budget and the request's deadline.
///
/// Membership changes while it serves: ``add(_:awaitingHealthCheck:)`` admits an instance after its first passing
/// health check with a share that rises over the slow-start window; ``drain(_:)`` stops new requests to one;
/// ``remove(_:)`` drains one and lets it go when its requests in flight have finished (``init``'s `onRemoved` is
/// told, to close its connections).
public final class UpstreamPool<C: Clock<Duration>>: Upstream, Sendable {
    /// One instance of the pool.
    public struct Member: Sendable {
        /// A stable name for logs, metrics and health reports, e.g. `inference-2` or `10.0.0.7:7001`.
        public var id: String
        /// How to call it.
        public var upstream: any Upstream

        /// Names an instance.
        /// - Parameters:
        ///   - id: a stable name, unique in the pool.
        ///   - upstream: how to call it.
        public init(id: String, upstream: any Upstream) {
            self.id = id
            self.upstream = upstream
        }
    }

    private struct State: ~Copyable {
        var machine: StateMachine { didSet { self.limitCache = nil } }
        var upstreams: [String: any Upstream]
        var random = SplitMix64()
        var predictors = AttemptPredictors()
        var limits: InstanceConcurrencyLimits<C.Instant> { didSet { self.limitCache = nil } }
        /// ``concurrencyLimit`` as last computed and until when it holds (an ejection ending; `nil`: until the
        /// instances or limits change): batchers ask it for every request.
        var limitCache: (limit: Int?, until: C.Instant?)? = nil

        /// The removed instances' upstreams (and concurrency limits) leave with them.
        mutating func forget(_ events: [StateMachine.Event]) -> [Member] {
            events.compactMap { event in
                guard case .removed(let id) = event, let upstream = self.upstreams.removeValue(forKey: id) else {
                    return nil
                }
                self.limits.forget(id)
                return Member(id: id, upstream: upstream)
            }
        }
    }

    private let state: Mutex<State>
    private let clock: C
    private let logger: Logger
    private let metrics: PoolMetrics
    private let onRemoved: (@Sendable (Member) -> Void)?
    /// Where per-try timers run when the clock is the continuous one; `nil`: `clock.sleep`.
    private let wakeUps: (any WakeUpScheduler)?
    private let troubleObservers = Mutex<[@Sendable () -> Void]>([])

    /// Makes a pool.
    /// - Parameters:
    ///   - members: the instances; ids should be unique.
    ///   - configuration: ejection and retry limits.
    ///   - clock: the time source for ejections and deadlines.
    ///   - logger: for ejections and re-admissions (debug level).
    ///   - metricDimensions: labels of the pool's metrics (`switchyard_upstream_*`), e.g. `[("stage", "inference")]`.
    ///   - onRemoved: told when a removed instance has left (its last request finished), to close it.
    ///   - wakeUps: where the per-try timers run (e.g. the router's event loop: no timer thread, no hop back);
    ///     used only with the continuous clock; `nil`: `clock.sleep`.
    public init(
        members: [Member],
        configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(),
        clock: C,
        logger: Logger = Logger(label: "switchyard.pool"),
        metricDimensions: [(String, String)] = [],
        onRemoved: (@Sendable (Member) -> Void)? = nil,
        wakeUps: (any WakeUpScheduler)? = nil
    ) {
        self.wakeUps = C.self == ContinuousClock.self ? wakeUps : nil
        self.metrics = PoolMetrics(dimensions: metricDimensions)
        self.state = Mutex(
            State(
                machine: StateMachine(instanceIDs: members.map(\.id), configuration: configuration),
                upstreams: Dictionary(members.map { ($0.id, $0.upstream) }, uniquingKeysWith: { first, _ in first }),
                limits: InstanceConcurrencyLimits(configuration: configuration.adaptiveConcurrency)
            )
        )
        self.clock = clock
        self.logger = logger
        self.onRemoved = onRemoved
    }

    /// The instances now, in the order they joined (draining ones included, until they leave).
    public var members: [Member] {
        self.state.withLock { state in
            state.machine.instances.compactMap { instance in
                state.upstreams[instance.id].map { Member(id: instance.id, upstream: $0) }
            }
        }
    }

    /// Adds an instance while the pool serves; an instance already in the pool stops draining instead.
    /// - Parameters:
    ///   - member: the instance.
    ///   - awaitingHealthCheck: it gets requests only after its first passing health check (``reportHealth``),
    ///     unless no other instance can take them, and then a share rising over the slow-start window.
    /// - Returns: whether it is new.
    @discardableResult
    public func add(_ member: Member, awaitingHealthCheck: Bool = true) -> Bool {
        let added = self.state.withLock { state in
            let added = state.machine.add(member.id, awaitingHealthCheck: awaitingHealthCheck)
            if added { state.upstreams[member.id] = member.upstream }
            return added
        }
        self.logger.debug(
            added ? "instance added" : "instance no longer draining",
            metadata: ["instance": "\(member.id)"]
        )
        return added
    }

    /// Stops new requests to an instance; those in flight finish. It stays in the pool (``add`` takes it back).
    /// - Parameter id: the instance's id.
    /// - Returns: whether the pool has it.
    @discardableResult
    public func drain(_ id: String) -> Bool {
        let found = self.state.withLock { $0.machine.drain(id) }
        if found { self.logger.debug("instance draining", metadata: ["instance": "\(id)"]) }
        return found
    }

    /// Drains an instance and takes it out of the pool when its requests in flight have finished.
    /// - Parameter id: the instance's id.
    /// - Returns: whether the pool had it.
    @discardableResult
    public func remove(_ id: String) -> Bool {
        let (found, gone) = self.state.withLock { state -> (Bool, [Member]) in
            guard let events = state.machine.remove(id) else { return (false, []) }
            return (true, state.forget(events))
        }
        self.left(gone)
        return found
    }

    private func left(_ members: [Member]) {
        for member in members {
            self.logger.debug("instance removed", metadata: ["instance": "\(member.id)"])
            self.metrics.forget(member.id)
            self.onRemoved?(member)
        }
    }

    /// Calls one instance; retries on another one, and hedges an attempt that outlives its per-try timeout.
    ///
    /// A failed attempt is retried on another instance when the request never reached the instance's handler (no
    /// connection, or above a draining server's GOAWAY: any request), or, for an idempotent request, when the answer
    /// is `unavailable` or `resource exhausted`. An idempotent request whose attempt outlives the per-try timeout
    /// (derived from the predicted execution time of requests like it) gets a second attempt on another instance,
    /// and the first answer wins. Retries and hedges stay within the retry budget, `maxRetries` and the deadline.
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: when the caller stops waiting; no retry starts after it.
    /// - Returns: the first answer that is not retried.
    /// - Throws: the last attempt's error; `RoutingError.noInstance` for an empty or wholly drained pool.
    @_specialize(exported:false,where C == ContinuousClock)
    public func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        // specialized for the router's clock: callers in other modules (and batchers, through `any Upstream`) would
        // otherwise run it as generic code, which looks up the metadata of its generic types on every call
        let localDeadline = deadline.map { self.clock.now.advanced(by: ContinuousClock.now.duration(to: $0)) }
        self.state.withLock { $0.machine.beginRequest() }
        defer { self.state.withLock { $0.machine.endRequest() } }
        let key = PredictionKey(request)
        let perTry = self.perTryTimeout(for: key)
        let result: Result<Response, any Error> = await withDiscardingTaskGroup { group in
            var run = Run(request: request, deadline: deadline, localDeadline: localDeadline, perTry: perTry)
            defer {
                for cancel in run.timers { cancel() }
                group.cancelAll()  // the per-try timers, and an attempt a hedge beat
                self.abandon(&run)
            }
            if let refusal = self.start(&run, in: &group, isRetry: false) { return .failure(refusal) }
            // every path that waits again leaves an attempt running, whose end is posted
            while true {
                switch await run.events.next() {
                case .answered(let number, let response):
                    run.attempts[number].done = true
                    let attempt = run.attempts[number]
                    let elapsed = attempt.started.duration(to: self.clock.now)
                    self.metrics.recordAttempt(id: attempt.instance, code: nil)
                    // even a late answer shows the instance alive (a hung one never answers)
                    self.finish(attempt.instance, isRetry: attempt.isRetry, outcome: .answered) { state, now in
                        if !attempt.timedOut { state.predictors.observe(key, duration: elapsed) }
                        // a late answer too: it shows how slow the instance is
                        state.limits.answered(
                            attempt.instance,
                            kind: key.target.hashValue,
                            rows: key.rows,
                            latency: elapsed,
                            now: now
                        )
                        return false
                    }
                    return .success(response)
                case .failed(let number, let error):
                    run.attempts[number].done = true
                    run.lastError = error
                    if let failure = self.failed(&run, number, error, in: &group) { return .failure(failure) }
                case .perTryTimeout(let number):
                    self.timedOut(&run, number, in: &group)
                }
            }
        }
        return try result.get()
    }

    /// One request's attempts.
    private struct Run {
        struct Attempt {
            var instance: String
            var upstream: any Upstream
            var started: C.Instant
            var isRetry: Bool
            var timedOut = false
            var done = false
        }
        let request: Request
        let deadline: ContinuousClock.Instant?
        let localDeadline: C.Instant?
        let perTry: Duration
        var attempts: [Attempt] = []
        var tried = Set<String>()  // by id: indices move when instances leave
        var lastError: (any Error)? = nil
        /// Where the attempts and the per-try timers post.
        let events = AttemptEvents()
        /// Cancels the per-try timers set as wake-ups (those on the clock are child tasks, cancelled with the group).
        var timers: [@Sendable () -> Void] = []
        var running: Int { self.attempts.filter { !$0.done }.count }
    }

    /// Starts an attempt, on an instance this request has not tried when there is one, with its per-try timer.
    /// - Returns: `nil`, or why no attempt could start.
    private func start(_ run: inout Run, in group: inout DiscardingTaskGroup, isRetry: Bool) -> (any Error)? {
        let (picked, events, count) = self.state.withLock {
            state -> ((String, any Upstream)?, [StateMachine.Event], Int) in
            // the exclusions are asked per instance, so a pick builds no list
            let upstreams = state.upstreams
            let tried = run.tried
            var random = state.random  // a copy: `machine` and `random` cannot both be accessed at once
            let (index, events) = state.machine.pick(
                excluding: { _, instance in !tried.isEmpty && tried.contains(instance.id) },
                goingAway: { _, instance in upstreams[instance.id]?.isDraining ?? false },
                now: self.clock.now,
                using: &random
            )
            state.random = random
            let count = state.machine.instances.count
            guard let index else { return (nil, events, count) }
            let id = state.machine.instances[index].id
            return ((id, state.upstreams[id]!), events, count)
        }
        self.log(events)
        guard let (id, upstream) = picked else {
            return RoutingError(
                .noInstance,
                count == 0 ? "the pool has no instances" : "every instance of the pool is draining"
            )
        }
        run.tried.insert(id)
        let number = run.attempts.count
        let now = self.clock.now
        run.attempts.append(Run.Attempt(instance: id, upstream: upstream, started: now, isRetry: isRetry))
        let request = run.request
        let deadline = run.deadline
        let mailbox = run.events
        group.addTask {
            do {
                mailbox.post(.answered(number, try await upstream.call(request, deadline: deadline)))
            } catch {
                mailbox.post(.failed(number, error))
            }
        }
        self.arm(&run, number, at: now.advanced(by: run.perTry), in: &group)
        return nil
    }

    /// Starts attempt `number`'s per-try timer, unless it would end after the deadline.
    private func arm(_ run: inout Run, _ number: Int, at timeoutAt: C.Instant, in group: inout DiscardingTaskGroup) {
        guard run.localDeadline.map({ timeoutAt < $0 }) ?? true else { return }
        let events = run.events
        if let wakeUps = self.wakeUps {
            let delay = self.clock.now.duration(to: timeoutAt)
            run.timers.append(wakeUps.scheduleWakeUp(after: delay) { events.post(.perTryTimeout(number)) })
            return
        }
        let clock = self.clock
        group.addTask {
            do {
                try await clock.sleep(until: timeoutAt, tolerance: nil)
                events.post(.perTryTimeout(number))
            } catch {
                return  // the call ended first
            }
        }
    }

    /// Books a failed attempt; starts a retry when one is allowed.
    /// - Returns: the error to throw when nothing is left running, else `nil`.
    private func failed(
        _ run: inout Run,
        _ number: Int,
        _ error: any Error,
        in group: inout DiscardingTaskGroup
    ) -> (any Error)? {
        let attempt = run.attempts[number]
        let status = RoutingError.status(for: error)
        let notProcessed = (error as? any StatusConvertible)?.requestWasNotProcessed ?? false
        self.metrics.recordAttempt(id: attempt.instance, code: status.code)
        // a going-away instance's refusals are no failures: the pool takes it out of rotation instead
        let outcome = attempt.upstream.isDraining ? .neutral : StateMachine.Outcome(status.code)
        let retryable =
            notProcessed
            || (run.request.idempotent && (status.code == .unavailable || status.code == .resourceExhausted))
        let running = run.running
        let retriesSoFar = run.attempts.count - 1
        let localDeadline = run.localDeadline
        let retry = self.finish(attempt.instance, isRetry: attempt.isRetry, outcome: outcome) { state, now in
            if status.code == .resourceExhausted { state.limits.dropped(attempt.instance, now: now) }
            // while another attempt (a hedge, or the one it hedged) runs, wait for it rather than start a third
            guard retryable, running == 0, !Task.isCancelled else { return false }
            return state.machine.beginRetry(retriesSoFar: retriesSoFar, deadline: localDeadline, now: now)
        }
        if retry {
            self.logger.debug(
                "retrying on another instance",
                metadata: [
                    "instance": "\(attempt.instance)", "status": "\(status.code)", "retry": "\(run.attempts.count)",
                    "not_processed": "\(notProcessed)",
                ]
            )
            self.metrics.recordRetry()
            guard self.start(&run, in: &group, isRetry: true) != nil else { return nil }
            self.state.withLock { $0.machine.endRetry() }
        }
        return run.running == 0 ? error : nil
    }

    /// An attempt outlived its per-try timeout: counts against its instance (once), and an idempotent request is
    /// hedged on another instance. A hedge the retry budget refuses now is asked for again a quarter of the per-try
    /// timeout later (other hedges end and give their share back), so that a hung instance strands no request.
    private func timedOut(_ run: inout Run, _ number: Int, in group: inout DiscardingTaskGroup) {
        guard !run.attempts[number].done else { return }
        let firstTime = !run.attempts[number].timedOut
        run.attempts[number].timedOut = true
        let id = run.attempts[number].instance
        let retriesSoFar = run.attempts.count - 1
        let localDeadline = run.localDeadline
        let idempotent = run.request.idempotent
        let (hedge, allowed, events) = self.state.withLock { state -> (Bool, Bool, [StateMachine.Event]) in
            let now = self.clock.now
            var events: [StateMachine.Event] = []
            if firstTime, let index = state.machine.index(of: id) {
                events = state.machine.timedOut(instance: index, now: now)
                state.limits.dropped(id, now: now)
            }
            let configuration = state.machine.configuration
            guard idempotent, configuration.hedgeOnPerTryTimeout, retriesSoFar < configuration.maxRetries,
                !Task.isCancelled
            else { return (false, false, events) }
            return (
                true, state.machine.beginRetry(retriesSoFar: retriesSoFar, deadline: localDeadline, now: now), events
            )
        }
        self.log(events)
        if firstTime { self.metrics.recordPerTryTimeout() }
        guard hedge else { return }
        guard allowed else {
            let later = max(run.perTry / 4, .milliseconds(5))
            return self.arm(&run, number, at: self.clock.now.advanced(by: later), in: &group)
        }
        self.logger.debug(
            "hedging on another instance",
            metadata: ["instance": "\(id)", "per_try_timeout": "\(run.perTry)"]
        )
        self.metrics.recordRetry()
        if self.start(&run, in: &group, isRetry: true) != nil { self.state.withLock { $0.machine.endRetry() } }
    }

    /// Attempts still running when the request ended (a hedge won, or the caller left) end without a verdict.
    private func abandon(_ run: inout Run) {
        for number in run.attempts.indices where !run.attempts[number].done {
            run.attempts[number].done = true
            self.finish(run.attempts[number].instance, isRetry: run.attempts[number].isRetry, outcome: .neutral)
        }
    }

    /// The per-try timeout an attempt of `request` gets now.
    func perTryTimeout(for request: Request) -> Duration { self.perTryTimeout(for: PredictionKey(request)) }

    /// The per-try timeout for requests like this one: fixed, or a multiple of their predicted execution time
    /// (a second before any was answered).
    private func perTryTimeout(for key: PredictionKey) -> Duration {
        self.state.withLock { state in
            let configuration = state.machine.configuration
            if let fixed = configuration.perTryTimeout { return fixed }
            guard let predicted = state.predictors.predict(key) else {
                return max(configuration.minimumPerTryTimeout, .seconds(1))
            }
            return max(configuration.minimumPerTryTimeout, predicted * configuration.perTryTimeoutMultiplier)
        }
    }

    /// Ends an attempt on `id`; `then` runs under the same lock (the retry decision).
    @discardableResult
    private func finish(
        _ id: String,
        isRetry: Bool,
        outcome: StateMachine.Outcome,
        then: (inout State, C.Instant) -> Bool = { _, _ in false }
    ) -> Bool {
        let (result, events, gone) = self.state.withLock { state -> (Bool, [StateMachine.Event], [Member]) in
            if isRetry { state.machine.endRetry() }
            let now = self.clock.now
            var events: [StateMachine.Event] = []
            if let index = state.machine.index(of: id) {
                events = state.machine.finish(instance: index, outcome: outcome, now: now)
            }
            let gone = state.forget(events)
            return (then(&state, now), events, gone)
        }
        self.log(events)
        self.left(gone)
        return result
    }

    /// Tells `observer` each time an instance is ejected or fails an active health check (for discovery to look
    /// again whether its address moved).
    /// - Parameter observer: called outside the pool's lock; must not block.
    public func observeTrouble(_ observer: @escaping @Sendable () -> Void) {
        self.troubleObservers.withLock { $0.append(observer) }
    }

    private func troubled() {
        for observer in self.troubleObservers.withLock({ $0 }) { observer() }
    }

    /// Records the result of an active health check. A failing instance gets no traffic while a healthy one is
    /// left; an instance that passes is re-admitted at once if it had been ejected.
    /// - Parameters:
    ///   - instance: the member's id.
    ///   - healthy: whether the check passed.
    public func reportHealth(instance: String, healthy: Bool) {
        let events = self.state.withLock {
            $0.machine.reportHealth(instance: instance, healthy: healthy, now: self.clock.now)
        }
        self.log(events)
        if !healthy { self.troubled() }
    }

    /// Records a passed active health check: an ejected instance is re-admitted at once (one ejected for its
    /// refusals may never fail a check, so a change of verdict would never come).
    /// - Parameter instance: the member's id.
    public func healthCheckPassed(instance: String) {
        let events = self.state.withLock { $0.machine.checkPassed(instance: instance, now: self.clock.now) }
        self.log(events)
    }

    /// Whether an instance was added while the pool served and has not yet passed a health check.
    /// - Parameter id: the instance's id.
    public func isAwaitingHealthCheck(_ id: String) -> Bool {
        self.state.withLock { state in
            state.machine.index(of: id).map { state.machine.instances[$0].awaitingFirstCheck } ?? false
        }
    }

    /// Changes the ejection and retry limits.
    /// - Parameter configuration: the new limits.
    public func updateConfiguration(_ configuration: UpstreamPoolConfiguration) {
        self.state.withLock { state in
            state.machine.update(configuration: configuration)
            state.limits.update(configuration: configuration.adaptiveConcurrency)
        }
    }

    /// Attempts the pool takes in flight now: the sum of the adaptive concurrency limits of the instances in
    /// rotation (healthy, admitted, not draining; all that are not draining when none is, as the panic threshold
    /// routes to them), or `nil` when limits are off or no instance is left. A ``Batcher`` keeps its batches in flight
    /// within it, so that work beyond what the instances keep up with waits in its queue, where admission by
    /// queueing time sees it, and not at the instances.
    public var concurrencyLimit: Int? {
        self.state.withLock { state in
            guard state.limits.configuration != nil else { return nil }
            let now = self.clock.now
            if let cache = state.limitCache, cache.until.map({ now < $0 }) ?? true { return cache.limit }
            var inRotation = 0
            var notDraining = 0
            var until: C.Instant? = nil
            for instance in state.machine.instances where !instance.draining && !instance.removeWhenIdle {
                let limit = state.limits.limit(of: instance.id) ?? 0
                notDraining += limit
                let ejected = instance.ejectedUntil.map { now < $0 } ?? false
                if ejected, let end = instance.ejectedUntil { until = until.map { min($0, end) } ?? end }
                if !ejected, instance.healthy, !instance.awaitingFirstCheck { inRotation += limit }
            }
            let total = inRotation > 0 ? inRotation : notDraining
            let limit = total > 0 ? total : nil
            state.limitCache = (limit, until)
            return limit
        }
    }

    /// One entry per member, in order: load, health and ejection state.
    public var statistics: [UpstreamPoolInstanceStatistics] {
        self.state.withLock { state in
            let now = self.clock.now
            return state.machine.instances.indices.map { index in
                let instance = state.machine.instances[index]
                return UpstreamPoolInstanceStatistics(
                    id: instance.id,
                    inFlight: instance.inFlight,
                    consecutiveFailures: instance.consecutiveFailures,
                    ejections: instance.ejections,
                    ejected: instance.ejectedUntil.map { now < $0 } ?? false,
                    healthy: instance.healthy,
                    draining: instance.draining,
                    removing: instance.removeWhenIdle,
                    awaitingHealthCheck: instance.awaitingFirstCheck,
                    weight: state.machine.weight(of: index, now: now),
                    concurrencyLimit: state.limits.limit(of: instance.id)
                )
            }
        }
    }

    private func log(_ events: [StateMachine.Event]) {
        for event in events {
            switch event {
            case .ejected(let instance, let until):
                self.troubled()
                self.metrics.recordEjection(id: instance, ejected: true)
                self.logger.debug(
                    "instance ejected",
                    metadata: ["instance": "\(instance)", "ejection.seconds": "\(self.clock.now.duration(to: until))"]
                )
            case .readmitted(let instance):
                self.metrics.recordEjection(id: instance, ejected: false)
                self.logger.debug("instance re-admitted", metadata: ["instance": "\(instance)"])
            case .removed:
                break  // told by left(_:)
            }
        }
    }
}

extension UpstreamPool where C == ContinuousClock {
    /// Makes a pool on the continuous clock.
    /// - Parameters:
    ///   - members: the instances.
    ///   - configuration: ejection and retry limits.
    ///   - logger: for ejections and re-admissions.
    ///   - metricDimensions: labels of the pool's metrics.
    ///   - onRemoved: told when a removed instance has left, to close it.
    ///   - wakeUps: where the per-try timers run; `nil`: `Task.sleep`.
    public convenience init(
        members: [Member],
        configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(),
        logger: Logger = Logger(label: "switchyard.pool"),
        metricDimensions: [(String, String)] = [],
        onRemoved: (@Sendable (Member) -> Void)? = nil,
        wakeUps: (any WakeUpScheduler)? = nil
    ) {
        self.init(
            members: members,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: logger,
            metricDimensions: metricDimensions,
            onRemoved: onRemoved,
            wakeUps: wakeUps
        )
    }
}

/// The state of one pool member, for metrics and admin pages.
public struct UpstreamPoolInstanceStatistics: Sendable, Hashable {
    /// The member's id.
    public var id: String
    /// Attempts in flight on it.
    public var inFlight: Int
    /// Failures (`unavailable`, `internal`) since its last good answer.
    public var consecutiveFailures: Int
    /// How many times it has been ejected.
    public var ejections: Int
    /// Whether it is ejected now.
    public var ejected: Bool
    /// The last active health check's verdict (`true` before any, for an instance the pool started with).
    public var healthy: Bool
    /// Gets no new requests.
    public var draining: Bool = false
    /// Leaves the pool when its requests in flight have finished.
    public var removing: Bool = false
    /// Added while the pool served and not yet passed a health check.
    public var awaitingHealthCheck: Bool = false
    /// Its share of new requests, from 1 (full) down to the slow-start minimum.
    public var weight: Double = 1
    /// Its adaptive concurrency limit (attempts in flight); `nil` when limits are off.
    public var concurrencyLimit: Int? = nil
}
