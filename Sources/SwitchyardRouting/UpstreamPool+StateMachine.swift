internal import SwitchyardWire

extension UpstreamPool {
    /// The pool's decisions as a value type: instance choice, outlier ejection and re-admission, health, and the
    /// retry budget. Time and randomness are passed in.
    struct StateMachine: Sendable {
        typealias Instant = C.Instant

        struct Instance: Sendable {
            var id: String
            var inFlight = 0
            var consecutiveFailures = 0
            /// How many times this instance was ejected; multiplies the next ejection's length.
            var ejections = 0
            var ejectedUntil: Instant? = nil
            /// The last active health check's verdict.
            var healthy = true
            /// Added while the pool served: no traffic until its first passing health check (while another
            /// instance is healthy), then a share that rises over the slow-start window.
            var awaitingFirstCheck = false
            /// When its slow start began (its first passing check after being added).
            var slowStartSince: Instant? = nil
            /// Gets no new requests; those in flight finish.
            var draining = false
            /// Leaves the pool once its last request in flight has finished.
            var removeWhenIdle = false
        }

        /// Something worth logging.
        enum Event: Equatable, Sendable {
            case ejected(instance: String, until: Instant)
            case readmitted(instance: String)
            /// A removed instance finished its last request and left the pool.
            case removed(instance: String)
        }

        /// How an attempt ended, as outlier detection counts it.
        enum Outcome: Sendable {
            /// Any answer that is not a failure of the instance (including `invalid argument`, `not found`).
            case answered
            /// `unavailable` or `internal`: counts toward ejection.
            case failed
            /// Cancelled or past the deadline: says nothing about the instance.
            case neutral

            init(_ code: Status.Code?) {
                switch code {
                case nil: self = .answered
                case .unavailable?, .internalError?: self = .failed
                case .cancelled?, .deadlineExceeded?: self = .neutral
                default: self = .answered
                }
            }
        }

        private(set) var configuration: UpstreamPoolConfiguration
        var instances: [Instance]
        /// Requests (not attempts) in flight through the pool.
        private(set) var requestsInFlight = 0
        /// Retry attempts in flight.
        private(set) var retriesInFlight = 0

        init(instanceIDs: [String], configuration: UpstreamPoolConfiguration) {
            self.configuration = configuration
            self.instances = instanceIDs.map { Instance(id: $0) }
        }

        mutating func update(configuration: UpstreamPoolConfiguration) { self.configuration = configuration }

        mutating func beginRequest() { self.requestsInFlight += 1 }

        mutating func endRequest() { self.requestsInFlight -= 1 }

        /// Picks an instance by power of two choices on attempts in flight, and counts the attempt in flight.
        ///
        /// An instance drained by the pool's owner gets nothing new. One whose server said it is shutting down
        /// (`goingAway`) is out of rotation while another is left (a drain is no failure). Of the rest, the admitted
        /// (not ejected), healthy ones take the traffic, unless fewer than the panic threshold's share of the
        /// established ones (not waiting for their first health check) are: then every one does, ejected or not,
        /// as Envoy's `healthy_panic_threshold` does, rather than pile everything on a few or fail. Instances in
        /// `excluded` (tried already by this request) are avoided while another candidate is left.
        /// - Parameters:
        ///   - excluded: instances this request tried already.
        ///   - goingAway: instances whose server sent a graceful GOAWAY and has not been reached since.
        ///   - now: the time, for ejections that ended and slow starts.
        ///   - random: for the two random choices.
        /// - Returns: the instance's index, or `nil` when every instance is drained (or there is none).
        mutating func pick(
            excluding excluded: Set<Int>,
            goingAway: Set<Int> = [],
            now: Instant,
            using random: inout some RandomNumberGenerator
        ) -> (index: Int?, events: [Event]) {
            self.pick(
                excluding: { index, _ in excluded.contains(index) },
                goingAway: { index, _ in goingAway.contains(index) },
                now: now,
                using: &random
            )
        }

        /// ``pick(excluding:goingAway:now:using:)`` with the exclusions as predicates on an instance (its index and
        /// state): it counts and draws over the instances in place, without building a list per pick.
        mutating func pick(
            excluding isExcluded: (Int, Instance) -> Bool,
            goingAway isGoingAway: (Int, Instance) -> Bool,
            now: Instant,
            using random: inout some RandomNumberGenerator
        ) -> (index: Int?, events: [Event]) {
            func excluded(_ index: Int) -> Bool { isExcluded(index, self.instances[index]) }
            func goingAway(_ index: Int) -> Bool { isGoingAway(index, self.instances[index]) }
            let events = self.readmitExpired(now: now)
            // a drained instance gets nothing new, whatever else is down
            var members = 0
            var serving = 0
            for index in self.instances.indices where !self.instances[index].draining {
                members += 1
                if !goingAway(index) { serving += 1 }
            }
            guard members > 0 else { return (nil, events) }
            let skipGoingAway = serving > 0
            func inRotation(_ index: Int) -> Bool {
                !self.instances[index].draining && !(skipGoingAway && goingAway(index))
            }
            func admitted(_ index: Int) -> Bool { inRotation(index) && self.instances[index].ejectedUntil == nil }
            var healthyCount = 0
            var establishedCount = 0
            for index in self.instances.indices where inRotation(index) {
                if self.instances[index].ejectedUntil == nil, self.instances[index].healthy { healthyCount += 1 }
                if !self.instances[index].awaitingFirstCheck { establishedCount += 1 }
            }
            let panic = healthyCount * 100 < self.configuration.healthyPanicThreshold * max(1, establishedCount)
            let everyone = panic || healthyCount == 0
            func preferred(_ index: Int) -> Bool {
                everyone ? inRotation(index) : admitted(index) && self.instances[index].healthy
            }
            // the first tier with a candidate: preferred and not tried, admitted and not tried, preferred, any
            var tier = 0
            var count = 0
            func isCandidate(_ index: Int) -> Bool {
                switch tier {
                case 0: preferred(index) && !excluded(index)
                case 1: admitted(index) && !excluded(index)
                case 2: preferred(index)
                default: inRotation(index)
                }
            }
            while count == 0 {
                count = self.instances.indices.reduce(0) { isCandidate($1) ? $0 + 1 : $0 }
                if count == 0 { tier += 1 }
            }
            /// The index of the `position`th candidate.
            func candidate(_ position: Int) -> Int {
                var seen = 0
                for index in self.instances.indices where isCandidate(index) {
                    if seen == position { return index }
                    seen += 1
                }
                preconditionFailure("candidate \(position) of \(count)")
            }
            var uniform = true
            for index in self.instances.indices where isCandidate(index) && self.weight(of: index, now: now) != 1 {
                uniform = false
                break
            }
            var chosen: Int
            if uniform {
                // two distinct candidates at random; the one with fewer attempts in flight wins (the first on a tie)
                let first = Int.random(in: 0..<count, using: &random)
                chosen = candidate(first)
                if count > 1 {
                    var second = Int.random(in: 0..<(count - 1), using: &random)
                    if second >= first { second += 1 }
                    let other = candidate(second)
                    if self.instances[other].inFlight < self.instances[chosen].inFlight { chosen = other }
                }
            } else {
                // slow start: the two candidates are drawn in proportion to their weights, so a new instance is
                // offered a share that rises with its weight; the fewer attempts in flight still wins
                let first = self.draw(isCandidate, excluding: nil, now: now, using: &random)
                chosen = first
                if count > 1 {
                    let other = self.draw(isCandidate, excluding: first, now: now, using: &random)
                    if self.instances[other].inFlight < self.instances[chosen].inFlight { chosen = other }
                }
            }
            self.instances[chosen].inFlight += 1
            return (chosen, events)
        }

        /// An instance's share of new requests now: 1, or during its slow start a share that rises linearly from
        /// `slowStartMinimumWeight` to 1 over `slowStartWindow` (Envoy's `slow_start_config`).
        func weight(of index: Int, now: Instant) -> Double {
            guard let since = self.instances[index].slowStartSince else { return 1 }
            let window = self.configuration.slowStartWindow
            guard window > .zero else { return 1 }
            let elapsed = since.duration(to: now)
            guard elapsed < window else { return 1 }
            let fraction = max(0, elapsed / window)
            return max(self.configuration.slowStartMinimumWeight, fraction)
        }

        /// A candidate's index drawn in proportion to the candidates' weights, never `excluded`.
        private func draw(
            _ isCandidate: (Int) -> Bool,
            excluding excluded: Int?,
            now: Instant,
            using random: inout some RandomNumberGenerator
        ) -> Int {
            var total = 0.0
            var last: Int?
            for index in self.instances.indices where index != excluded && isCandidate(index) {
                total += self.weight(of: index, now: now)
                last = index
            }
            var point = Double.random(in: 0..<total, using: &random)
            for index in self.instances.indices where index != excluded && isCandidate(index) {
                let weight = self.weight(of: index, now: now)
                if point < weight { return index }
                point -= weight
            }
            return last ?? 0
        }

        // MARK: Membership

        /// Adds an instance; one that is already a member stops draining (and is no longer to be removed).
        /// - Parameters:
        ///   - id: the instance's id.
        ///   - awaitingHealthCheck: no traffic until its first passing health check, then slow start.
        /// - Returns: whether it is new.
        mutating func add(_ id: String, awaitingHealthCheck: Bool) -> Bool {
            if let index = self.instances.firstIndex(where: { $0.id == id }) {
                self.instances[index].draining = false
                self.instances[index].removeWhenIdle = false
                return false
            }
            var instance = Instance(id: id)
            if awaitingHealthCheck {
                instance.healthy = false
                instance.awaitingFirstCheck = true
            }
            self.instances.append(instance)
            return true
        }

        /// Stops new requests to an instance; those in flight finish. It stays a member until removed.
        /// - Returns: whether the pool has it.
        mutating func drain(_ id: String) -> Bool {
            guard let index = self.instances.firstIndex(where: { $0.id == id }) else { return false }
            self.instances[index].draining = true
            return true
        }

        /// Drains an instance and takes it out of the pool once its requests in flight have finished (at once when
        /// it has none: the events say so).
        /// - Returns: `nil` when the pool does not have it.
        mutating func remove(_ id: String) -> [Event]? {
            guard let index = self.instances.firstIndex(where: { $0.id == id }) else { return nil }
            self.instances[index].draining = true
            self.instances[index].removeWhenIdle = true
            return self.removeIfIdle(index)
        }

        private mutating func removeIfIdle(_ index: Int) -> [Event] {
            guard self.instances[index].removeWhenIdle, self.instances[index].inFlight == 0 else { return [] }
            let id = self.instances.remove(at: index).id
            return [.removed(instance: id)]
        }

        /// The index of an instance by id.
        func index(of id: String) -> Int? { self.instances.firstIndex { $0.id == id } }

        /// An attempt on `index` ended; ejects the instance after too many consecutive failures, and lets a removed
        /// instance go once it has nothing in flight. The index may not be used after this call.
        mutating func finish(instance index: Int, outcome: Outcome, now: Instant) -> [Event] {
            self.instances[index].inFlight -= 1
            var events = self.readmitExpired(now: now)
            switch outcome {
            case .answered:
                self.instances[index].consecutiveFailures = 0
            case .neutral:
                break
            case .failed:
                events += self.countFailure(index, now: now)
            }
            return events + self.removeIfIdle(index)
        }

        /// An attempt on `index` outlived its per-try timeout: a failure for outlier detection (Envoy counts gateway
        /// timeouts too), while the attempt stays in flight until ``finish(instance:outcome:now:)``.
        mutating func timedOut(instance index: Int, now: Instant) -> [Event] {
            self.readmitExpired(now: now) + self.countFailure(index, now: now)
        }

        private mutating func countFailure(_ index: Int, now: Instant) -> [Event] {
            self.instances[index].consecutiveFailures += 1
            guard self.instances[index].consecutiveFailures >= self.configuration.consecutiveFailures,
                self.instances[index].ejectedUntil == nil, self.mayEject()
            else { return [] }
            return [self.eject(index, now: now)]
        }

        /// Whether a retry may start now, within the retry budget and before the deadline; if so it counts in
        /// flight until ``endRetry()``.
        mutating func beginRetry(retriesSoFar: Int, deadline: Instant?, now: Instant) -> Bool {
            guard retriesSoFar < self.configuration.maxRetries else { return false }
            if let deadline, deadline <= now { return false }
            let budget = self.requestsInFlight * self.configuration.retryBudgetPercent / 100
            guard self.retriesInFlight < max(self.configuration.minRetryConcurrency, budget) else { return false }
            self.retriesInFlight += 1
            return true
        }

        mutating func endRetry() { self.retriesInFlight -= 1 }

        /// The owner's active health check for one instance. A failing instance is avoided while others are
        /// healthy; a passing one is re-admitted at once if it was ejected.
        mutating func reportHealth(instance id: String, healthy: Bool, now: Instant) -> [Event] {
            var events = self.readmitExpired(now: now)
            guard let index = self.instances.firstIndex(where: { $0.id == id }) else { return events }
            self.instances[index].healthy = healthy
            if healthy, self.instances[index].awaitingFirstCheck {
                self.instances[index].awaitingFirstCheck = false
                self.instances[index].slowStartSince = now
            }
            if healthy, self.instances[index].ejectedUntil != nil {
                self.instances[index].ejectedUntil = nil
                self.instances[index].consecutiveFailures = 0
                events.append(.readmitted(instance: id))
            }
            return events
        }

        /// A health check passed: an ejected instance is re-admitted at once (it answers again, so outlier
        /// detection's wait is over), whatever the checker's thresholds say about its health.
        mutating func checkPassed(instance id: String, now: Instant) -> [Event] {
            var events = self.readmitExpired(now: now)
            guard let index = self.index(of: id), self.instances[index].ejectedUntil != nil else { return events }
            self.instances[index].ejectedUntil = nil
            self.instances[index].consecutiveFailures = 0
            events.append(.readmitted(instance: id))
            return events
        }

        /// Re-admits instances whose ejection time is over.
        mutating func readmitExpired(now: Instant) -> [Event] {
            var events: [Event] = []
            for index in self.instances.indices {
                guard let until = self.instances[index].ejectedUntil, until <= now else { continue }
                self.instances[index].ejectedUntil = nil
                self.instances[index].consecutiveFailures = 0
                events.append(.readmitted(instance: self.instances[index].id))
            }
            return events
        }

        /// The earliest end of an ejection, for a timer that re-admits on time (picks re-admit lazily too).
        var nextReadmission: Instant? { self.instances.compactMap(\.ejectedUntil).min() }

        private func mayEject() -> Bool {
            let ejected = self.instances.filter { $0.ejectedUntil != nil }.count
            let allowed = max(1, self.instances.count * self.configuration.maxEjectionPercent / 100)
            return ejected < allowed && ejected + 1 < self.instances.count
        }

        private mutating func eject(_ index: Int, now: Instant) -> Event {
            self.instances[index].ejections += 1
            let multiplied = self.configuration.baseEjectionTime * self.instances[index].ejections
            let length = min(multiplied, self.configuration.maxEjectionTime)
            let until = now.advanced(by: length)
            self.instances[index].ejectedUntil = until
            return .ejected(instance: self.instances[index].id, until: until)
        }
    }
}
