internal import DequeModule
internal import SwitchyardTensor
internal import SwitchyardWire

/// The ``Batcher``'s decisions, as a value type: every mutating method returns the actions the batcher then
/// carries out (send a batch, answer requests with an error). It never reads a clock: `now` is passed in, as the
/// time since the batcher started on its clock. Not generic over the clock, so that it runs specialized.
///
/// An arrival costs O(1) in the common case: the batch the head of the queue would go in (the plan) is kept and
/// extended as requests arrive, and recomputed only when requests leave the queue.
///
/// Requests come in bursts: a batch answered by the stage before this one, or a read of several frames from a
/// client. The first arrival at an idle upstream therefore gathers the burst (``startGathering()``) before sending,
/// so that the burst leaves as one batch instead of a batch of one followed by the rest a whole round trip later.
///
/// Requests carry a priority (the wire's `priority`, higher is more urgent). The queue is kept in priority order,
/// arrival order within a priority, so batches form from the most urgent requests first; a full queue sheds its
/// least urgent request (the newest of them) to admit a more urgent one, and sheds the newcomer otherwise. With one
/// priority, as most traffic has, this is the plain first-come queue at the same cost.
///
/// Admission is by predicted queueing time, not only by count: an arrival's wait is the batches ahead of it (the
/// queued rows at its priority or above) leaving as slots free, each slot a batch per predicted batch time (the
/// learned execution times, which under load include the upstream's own queueing, so that slots ÷ batch time is the
/// throughput seen). An arrival whose deadline that wait plus its execution would miss is answered `deadline
/// exceeded` at once; one whose wait behind full batches (beyond the next slot to free, which no refusal shortens)
/// exceeds ``BatcherConfiguration/maxQueueTime`` is answered `resource exhausted` with a retry-after hint. Less
/// urgent queued requests do not count in an arrival's wait (it goes ahead of them); when it pushes the queue past its
/// time, the least urgent requests (the newest of them first) are shed. While the upstream is overloaded the limit is
/// ``BatcherConfiguration/saturatedQueueTime``: a standing queue behind a saturated upstream adds latency and no
/// throughput. Overloaded is saturated (every batch slot busy and refilled from the queue for
/// ``BatcherConfiguration/saturationInterval``) with arrivals outgrowing completions by more than
/// ``BatcherConfiguration/overloadQueueGrowth`` rows, and again by as much measured afresh a saturation interval
/// later (``updateOverload(now:)``): a closed-loop client only replaces what completes, so its standing
/// queue never grows past the requests it keeps in flight, and a larger loop's growth is a jump that stops, while an
/// open-loop overload grows without bound (arrivals refused for the queue's count, time or a deadline count as growth).
struct BatcherStateMachine: Sendable {
    typealias Instant = Duration

    /// A request waiting for a batch.
    struct Queued: Sendable {
        var id: UInt64
        var request: Request
        var rows: Int
        /// Requests share a batch only when their lanes (interned ``BatchLayout``s) are equal.
        var lane: Int
        var enqueued: Instant
        var deadline: Instant?
        /// Higher is more urgent.
        var priority: UInt8
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
    private(set) var queue: Deque<Queued> = []
    /// Rows queued per priority, so that an arrival's predicted wait costs no scan of the queue.
    private var queuedRows: [UInt8: Int] = [:]
    /// What the upstream takes in flight now (a pool's adaptive concurrency limit); `nil`: only the configuration
    /// limits. Set by the ``Batcher`` before each decision.
    var upstreamLimit: Int? = nil
    /// The earliest deadline in the queue, kept so that a request's arrival does not scan the whole queue.
    private var earliestQueuedDeadline: Instant? = nil
    /// The batch the head of the queue would go in now; `nil` when it must be recomputed (requests left the queue).
    private var cachedPlan: Plan? = nil
    /// Batches sent and not yet answered: when each was sent and how many rows it had.
    private(set) var inFlight: [UInt64: (sent: Instant, rows: Int)] = [:]
    private(set) var predictor: ExecutionTimePredictor
    private var nextBatchID: UInt64 = 0
    /// Lane numbers of the layouts seen, so that forming a batch compares integers, not layouts.
    private var lanes: [BatchLayout: Int] = [:]
    /// Never reused, so that a lane dropped from the table cannot be confused with a new one.
    private var nextLane = 0
    /// An arrival at the idle upstream is gathering its burst: idle sends wait until it ends.
    private(set) var gathering = false
    /// The last time a batch slot was seen free: the upstream is saturated when none has been since
    /// ``BatcherConfiguration/saturationInterval``.
    private var lastFreeSlot: Instant = .zero
    /// Slots freed and refilled from the queue at once since then: a burst drains in a round or two of the slots, a
    /// standing queue outlives more (``BatcherConfiguration/saturationTurnovers``).
    private var refillsSinceFreeSlot = 0
    /// When a saturation last ended (a slot seen free): one that comes back soon after needs no new interval, only
    /// the slots' turnovers, as CoDel resumes dropping (a slot frees for a moment even under overload).
    private var saturationEnded: Instant? = nil
    /// Rows of every arrival (admitted or refused) and of every batch answered, since the start: while saturated,
    /// their difference since a base is what the queue grew by (``updateOverload(now:)``).
    private var arrivedRows = 0
    private var completedRows = 0
    /// The two counts growth is measured from; `nil`: not saturated.
    private var growthBase: (arrived: Int, completed: Int)? = nil
    /// How far the overload test has come in the current saturation.
    private(set) var overload: OverloadPhase = .watching

    /// The overload test's phases (``updateOverload(now:)``).
    enum OverloadPhase: Equatable, Sendable {
        /// Saturated or not, the queue has not grown past the allowance since the base.
        case watching
        /// It grew past it once: a closed loop's jump (its requests moving into this stage, or refused ones sent
        /// again) ends within a saturation interval, after which the growth is measured afresh.
        case suspect(since: Instant)
        /// Measured afresh: growth past the allowance again is an overload.
        case confirming
        /// The saturated limit applies; after ``overloadProbeIntervals`` saturation intervals the test confirms afresh.
        case overloaded(since: Instant)
    }

    /// Saturation intervals between probes of an overload.
    static let overloadProbeIntervals = 16

    /// Most layouts remembered; past it the table starts over (equal layouts queued across the reset then wait for
    /// separate batches, which is correct, only less full).
    static let maxLanes = 1024

    init(configuration: BatcherConfiguration) {
        self.configuration = configuration.normalized
        self.predictor = ExecutionTimePredictor(initialEstimate: self.configuration.initialExecutionEstimate)
    }

    /// Starts gathering a burst when an arrival finds the upstream idle and nothing queued; the arrival then lets
    /// the rest of its burst arrive (they queue) and comes back with ``sendAloneIfIdle(id:request:deadline:now:)``
    /// or ``enqueue(id:request:deadline:now:gathered:)``, which end the gathering.
    /// - Returns: whether this arrival gathers; `false`: it queues as usual.
    mutating func startGathering() -> Bool {
        guard !self.gathering, self.queue.isEmpty, self.inFlight.count < self.idleInFlight else {
            return false
        }
        self.gathering = true
        return true
    }

    /// Accepts a request, or answers it at once (full queue, passed deadline); may send batches.
    /// - Parameter gathered: the request gathered a burst (``startGathering()``): it goes to the head of the queue,
    ///   as it arrived first, and the gathering ends.
    mutating func enqueue(
        id: UInt64,
        request: Request,
        deadline: Instant?,
        now: Instant,
        gathered: Bool = false
    ) -> [Action] {
        if gathered { self.gathering = false }
        self.noteFreeSlot(now: now)
        let rows = BatchLayout.rows(of: request)
        self.noteArrival(rows: rows, now: now)
        if let deadline, deadline <= now {
            return [
                .fail(ids: [id], RoutingError(.deadlineExceeded, "the deadline passed before the request was queued"))
            ]
                + (gathered ? self.evaluate(now: now) : [])
        }
        let predicted = self.predictedLatency(rows: rows, priority: request.priority, now: now)
        // less urgent requests queued do not count in the prediction: the arrival goes ahead of them
        if let refusal = self.refusal(predicted, deadline: deadline, now: now) {
            return [.fail(ids: [id], refusal)] + (gathered ? self.evaluate(now: now) : [])
        }
        var shed: [Action] = []
        if self.queue.count >= self.configuration.maxQueueSize {
            guard let victim = self.leastUrgent(below: request.priority) else {
                return [
                    .fail(
                        ids: [id],
                        RoutingError(
                            .queueFull,
                            "the batch queue is full (\(self.configuration.maxQueueSize) requests)"
                        )
                    )
                ]
                    + (gathered ? self.evaluate(now: now) : [])
            }
            let removed = self.queue.remove(at: victim)
            self.removed(removed)
            self.cachedPlan = nil
            self.recomputeEarliestDeadline()
            let message =
                "the batch queue is full (\(self.configuration.maxQueueSize) requests); shed for a more urgent request"
            shed = [.fail(ids: [removed.id], RoutingError(.queueFull, message))]
        }
        let queued = self.queued(id: id, request: request, deadline: deadline, now: now)
        self.queuedRows[queued.priority, default: 0] += queued.rows
        if let deadline, self.earliestQueuedDeadline.map({ deadline < $0 }) ?? true {
            self.earliestQueuedDeadline = deadline
        }
        var reordered = false
        if gathered {
            self.queue.insert(queued, at: 0)
        } else if let last = self.queue.last, last.priority < queued.priority {
            // ahead of every less urgent request, behind those of its own priority
            let index = self.queue.firstIndex { $0.priority < queued.priority } ?? self.queue.count
            self.queue.insert(queued, at: index)
            reordered = true
        } else {
            self.queue.append(queued)
        }
        if gathered || reordered || self.queue.count == 1 {
            self.cachedPlan = nil
        } else if var plan = self.cachedPlan {
            // what plan() would add scanning to the end: the newcomer, if it shares the head's lane and fits
            if plan.rows < self.configuration.maxBatchSize, queued.lane == self.queue[0].lane,
                plan.rows + queued.rows <= self.configuration.maxBatchSize
            {
                plan.indices.append(self.queue.count - 1)
                plan.rows += queued.rows
                if let deadline, plan.earliestDeadline.map({ deadline < $0 }) ?? true {
                    plan.earliestDeadline = deadline
                }
                self.cachedPlan = plan
            }
        }
        return shed + self.shedForQueueTime(priority: queued.priority, now: now) + self.evaluate(now: now)
    }

    /// Records that a batch slot is free now. Called before each event changes the state: between events it does not
    /// change, so a slot free now was free since the last event.
    private mutating func noteFreeSlot(now: Instant) {
        guard self.inFlight.count < self.maxInFlight else { return }
        if self.isSaturated(now: now, busy: true) { self.saturationEnded = now }
        self.lastFreeSlot = max(self.lastFreeSlot, now)
        self.refillsSinceFreeSlot = 0
        self.growthBase = nil
        self.overload = .watching
    }

    /// Counts an arriving request's rows, before anything decides on it, and updates whether the upstream is
    /// overloaded: the base is taken before the arrival, so that it counts as growth.
    private mutating func noteArrival(rows: Int, now: Instant) {
        self.updateOverload(now: now)
        self.arrivedRows &+= rows
        self.updateOverload(now: now)
    }

    /// While saturated, whether arrivals outgrow completions: by more than ``BatcherConfiguration/overloadQueueGrowth``
    /// rows since the saturation began (suspect), and, measured afresh a saturation interval later, by as much again
    /// (overloaded). A closed loop's growth is bounded by its requests in flight and comes as a jump that stops; an
    /// open loop's goes on. An overload is confirmed afresh every ``overloadProbeIntervals`` intervals, so
    /// that one that ended while the slots stay busy lets the limit go.
    private mutating func updateOverload(now: Instant) {
        guard self.isSaturated(now: now) else { return }
        let counts = (arrived: self.arrivedRows, completed: self.completedRows)
        guard let base = self.growthBase else {
            self.growthBase = counts
            return
        }
        let interval = self.configuration.saturationInterval
        let grown =
            (counts.arrived &- base.arrived) &- (counts.completed &- base.completed)
            > self.configuration.overloadQueueGrowth
        switch self.overload {
        case .watching:
            if grown { self.overload = .suspect(since: now) }
        case .suspect(let since):
            guard now - since >= interval else { return }
            self.growthBase = counts
            self.overload = .confirming
        case .confirming:
            if grown { self.overload = .overloaded(since: now) }
        case .overloaded(let since):
            guard now - since >= interval * Self.overloadProbeIntervals else { return }
            self.growthBase = counts
            self.overload = .confirming
        }
    }

    /// Whether the upstream is overloaded (``updateOverload(now:)``): saturated, and arrivals outgrow completions.
    var isOverloaded: Bool {
        if case .overloaded = self.overload { return true }
        return false
    }

    /// Whether every batch slot is busy, none has been free for ``BatcherConfiguration/saturationInterval``, and the
    /// slots were refilled from the queue for ``BatcherConfiguration/saturationTurnovers`` rounds meanwhile: a
    /// standing queue.
    func isSaturated(now: Instant) -> Bool { self.isSaturated(now: now, busy: self.inFlight.count >= self.maxInFlight) }

    /// ``isSaturated(now:)`` with whether every slot is busy given; a saturation that ended within 16 intervals (as
    /// CoDel's) needs only the turnovers to return.
    private func isSaturated(now: Instant, busy: Bool) -> Bool {
        let interval = self.configuration.saturationInterval
        let resumes = self.saturationEnded.map { now - $0 < interval * 16 } ?? false
        return busy && self.refillsSinceFreeSlot >= self.configuration.saturationTurnovers * self.maxInFlight
            && (resumes || now - self.lastFreeSlot >= interval)
    }

    /// The queue-time limit in force (``BatcherConfiguration/queueTimeLimit(overloaded:)``); an overload ends only at
    /// an event (a slot seen free), so the state kept since the last one holds.
    func queueTimeLimit(now: Instant) -> Duration? {
        self.configuration.queueTimeLimit(overloaded: self.isOverloaded)
    }

    /// A queue over its time because a more urgent request went ahead: its least urgent requests (newest first),
    /// less urgent than `priority`, are shed until it is within its time again.
    private mutating func shedForQueueTime(priority: UInt8, now: Instant) -> [Action] {
        guard priority > 0, let limit = self.queueTimeLimit(now: now) else { return [] }
        var shed: [UInt64] = []
        var total = self.queuedRowCount
        // the least urgent, newest request is the last of the queue, the one that waits longest
        while let victim = self.leastUrgent(below: priority),
            self.wait(ahead: total - self.queue[victim].rows, now: now).backlog > limit
        {
            let removed = self.queue.remove(at: victim)
            total -= removed.rows
            self.removed(removed)
            shed.append(removed.id)
        }
        guard !shed.isEmpty else { return [] }
        self.cachedPlan = nil
        self.recomputeEarliestDeadline()
        return [.fail(ids: shed, RoutingError(.queueFull, "shed from the batch queue for more urgent requests"))]
    }

    // MARK: Predicting

    /// Rows queued, at every priority.
    var queuedRowCount: Int { self.queuedRows.values.reduce(0, +) }

    /// The slots batches may fill now: the configured limit, within the upstream's.
    var maxInFlight: Int { max(1, min(self.configuration.maxBatchesInFlight, self.upstreamLimit ?? .max)) }

    private var idleInFlight: Int { min(self.configuration.idleBatchesInFlight, self.maxInFlight) }

    /// The predicted wait in the queue of `rows` more rows at `priority` arriving at `now`, the part of it spent
    /// behind full batches (the backlog, what ``BatcherConfiguration/maxQueueTime`` limits), the predicted
    /// execution of the batch they would go in, and the queue-time limit in force (``queueTimeLimit(now:)``).
    ///
    /// The rows queued at that priority or above leave first, in full batches, and the arrival leaves with the next
    /// slot to free after them (``wait(ahead:now:)``). Under load the learned times include the upstream's own
    /// queueing, so that slots ÷ batch time is the throughput seen.
    func predictedLatency(
        rows: Int,
        priority: UInt8,
        now: Instant
    ) -> (queue: Duration, backlog: Duration, execution: Duration, limit: Duration?) {
        var ahead = 0
        for (level, queued) in self.queuedRows where level >= priority { ahead += queued }
        let batch = self.configuration.maxBatchSize
        let (wait, backlog) = self.wait(ahead: ahead, now: now)
        let execution = self.predictor.predict(rows: max(1, min(batch, ahead % batch + rows)))
        return (wait, backlog, execution, self.queueTimeLimit(now: now))
    }

    /// The predicted wait of a request behind `ahead` queued rows, and the part of it after the first slot frees.
    ///
    /// The full batches those rows make leave first, each with the next slot to free, and the request with the one
    /// after them. A slot frees when its batch in flight is predicted to end (sent + the predicted time of its rows;
    /// at once when overdue or when the slot is free), and then every predicted full-batch time. So a request that
    /// joins the batch forming at the head waits only for the first slot to free, with no backlog: refusing it
    /// would not shorten anyone's wait, only make batches smaller.
    private func wait(ahead: Int, now: Instant) -> (wait: Duration, backlog: Duration) {
        let slots = self.maxInFlight
        let full = ahead / self.configuration.maxBatchSize
        func end(_ sent: (sent: Instant, rows: Int)) -> Duration {
            max(.zero, sent.sent + self.predictor.predict(rows: sent.rows) - now)
        }
        // the first slot to free: a free slot now, else the earliest predicted end (of the batches beyond a
        // lowered limit, the earliest that leaves `slots` in flight)
        if full == 0 {
            guard self.inFlight.count >= slots else { return (.zero, .zero) }
            if self.inFlight.count == slots {
                var first: Duration? = nil
                for sent in self.inFlight.values {
                    let end = end(sent)
                    if first.map({ end < $0 }) ?? true { first = end }
                }
                return (first ?? .zero, .zero)
            }
        }
        var ends = self.inFlight.values.map(end).sorted()
        if ends.count > slots { ends.removeFirst(ends.count - slots) }
        while ends.count < slots { ends.insert(.zero, at: 0) }
        // the (full + 1)-th slot to free; after a round of every slot, each frees again a full batch later
        let round = full / slots
        let leaves = ends[full % slots] + self.predictor.predict(rows: self.configuration.maxBatchSize) * round
        return (leaves, leaves - ends[0])
    }

    /// Why an arrival with this prediction is refused, or `nil`
    /// (``BatcherConfiguration/refusal(queue:backlog:execution:timeLeft:)``).
    func refusal(
        _ predicted: (queue: Duration, backlog: Duration, execution: Duration, limit: Duration?),
        deadline: Instant?,
        now: Instant
    ) -> RoutingError? {
        self.configuration.refusal(
            queue: predicted.queue,
            backlog: predicted.backlog,
            execution: predicted.execution + self.configuration.deadlineReserve,
            timeLeft: deadline.map { $0 - now },
            limit: predicted.limit
        )
    }

    /// Books a request that left the queue.
    private mutating func removed(_ queued: Queued) {
        let left = (self.queuedRows[queued.priority] ?? 0) - queued.rows
        self.queuedRows[queued.priority] = left > 0 ? left : nil
    }

    /// The position of the queue's least urgent request (the newest of them) when it is less urgent than
    /// `priority`, or `nil`: what a full queue sheds to admit a request of that priority.
    private func leastUrgent(below priority: UInt8) -> Int? {
        guard priority > 0 else { return nil }  // nothing is less urgent than 0: the usual case costs no scan
        var lowest: Int? = nil
        var lowestPriority = priority
        // from the back: among equally urgent requests the newest is found first and kept
        for index in self.queue.indices.reversed() where self.queue[index].priority < lowestPriority {
            lowest = index
            lowestPriority = self.queue[index].priority
        }
        return lowest
    }

    /// Takes a request to send alone at once when nothing is queued and the upstream is idle — what
    /// ``enqueue(id:request:deadline:now:gathered:)`` would decide too, without queueing it first. Ends a gathering
    /// that found no company.
    /// - Returns: the batch of one, or `nil` when the request must go through the queue.
    mutating func sendAloneIfIdle(id: UInt64, request: Request, deadline: Instant?, now: Instant) -> Dispatch? {
        self.noteFreeSlot(now: now)
        guard self.queue.isEmpty, self.inFlight.count < self.idleInFlight else { return nil }
        let rows = BatchLayout.rows(of: request)
        // enqueue answers one whose deadline passed or cannot be met
        if let deadline, now + self.predictor.predict(rows: rows) + self.configuration.deadlineReserve > deadline {
            return nil
        }
        self.arrivedRows &+= rows  // counted here only when sent: enqueue counts the others
        self.gathering = false
        let alone = Queued(
            id: id,
            request: request,
            rows: rows,
            lane: 0,
            enqueued: now,
            deadline: deadline,
            priority: request.priority
        )
        return self.dispatch(
            Plan(indices: [], rows: alone.rows, earliestDeadline: deadline),
            alone: alone,
            reason: .idle,
            now: now
        )
    }

    /// Removes a cancelled request from the queue.
    /// - Returns: whether it was queued (a request in flight is answered by the owner).
    mutating func cancel(id: UInt64) -> Bool {
        guard let index = self.queue.firstIndex(where: { $0.id == id }) else { return false }
        self.removed(self.queue.remove(at: index))
        self.cachedPlan = nil
        self.recomputeEarliestDeadline()
        return true
    }

    /// A batch came back; frees its slot, learns its duration if it succeeded, and may send more.
    mutating func complete(batchID: UInt64, succeeded: Bool, now: Instant) -> [Action] {
        self.noteFreeSlot(now: now)
        guard let batch = self.inFlight.removeValue(forKey: batchID) else { return self.evaluate(now: now) }
        if succeeded { self.predictor.observe(rows: batch.rows, duration: now - batch.sent) }
        self.completedRows &+= batch.rows
        let actions = self.evaluate(now: now)
        if self.inFlight.count >= self.maxInFlight {
            self.refillsSinceFreeSlot += 1
            self.updateOverload(now: now)
        } else {
            self.noteFreeSlot(now: now)
        }
        return actions
    }

    /// Time passed (a wake-up from ``nextWakeUp``): expires deadlines and sends batches whose time came.
    mutating func tick(now: Instant) -> [Action] {
        self.noteFreeSlot(now: now)
        self.updateOverload(now: now)
        return self.evaluate(now: now)
    }

    /// New limits; requests beyond a smaller queue bound stay queued.
    mutating func update(configuration: BatcherConfiguration, now: Instant) -> [Action] {
        self.noteFreeSlot(now: now)
        self.configuration = configuration.normalized
        self.predictor.initialEstimate = self.configuration.initialExecutionEstimate
        self.cachedPlan = nil
        return self.evaluate(now: now)
    }

    /// Fails every queued request (the batcher stops).
    mutating func shutDown() -> [Action] {
        let ids = self.queue.map { $0.id }
        self.queue.removeAll()
        self.queuedRows.removeAll()
        self.cachedPlan = nil
        self.earliestQueuedDeadline = nil
        return ids.isEmpty ? [] : [.fail(ids: ids, RoutingError(.shutDown, "the batcher stopped"))]
    }

    /// When ``tick(now:)`` should next be called, or `nil` when nothing is waiting on time.
    var nextWakeUp: Instant? {
        mutating get {
            var earliest = self.earliestQueuedDeadline
            if !self.queue.isEmpty, !self.gathering, self.inFlight.count < self.maxInFlight {
                let delay = self.queue[0].enqueued + self.configuration.maxQueueDelay
                if earliest.map({ delay < $0 }) ?? true { earliest = delay }
                if let closeAt = self.closeAt(self.plan()), closeAt < earliest! { earliest = closeAt }
            }
            return earliest
        }
    }

    private mutating func queued(id: UInt64, request: Request, deadline: Instant?, now: Instant) -> Queued {
        let (layout, rows) = BatchLayout.of(request, id: id)
        return Queued(
            id: id,
            request: request,
            rows: rows,
            lane: self.lane(of: layout),
            enqueued: now,
            deadline: deadline,
            priority: request.priority
        )
    }

    /// The lane of a layout: interned, except loners, which never share (their lane is unique and negative).
    private mutating func lane(of layout: BatchLayout) -> Int {
        if let loner = layout.loner { return -1 - Int(truncatingIfNeeded: loner & 0x3FFF_FFFF_FFFF_FFFF) }
        if let lane = self.lanes[layout] { return lane }
        if self.lanes.count >= Self.maxLanes { self.lanes.removeAll() }
        self.nextLane += 1
        self.lanes[layout] = self.nextLane
        return self.nextLane
    }

    private mutating func recomputeEarliestDeadline() {
        var earliest: Instant? = nil
        for queued in self.queue {
            if let deadline = queued.deadline, earliest.map({ deadline < $0 }) ?? true { earliest = deadline }
        }
        self.earliestQueuedDeadline = earliest
    }

    // MARK: Deciding

    /// A batch the queue could send now: positions in the queue (not copies of the requests), their rows and their
    /// earliest deadline.
    private struct Plan {
        var indices: [Int]
        var rows: Int
        var earliestDeadline: Instant?
    }

    private mutating func evaluate(now: Instant) -> [Action] {
        var actions: [Action] = []
        // Requests whose deadline passed are answered without being sent.
        if let earliest = self.earliestQueuedDeadline, earliest <= now {
            var expired: [Queued] = []
            self.queue.removeAll { queued in
                guard let deadline = queued.deadline, deadline <= now else { return false }
                expired.append(queued)
                return true
            }
            for queued in expired { self.removed(queued) }
            self.cachedPlan = nil
            self.recomputeEarliestDeadline()
            actions.append(
                .fail(
                    ids: expired.map(\.id),
                    RoutingError(.deadlineExceeded, "the deadline passed while the request was queued")
                )
            )
        }
        while !self.queue.isEmpty, self.inFlight.count < self.maxInFlight {
            var plan = self.plan()
            let reason: Reason
            if self.inFlight.count < self.idleInFlight {
                if self.gathering, plan.rows < self.configuration.maxBatchSize { break }  // the burst leaves whole
                reason = .idle
            } else if plan.rows >= self.configuration.maxBatchSize {
                reason = .full
            } else if let preferred = self.preferredPrefix(of: plan) {
                plan = preferred
                reason = .preferredSize
            } else if self.queue[0].enqueued + self.configuration.maxQueueDelay <= now {
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

    /// The batch the head of the queue would go in now: queued requests of its lane, in order, while they fit.
    private mutating func plan() -> Plan {
        if let cached = self.cachedPlan { return cached }
        let head = self.queue[0]
        var plan = Plan(indices: [0], rows: head.rows, earliestDeadline: head.deadline)
        let limit = self.configuration.maxBatchSize
        var index = 1
        while index < self.queue.count, plan.rows < limit {
            let queued = self.queue[index]
            if queued.lane == head.lane, plan.rows + queued.rows <= limit {
                plan.indices.append(index)
                plan.rows += queued.rows
                if let deadline = queued.deadline, plan.earliestDeadline.map({ deadline < $0 }) ?? true {
                    plan.earliestDeadline = deadline
                }
            }
            index += 1
        }
        self.cachedPlan = plan
        return plan
    }

    /// The longest prefix of `plan` whose rows are a preferred batch size, if any.
    private func preferredPrefix(of plan: Plan) -> Plan? {
        let preferred = self.configuration.preferredBatchSizes
        guard let smallest = preferred.first, smallest <= plan.rows else { return nil }
        var rows = 0
        var best: Int? = nil
        for (position, index) in plan.indices.enumerated() {
            rows += self.queue[index].rows
            if preferred.contains(rows) { best = position }
        }
        guard let best else { return nil }
        var prefix = Plan(indices: Array(plan.indices[...best]), rows: 0, earliestDeadline: nil)
        for index in prefix.indices {
            prefix.rows += self.queue[index].rows
            if let deadline = self.queue[index].deadline, prefix.earliestDeadline.map({ deadline < $0 }) ?? true {
                prefix.earliestDeadline = deadline
            }
        }
        return prefix
    }

    /// When the plan must leave to meet its earliest deadline: that deadline − predicted execution − reserve.
    private func closeAt(_ plan: Plan) -> Instant? {
        guard let earliest = plan.earliestDeadline else { return nil }
        return earliest - self.predictor.predict(rows: plan.rows) - self.configuration.deadlineReserve
    }

    private mutating func dispatch(_ plan: Plan, alone: Queued? = nil, reason: Reason, now: Instant) -> Dispatch {
        let members = alone.map { [$0] } ?? plan.indices.map { self.queue[$0] }
        if !plan.indices.isEmpty {
            self.cachedPlan = nil
            for index in plan.indices { self.removed(self.queue[index]) }
            if plan.indices.count == self.queue.count {
                self.queue.removeAll(keepingCapacity: true)
            } else if plan.indices.last == plan.indices.count - 1 {
                self.queue.removeFirst(plan.indices.count)  // a prefix, the common case
            } else {
                for index in plan.indices.reversed() { self.queue.remove(at: index) }
            }
            if plan.earliestDeadline != nil { self.recomputeEarliestDeadline() }
        }
        self.nextBatchID &+= 1
        let id = self.nextBatchID
        self.inFlight[id] = (now, plan.rows)
        var deadline: Instant? = members[0].deadline
        for member in members {
            guard let memberDeadline = member.deadline, let current = deadline else {
                deadline = nil
                break
            }
            if memberDeadline > current { deadline = memberDeadline }
        }
        return Dispatch(batchID: id, members: members, rows: plan.rows, deadline: deadline, reason: reason)
    }
}
