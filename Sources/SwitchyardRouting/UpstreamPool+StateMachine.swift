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
        }

        /// Something worth logging.
        enum Event: Equatable, Sendable {
            case ejected(instance: String, until: Instant)
            case readmitted(instance: String)
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
        /// Draining instances are out of rotation while any other is left (a drain is no failure). Of the rest, the
        /// admitted (not ejected), healthy ones take the traffic, unless fewer than the panic threshold's share of them
        /// are: then every instance does, ejected or not, as Envoy's `healthy_panic_threshold` does, rather than pile
        /// everything on a few or fail. Instances in `excluded` (tried already by this request) are avoided while
        /// another candidate is left.
        /// - Parameters:
        ///   - excluded: instances this request tried already.
        ///   - draining: instances whose server said it is shutting down.
        ///   - now: the time, for ejections that ended.
        ///   - random: for the two random choices.
        /// - Returns: the instance's index, or `nil` for an empty pool.
        mutating func pick(
            excluding excluded: Set<Int>, draining: Set<Int> = [], now: Instant,
            using random: inout some RandomNumberGenerator
        ) -> (index: Int?, events: [Event]) {
            let events = self.readmitExpired(now: now)
            let all = Array(self.instances.indices)
            guard !all.isEmpty else { return (nil, events) }
            let serving = all.filter { !draining.contains($0) }
            let rotation = serving.isEmpty ? all : serving
            let healthy = rotation.filter { self.instances[$0].ejectedUntil == nil && self.instances[$0].healthy }
            let panic = healthy.count * 100 < self.configuration.healthyPanicThreshold * rotation.count
            let eligible = panic || healthy.isEmpty ? rotation : healthy
            let untried = eligible.filter { !excluded.contains($0) }
            let candidates = untried.isEmpty ? eligible : untried
            // two distinct candidates at random; the one with fewer attempts in flight wins (the first on a tie)
            let first = Int.random(in: 0..<candidates.count, using: &random)
            var chosen = candidates[first]
            if candidates.count > 1 {
                var second = Int.random(in: 0..<(candidates.count - 1), using: &random)
                if second >= first { second += 1 }
                if self.instances[candidates[second]].inFlight < self.instances[chosen].inFlight {
                    chosen = candidates[second]
                }
            }
            self.instances[chosen].inFlight += 1
            return (chosen, events)
        }

        /// An attempt on `index` outlived its per-try timeout: a failure for outlier detection (Envoy counts gateway
        /// timeouts too), while the attempt stays in flight until ``finish(instance:outcome:now:)``.
        mutating func timedOut(instance index: Int, now: Instant) -> [Event] {
            var events = self.readmitExpired(now: now)
            events += self.countFailure(index, now: now)
            return events
        }

        /// An attempt on `index` ended; ejects the instance after too many consecutive failures.
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
            return events
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
            guard let index = self.instances.firstIndex(where: { $0.id == id }),
                self.instances[index].ejectedUntil != nil
            else { return events }
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
