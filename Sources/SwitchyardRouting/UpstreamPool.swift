public import Logging
public import SwitchyardWire
internal import Synchronization

/// Several instances of one service behind one ``Upstream``: power-of-two-choices load balancing on requests in
/// flight, passive outlier ejection (Envoy's defaults), a hook for active health checks, and retries of
/// idempotent requests on another instance within a retry budget and the request's deadline.
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
        var machine: StateMachine
        var random = SystemRandomNumberGenerator()
        var predictors = AttemptPredictors()
    }

    /// The instances, in the order given.
    public let members: [Member]
    private let state: Mutex<State>
    private let clock: C
    private let logger: Logger
    private let metrics: PoolMetrics

    /// Makes a pool.
    /// - Parameters:
    ///   - members: the instances; ids should be unique.
    ///   - configuration: ejection and retry limits.
    ///   - clock: the time source for ejections and deadlines.
    ///   - logger: for ejections and re-admissions (debug level).
    ///   - metricDimensions: labels of the pool's metrics (`switchyard_upstream_*`), e.g. `[("stage", "inference")]`.
    public init(
        members: [Member], configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(), clock: C,
        logger: Logger = Logger(label: "switchyard.pool"), metricDimensions: [(String, String)] = []
    ) {
        self.members = members
        self.metrics = PoolMetrics(instances: members.map(\.id), dimensions: metricDimensions)
        self.state = Mutex(State(machine: StateMachine(instanceIDs: members.map(\.id), configuration: configuration)))
        self.clock = clock
        self.logger = logger
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
    /// - Throws: the last attempt's error; `RoutingError.noInstance` for an empty pool.
    public func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        let localDeadline = deadline.map { self.clock.now.advanced(by: ContinuousClock.now.duration(to: $0)) }
        self.state.withLock { $0.machine.beginRequest() }
        defer { self.state.withLock { $0.machine.endRequest() } }
        let key = PredictionKey(request)
        let perTry = self.perTryTimeout(for: key)
        let result: Result<Response, any Error> = await withTaskGroup(of: AttemptEvent.self) { group in
            var run = Run(request: request, deadline: deadline, localDeadline: localDeadline, perTry: perTry)
            defer { self.abandon(&run) }
            guard self.start(&run, in: &group, isRetry: false) else {
                return .failure(RoutingError(.noInstance, "the pool has no instances"))
            }
            while let event = await group.next() {
                switch event {
                case .answered(let number, let response):
                    run.attempts[number].done = true
                    let attempt = run.attempts[number]
                    let elapsed = attempt.started.duration(to: self.clock.now)
                    self.metrics.recordAttempt(instance: attempt.instance, id: self.members[attempt.instance].id, code: nil)
                    let events = self.state.withLock { state in
                        if attempt.isRetry { state.machine.endRetry() }
                        if !attempt.timedOut { state.predictors.observe(key, duration: elapsed) }
                        // even a late answer shows the instance alive (a hung one never answers)
                        return state.machine.finish(instance: attempt.instance, outcome: .answered, now: self.clock.now)
                    }
                    self.log(events)
                    group.cancelAll()
                    return .success(response)
                case .failed(let number, let error):
                    run.attempts[number].done = true
                    run.lastError = error
                    if let failure = self.failed(&run, number, error, in: &group) { return .failure(failure) }
                case .perTryTimeout(let number):
                    self.timedOut(&run, number, in: &group)
                case .timerCancelled:
                    break
                }
            }
            return .failure(run.lastError ?? RoutingError(.noInstance, "the pool has no instances"))
        }
        return try result.get()
    }

    /// One request's attempts.
    private struct Run {
        struct Attempt {
            var instance: Int
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
        var tried = Set<Int>()
        var lastError: (any Error)? = nil
        var running: Int { self.attempts.filter { !$0.done }.count }
    }

    private enum AttemptEvent: Sendable {
        case answered(Int, Response)
        case failed(Int, any Error)
        case perTryTimeout(Int)
        case timerCancelled
    }

    /// Starts an attempt on an instance not tried yet when there is one, with its per-try timer.
    private func start(_ run: inout Run, in group: inout TaskGroup<AttemptEvent>, isRetry: Bool) -> Bool {
        let draining = Set(self.members.indices.filter { self.members[$0].upstream.isDraining })
        let (picked, events) = self.state.withLock { state in
            state.machine.pick(excluding: run.tried, draining: draining, now: self.clock.now, using: &state.random)
        }
        self.log(events)
        guard let index = picked else { return false }
        run.tried.insert(index)
        let number = run.attempts.count
        let now = self.clock.now
        run.attempts.append(Run.Attempt(instance: index, started: now, isRetry: isRetry))
        let upstream = self.members[index].upstream
        let request = run.request
        let deadline = run.deadline
        group.addTask {
            do {
                return .answered(number, try await upstream.call(request, deadline: deadline))
            } catch {
                return .failed(number, error)
            }
        }
        let timeoutAt = now.advanced(by: run.perTry)
        if run.localDeadline.map({ timeoutAt < $0 }) ?? true {
            let clock = self.clock
            group.addTask {
                do {
                    try await clock.sleep(until: timeoutAt, tolerance: nil)
                    return .perTryTimeout(number)
                } catch {
                    return .timerCancelled
                }
            }
        }
        return true
    }

    /// Books a failed attempt; starts a retry when one is allowed. Returns the error to throw when nothing is left.
    private func failed(
        _ run: inout Run, _ number: Int, _ error: any Error, in group: inout TaskGroup<AttemptEvent>
    ) -> (any Error)? {
        let attempt = run.attempts[number]
        let member = self.members[attempt.instance]
        let status = RoutingError.status(for: error)
        let notProcessed = (error as? any StatusConvertible)?.requestWasNotProcessed ?? false
        self.metrics.recordAttempt(instance: attempt.instance, id: member.id, code: status.code)
        // a draining instance's refusals are no failures: the pool takes it out of rotation instead
        let outcome = member.upstream.isDraining ? .neutral : StateMachine.Outcome(status.code)
        let retryable =
            notProcessed
            || (run.request.idempotent && (status.code == .unavailable || status.code == .resourceExhausted))
        let (retry, events) = self.state.withLock { state in
            if attempt.isRetry { state.machine.endRetry() }
            let now = self.clock.now
            let events = state.machine.finish(instance: attempt.instance, outcome: outcome, now: now)
            // while another attempt (a hedge, or the one it hedged) runs, wait for it rather than start a third
            guard retryable, run.running == 0, !Task.isCancelled else { return (false, events) }
            let allowed = state.machine.beginRetry(
                retriesSoFar: run.attempts.count - 1, deadline: run.localDeadline, now: now
            )
            return (allowed, events)
        }
        self.log(events)
        if retry {
            self.logger.debug(
                "retrying on another instance",
                metadata: [
                    "instance": "\(member.id)", "status": "\(status.code)", "retry": "\(run.attempts.count)",
                    "not_processed": "\(notProcessed)",
                ]
            )
            self.metrics.recordRetry()
            if self.start(&run, in: &group, isRetry: true) { return nil }
            self.state.withLock { $0.machine.endRetry() }
        }
        return run.running == 0 ? error : nil
    }

    /// An attempt outlived its per-try timeout: counts against its instance, and an idempotent request is hedged on
    /// another instance.
    private func timedOut(_ run: inout Run, _ number: Int, in group: inout TaskGroup<AttemptEvent>) {
        guard !run.attempts[number].done, !run.attempts[number].timedOut else { return }
        run.attempts[number].timedOut = true
        let instance = run.attempts[number].instance
        let hedge = run.request.idempotent && self.state.withLock { $0.machine.configuration.hedgeOnPerTryTimeout }
        let (allowed, events) = self.state.withLock { state in
            let now = self.clock.now
            let events = state.machine.timedOut(instance: instance, now: now)
            guard hedge, !Task.isCancelled else { return (false, events) }
            let allowed = state.machine.beginRetry(
                retriesSoFar: run.attempts.count - 1, deadline: run.localDeadline, now: now
            )
            return (allowed, events)
        }
        self.log(events)
        self.metrics.recordPerTryTimeout()
        guard allowed else { return }
        self.logger.debug(
            "hedging on another instance",
            metadata: ["instance": "\(self.members[instance].id)", "per_try_timeout": "\(run.perTry)"]
        )
        self.metrics.recordRetry()
        if !self.start(&run, in: &group, isRetry: true) { self.state.withLock { $0.machine.endRetry() } }
    }

    /// Attempts still running when the request ended (a hedge won, or the caller left) end without a verdict.
    private func abandon(_ run: inout Run) {
        let open = run.attempts.indices.filter { !run.attempts[$0].done }
        guard !open.isEmpty else { return }
        let events = self.state.withLock { state in
            var events: [StateMachine.Event] = []
            for number in open {
                if run.attempts[number].isRetry { state.machine.endRetry() }
                events += state.machine.finish(instance: run.attempts[number].instance, outcome: .neutral, now: self.clock.now)
            }
            return events
        }
        for number in open { run.attempts[number].done = true }
        self.log(events)
    }

    /// The per-try timeout an attempt of `request` gets now.
    func perTryTimeout(for request: Request) -> Duration { self.perTryTimeout(for: PredictionKey(request)) }

    /// The per-try timeout for requests like this one: fixed, or a multiple of their predicted execution time.
    private func perTryTimeout(for key: PredictionKey) -> Duration {
        self.state.withLock { state in
            let configuration = state.machine.configuration
            if let fixed = configuration.perTryTimeout { return fixed }
            guard let predicted = state.predictors.predict(key) else { return max(configuration.minimumPerTryTimeout, .seconds(1)) }
            return max(configuration.minimumPerTryTimeout, predicted * configuration.perTryTimeoutMultiplier)
        }
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
    }

    /// Records a passed active health check: an ejected instance is re-admitted at once.
    /// - Parameter instance: the member's id.
    public func healthCheckPassed(instance: String) {
        let events = self.state.withLock { $0.machine.checkPassed(instance: instance, now: self.clock.now) }
        self.log(events)
    }

    /// Changes the ejection and retry limits.
    /// - Parameter configuration: the new limits.
    public func updateConfiguration(_ configuration: UpstreamPoolConfiguration) {
        self.state.withLock { $0.machine.update(configuration: configuration) }
    }

    /// One entry per member, in order: load, health and ejection state.
    public var statistics: [UpstreamPoolInstanceStatistics] {
        self.state.withLock { state in
            let now = self.clock.now
            return state.machine.instances.map { instance in
                UpstreamPoolInstanceStatistics(
                    id: instance.id, inFlight: instance.inFlight, consecutiveFailures: instance.consecutiveFailures,
                    ejections: instance.ejections, ejected: instance.ejectedUntil.map { now < $0 } ?? false,
                    healthy: instance.healthy
                )
            }
        }
    }

    private func log(_ events: [StateMachine.Event]) {
        for event in events {
            switch event {
            case .ejected(let instance, let until):
                if let index = self.members.firstIndex(where: { $0.id == instance }) { self.metrics.recordEjection(instance: index, ejected: true) }
                self.logger.debug(
                    "instance ejected",
                    metadata: ["instance": "\(instance)", "ejection.seconds": "\(self.clock.now.duration(to: until))"]
                )
            case .readmitted(let instance):
                if let index = self.members.firstIndex(where: { $0.id == instance }) { self.metrics.recordEjection(instance: index, ejected: false) }
                self.logger.debug("instance re-admitted", metadata: ["instance": "\(instance)"])
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
    public convenience init(
        members: [Member], configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(),
        logger: Logger = Logger(label: "switchyard.pool"), metricDimensions: [(String, String)] = []
    ) {
        self.init(
            members: members, configuration: configuration, clock: ContinuousClock(), logger: logger,
            metricDimensions: metricDimensions
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
    /// The last active health check's verdict (`true` before any).
    public var healthy: Bool
}
