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
        var machine: StateMachine
        var upstreams: [String: any Upstream]
        var random = SystemRandomNumberGenerator()

        /// The removed instances' upstreams leave with them.
        mutating func forget(_ events: [StateMachine.Event]) -> [Member] {
            events.compactMap { event in
                guard case .removed(let id) = event, let upstream = self.upstreams.removeValue(forKey: id) else {
                    return nil
                }
                return Member(id: id, upstream: upstream)
            }
        }
    }

    private let state: Mutex<State>
    private let clock: C
    private let logger: Logger
    private let metrics: PoolMetrics
    private let onRemoved: (@Sendable (Member) -> Void)?

    /// Makes a pool.
    /// - Parameters:
    ///   - members: the instances; ids should be unique.
    ///   - configuration: ejection and retry limits.
    ///   - clock: the time source for ejections and deadlines.
    ///   - logger: for ejections and re-admissions (debug level).
    ///   - metricDimensions: labels of the pool's metrics (`switchyard_upstream_*`), e.g. `[("stage", "inference")]`.
    ///   - onRemoved: told when a removed instance has left (its last request finished), to close it.
    public init(
        members: [Member], configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(), clock: C,
        logger: Logger = Logger(label: "switchyard.pool"), metricDimensions: [(String, String)] = [],
        onRemoved: (@Sendable (Member) -> Void)? = nil
    ) {
        self.metrics = PoolMetrics(dimensions: metricDimensions)
        self.state = Mutex(
            State(
                machine: StateMachine(instanceIDs: members.map(\.id), configuration: configuration),
                upstreams: Dictionary(members.map { ($0.id, $0.upstream) }, uniquingKeysWith: { first, _ in first })
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
        self.logger.debug(added ? "instance added" : "instance no longer draining", metadata: ["instance": "\(member.id)"])
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
        var excluded = Set<String>()  // by id: indices move when instances leave
        var retries = 0
        while true {
            let (picked, events, count) = self.state.withLock { state -> ((String, any Upstream)?, [StateMachine.Event], Int) in
                let indices = Set(excluded.compactMap { state.machine.index(of: $0) })
                let (index, events) = state.machine.pick(excluding: indices, now: self.clock.now, using: &state.random)
                guard let index else { return (nil, events, state.machine.instances.count) }
                let id = state.machine.instances[index].id
                return ((id, state.upstreams[id]!), events, state.machine.instances.count)
            }
            self.log(events)
            guard let (id, upstream) = picked else {
                throw RoutingError(
                    .noInstance, count == 0 ? "the pool has no instances" : "every instance of the pool is draining"
                )
            }
            let isRetry = retries > 0
            do {
                let response = try await upstream.call(request, deadline: deadline)
                self.metrics.recordAttempt(id: id, code: nil)
                self.finish(id, isRetry: isRetry, outcome: .answered)
                return response
            } catch {
                let code = RoutingError.status(for: error).code
                self.metrics.recordAttempt(id: id, code: code)
                let retry = self.finish(id, isRetry: isRetry, outcome: StateMachine.Outcome(code)) { state, now in
                    guard request.idempotent, code == .unavailable || code == .resourceExhausted, !Task.isCancelled
                    else { return false }
                    return state.machine.beginRetry(retriesSoFar: retries, deadline: localDeadline, now: now)
                }
                guard retry else { throw error }
                self.logger.debug(
                    "retrying on another instance",
                    metadata: ["instance": "\(id)", "status": "\(code)", "retry": "\(retries + 1)"]
                )
                self.metrics.recordRetry()
                retries += 1
                excluded.insert(id)
            }
        }
    }

    /// Ends an attempt on `id`; `then` runs under the same lock (the retry decision).
    @discardableResult
    private func finish(
        _ id: String, isRetry: Bool, outcome: StateMachine.Outcome,
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

    /// Whether an instance was added while the pool served and has not yet passed a health check.
    /// - Parameter id: the instance's id.
    public func isAwaitingHealthCheck(_ id: String) -> Bool {
        self.state.withLock { state in state.machine.index(of: id).map { state.machine.instances[$0].awaitingFirstCheck } ?? false }
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
            return state.machine.instances.indices.map { index in
                let instance = state.machine.instances[index]
                return UpstreamPoolInstanceStatistics(
                    id: instance.id, inFlight: instance.inFlight, consecutiveFailures: instance.consecutiveFailures,
                    ejections: instance.ejections, ejected: instance.ejectedUntil.map { now < $0 } ?? false,
                    healthy: instance.healthy, draining: instance.draining, removing: instance.removeWhenIdle,
                    awaitingHealthCheck: instance.awaitingFirstCheck,
                    weight: state.machine.weight(of: index, now: now)
                )
            }
        }
    }

    private func log(_ events: [StateMachine.Event]) {
        for event in events {
            switch event {
            case .ejected(let instance, let until):
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
    public convenience init(
        members: [Member], configuration: UpstreamPoolConfiguration = UpstreamPoolConfiguration(),
        logger: Logger = Logger(label: "switchyard.pool"), metricDimensions: [(String, String)] = [],
        onRemoved: (@Sendable (Member) -> Void)? = nil
    ) {
        self.init(
            members: members, configuration: configuration, clock: ContinuousClock(), logger: logger,
            metricDimensions: metricDimensions, onRemoved: onRemoved
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
}
