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

    /// Calls one instance, retrying an idempotent request on another one when the answer is `unavailable` or
    /// `resource exhausted`, while the retry budget and the deadline allow.
    /// - Parameters:
    ///   - request: the request; only `idempotent` requests are retried.
    ///   - deadline: when the caller stops waiting; no retry starts after it.
    /// - Returns: the first instance's answer that is not retried.
    /// - Throws: the last attempt's error; `RoutingError.noInstance` for an empty pool.
    public func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        let localDeadline = deadline.map { self.clock.now.advanced(by: ContinuousClock.now.duration(to: $0)) }
        self.state.withLock { $0.machine.beginRequest() }
        defer { self.state.withLock { $0.machine.endRequest() } }
        var excluded = Set<Int>()
        var retries = 0
        while true {
            let (picked, events) = self.state.withLock { state in
                state.machine.pick(excluding: excluded, now: self.clock.now, using: &state.random)
            }
            self.log(events)
            guard let index = picked else { throw RoutingError(.noInstance, "the pool has no instances") }
            let isRetry = retries > 0
            do {
                let response = try await self.members[index].upstream.call(request, deadline: deadline)
                self.metrics.recordAttempt(instance: index, id: self.members[index].id, code: nil)
                let events = self.state.withLock { state in
                    if isRetry { state.machine.endRetry() }
                    return state.machine.finish(instance: index, outcome: .answered, now: self.clock.now)
                }
                self.log(events)
                return response
            } catch {
                let code = RoutingError.status(for: error).code
                self.metrics.recordAttempt(instance: index, id: self.members[index].id, code: code)
                let (retry, events) = self.state.withLock { state in
                    if isRetry { state.machine.endRetry() }
                    let now = self.clock.now
                    let events = state.machine.finish(instance: index, outcome: StateMachine.Outcome(code), now: now)
                    guard request.idempotent, code == .unavailable || code == .resourceExhausted, !Task.isCancelled
                    else { return (false, events) }
                    return (state.machine.beginRetry(retriesSoFar: retries, deadline: localDeadline, now: now), events)
                }
                self.log(events)
                guard retry else { throw error }
                self.logger.debug(
                    "retrying on another instance",
                    metadata: ["instance": "\(self.members[index].id)", "status": "\(code)", "retry": "\(retries + 1)"]
                )
                self.metrics.recordRetry()
                retries += 1
                excluded.insert(index)
            }
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
