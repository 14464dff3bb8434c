internal import SwitchyardTensor
internal import SwitchyardWire

extension Batcher {
    /// The batcher's decisions, as a value type: every mutating method returns the actions the ``Batcher`` then
    /// carries out (send a batch, answer requests with an error). It never reads a clock; `now` is passed in.
    struct StateMachine: Sendable {
        typealias Instant = C.Instant

        /// A request waiting for a batch.
        struct Queued: Sendable {
            var id: UInt64
            var request: Request
            var rows: Int
            var layout: BatchLayout
            var enqueued: Instant
            var deadline: Instant?
        }

        /// A batch to send: its members in row order.
        struct Dispatch: Sendable {
            var batchID: UInt64
            var members: [Queued]
            var rows: Int
            /// The latest of the members' deadlines, so that none is cut short; `nil` if any member has none.
            var deadline: Instant?
            /// Why the batch left now.
            var reason: Reason
        }

        /// Why a batch was sent.
        enum Reason: Hashable, Sendable {
            case idle, full, preferredSize, queueDelay, deadline
        }

        enum Action: Sendable {
            case send(Dispatch)
            case fail(ids: [UInt64], RoutingError)
        }

        private(set) var configuration: BatcherConfiguration
        private(set) var queue: [Queued] = []
        /// Batches sent and not yet answered: when each was sent and how many rows it had.
        private(set) var inFlight: [UInt64: (sent: Instant, rows: Int)] = [:]
        private(set) var predictor: ExecutionTimePredictor
        private var nextBatchID: UInt64 = 0

        init(configuration: BatcherConfiguration) {
            self.configuration = configuration.normalized
            self.predictor = ExecutionTimePredictor(initialEstimate: self.configuration.initialExecutionEstimate)
        }

        /// Accepts a request, or answers it at once (full queue, passed deadline); may send batches.
        mutating func enqueue(id: UInt64, request: Request, deadline: Instant?, now: Instant) -> [Action] {
            if let deadline, deadline <= now {
                return [
                    .fail(
                        ids: [id], RoutingError(.deadlineExceeded, "the deadline passed before the request was queued"))
                ]
            }
            guard self.queue.count < self.configuration.maxQueueSize else {
                return [
                    .fail(
                        ids: [id],
                        RoutingError(
                            .queueFull, "the batch queue is full (\(self.configuration.maxQueueSize) requests)")
                    )
                ]
            }
            let (layout, rows) = BatchLayout.of(request, id: id)
            self.queue.append(
                Queued(id: id, request: request, rows: rows, layout: layout, enqueued: now, deadline: deadline)
            )
            return self.evaluate(now: now)
        }

        /// Takes a request to send alone at once when nothing is queued and the upstream is idle — what
        /// ``enqueue(id:request:deadline:now:)`` would decide too, without queueing it first.
        /// - Returns: the batch of one, or `nil` when the request must go through the queue.
        mutating func sendAloneIfIdle(id: UInt64, request: Request, deadline: Instant?, now: Instant) -> Dispatch? {
            guard self.queue.isEmpty, self.inFlight.count < self.configuration.idleBatchesInFlight else { return nil }
            if let deadline, deadline <= now { return nil }  // enqueue answers it
            let (layout, rows) = BatchLayout.of(request, id: id)
            let alone = Queued(id: id, request: request, rows: rows, layout: layout, enqueued: now, deadline: deadline)
            return self.dispatch(Plan(members: [alone], indices: [], rows: rows), reason: .idle, now: now)
        }

        /// Removes a cancelled request from the queue.
        /// - Returns: whether it was queued (a request in flight is answered by the owner).
        mutating func cancel(id: UInt64) -> Bool {
            guard let index = self.queue.firstIndex(where: { $0.id == id }) else { return false }
            self.queue.remove(at: index)
            return true
        }

        /// A batch came back; frees its slot, learns its duration if it succeeded, and may send more.
        mutating func complete(batchID: UInt64, succeeded: Bool, now: Instant) -> [Action] {
            guard let batch = self.inFlight.removeValue(forKey: batchID) else { return self.evaluate(now: now) }
            if succeeded { self.predictor.observe(rows: batch.rows, duration: batch.sent.duration(to: now)) }
            return self.evaluate(now: now)
        }

        /// Time passed (a wake-up from ``nextWakeUp``): expires deadlines and sends batches whose time came.
        mutating func tick(now: Instant) -> [Action] { self.evaluate(now: now) }

        /// New limits; requests beyond a smaller queue bound stay queued.
        mutating func update(configuration: BatcherConfiguration, now: Instant) -> [Action] {
            self.configuration = configuration.normalized
            self.predictor.initialEstimate = self.configuration.initialExecutionEstimate
            return self.evaluate(now: now)
        }

        /// Fails every queued request (the batcher stops).
        mutating func shutDown() -> [Action] {
            let ids = self.queue.map(\.id)
            self.queue.removeAll()
            return ids.isEmpty ? [] : [.fail(ids: ids, RoutingError(.shutDown, "the batcher stopped"))]
        }

        /// When ``tick(now:)`` should next be called, or `nil` when nothing is waiting on time.
        var nextWakeUp: Instant? {
            var earliest: Instant? = nil
            func consider(_ instant: Instant?) {
                guard let instant else { return }
                if earliest == nil || instant < earliest! { earliest = instant }
            }
            for queued in self.queue { consider(queued.deadline) }
            if !self.queue.isEmpty, self.inFlight.count < self.configuration.maxBatchesInFlight {
                let plan = self.plan()
                consider(plan.members[0].enqueued.advanced(by: self.configuration.maxQueueDelay))
                consider(self.closeAt(plan))
            }
            return earliest
        }

        // MARK: Deciding

        private struct Plan {
            var members: [Queued]
            var indices: [Int]
            var rows: Int
        }

        private mutating func evaluate(now: Instant) -> [Action] {
            var actions: [Action] = []
            // Requests whose deadline passed are answered without being sent.
            var expired: [UInt64] = []
            self.queue.removeAll { queued in
                guard let deadline = queued.deadline, deadline <= now else { return false }
                expired.append(queued.id)
                return true
            }
            if !expired.isEmpty {
                actions.append(
                    .fail(
                        ids: expired,
                        RoutingError(.deadlineExceeded, "the deadline passed while the request was queued"))
                )
            }
            while !self.queue.isEmpty, self.inFlight.count < self.configuration.maxBatchesInFlight {
                var plan = self.plan()
                let reason: Reason
                if self.inFlight.count < self.configuration.idleBatchesInFlight {
                    reason = .idle
                } else if plan.rows >= self.configuration.maxBatchSize {
                    reason = .full
                } else if let preferred = self.preferredPrefix(of: plan) {
                    plan = preferred
                    reason = .preferredSize
                } else if plan.members[0].enqueued.advanced(by: self.configuration.maxQueueDelay) <= now {
                    reason = .queueDelay
                } else if let closeAt = self.closeAt(plan), closeAt <= now {
                    reason = .deadline
                } else {
                    break
                }
                actions.append(.send(self.dispatch(plan, reason: reason, now: now)))
            }
            return actions
        }

        /// The batch the head of the queue would go in now: queued requests of its layout, in order, while they fit.
        private func plan() -> Plan {
            let head = self.queue[0]
            var plan = Plan(members: [head], indices: [0], rows: head.rows)
            let limit = self.configuration.maxBatchSize
            guard head.rows < limit else { return plan }
            for index in self.queue.indices.dropFirst() where plan.rows < limit {
                let queued = self.queue[index]
                guard queued.layout == head.layout, plan.rows + queued.rows <= limit else { continue }
                plan.members.append(queued)
                plan.indices.append(index)
                plan.rows += queued.rows
            }
            return plan
        }

        /// The longest prefix of `plan` whose rows are a preferred batch size, if any.
        private func preferredPrefix(of plan: Plan) -> Plan? {
            let preferred = self.configuration.preferredBatchSizes
            guard !preferred.isEmpty else { return nil }
            var rows = 0
            var best: Int? = nil
            for (position, member) in plan.members.enumerated() {
                rows += member.rows
                if preferred.contains(rows) { best = position }
            }
            guard let best else { return nil }
            let members = Array(plan.members[...best])
            return Plan(
                members: members, indices: Array(plan.indices[...best]), rows: members.reduce(0) { $0 + $1.rows })
        }

        /// When the plan must leave to meet its earliest deadline: that deadline − predicted execution − reserve.
        private func closeAt(_ plan: Plan) -> Instant? {
            var earliest: Instant? = nil
            for member in plan.members {
                if let deadline = member.deadline, earliest == nil || deadline < earliest! { earliest = deadline }
            }
            guard let earliest else { return nil }
            let predicted = self.predictor.predict(rows: plan.rows)
            return earliest.advanced(by: .zero - predicted - self.configuration.deadlineReserve)
        }

        private mutating func dispatch(_ plan: Plan, reason: Reason, now: Instant) -> Dispatch {
            for index in plan.indices.reversed() { self.queue.remove(at: index) }
            self.nextBatchID &+= 1
            let id = self.nextBatchID
            self.inFlight[id] = (now, plan.rows)
            var deadline: Instant? = plan.members[0].deadline
            for member in plan.members {
                guard let memberDeadline = member.deadline, let current = deadline else {
                    deadline = nil
                    break
                }
                if memberDeadline > current { deadline = memberDeadline }
            }
            return Dispatch(batchID: id, members: plan.members, rows: plan.rows, deadline: deadline, reason: reason)
        }
    }
}
