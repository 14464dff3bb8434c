/// The limits of a ``Batcher``, named after Triton's `dynamic_batching` settings where they mean the same.
///
/// All limits can be changed while the batcher runs (``Batcher/updateConfiguration(_:)``).
public struct BatcherConfiguration: Sendable, Hashable {
    /// Most rows in one batch (the sum of the requests' first dimensions). A request with more rows is sent alone.
    public var maxBatchSize: Int = 32
    /// Batch sizes (rows) the model runs best at. While the upstream is busy, a batch that reaches one of these
    /// sizes is sent without waiting for more. Empty: only `maxBatchSize` counts as full.
    public var preferredBatchSizes: [Int] = []
    /// Longest time the oldest queued request waits for company while a batch slot is free but the upstream is
    /// busy (Triton's `max_queue_delay_microseconds`).
    public var maxQueueDelay: Duration = .microseconds(500)
    /// Most requests queued; a request that does not fit is answered `resource exhausted` at once
    /// (Triton's `default_queue_policy.max_queue_size`).
    public var maxQueueSize: Int = 1024
    /// Longest predicted wait behind full batches (the backlog) a request is admitted with; beyond it the request is
    /// refused at once with `resource exhausted` and a retry-after hint, so that under overload the requests accepted
    /// keep their latency and the refused ones cost little (Triton's queue policy `default_timeout_microseconds` with
    /// `REJECT`, decided at arrival from the predicted wait). The wait for the next slot to free is not counted: a
    /// request joining the batch that leaves with it adds no batch, and refusing it would only shrink batches.
    /// `nil`: only `maxQueueSize` and deadlines bound the queue.
    public var maxQueueTime: Duration? = nil
    /// The most queue time behind full batches while the upstream is overloaded: saturated (every batch slot busy and
    /// refilled from the queue, none free for ``saturationInterval``: a standing queue, CoDel's signal, as in
    /// Facebook's adaptive queue timeout) with arrivals outgrowing completions by more than ``overloadQueueGrowth``
    /// rows since, and by as much again measured afresh a ``saturationInterval`` later. A standing queue behind a saturated upstream adds latency and no throughput: while overloaded,
    /// arrivals are admitted into the batches about to leave and the rest are refused at once with a retry-after hint;
    /// at lower load bursts queue as ``maxQueueTime`` allows. A closed-loop client (one that sends a request when an
    /// answer comes back) also keeps every slot busy when it has more requests in flight than the slots hold, but its
    /// queue never grows past its requests in flight, and past the allowance only in a jump that stops: it is not
    /// refused. Every 16 intervals an overload is confirmed afresh (the allowance outgrown again), so that
    /// an overload that ended while the slots stay busy lets the limit go. Lowers ``maxQueueTime``, never raises it.
    /// `nil`: off. The router's `--saturated-queue-time-us` takes its default from here.
    public var saturatedQueueTime: Duration? = .milliseconds(1)
    /// Rows by which arrivals may outgrow completions while the upstream is saturated before it counts as overloaded
    /// (``saturatedQueueTime``): a closed-loop client with up to this many requests in flight never reaches it; an
    /// overload is confirmed afresh (every 16 intervals) after this many rows more than the upstream answered, a wait
    /// of this many rows' execution for those admitted meanwhile.
    public var overloadQueueGrowth: Int = 128
    /// How long every batch slot must stay busy before ``saturatedQueueTime`` applies (CoDel's interval).
    public var saturationInterval: Duration = .milliseconds(100)
    /// Rounds of every slot freed and refilled from the queue at once before a busy upstream counts as saturated too,
    /// so that a burst behind slow (or cold) batches, which drains in a round or two, is served rather than refused.
    public var saturationTurnovers: Int = 2
    /// Most batches in flight to the upstream at once; never exceeded.
    public var maxBatchesInFlight: Int = 2
    /// While fewer batches than this are in flight the upstream counts as idle, and queued requests are sent at
    /// once, alone if need be. Between this and `maxBatchesInFlight`, batches form and are sent when full, at a
    /// preferred size, after `maxQueueDelay`, or when a deadline presses. Equal to `maxBatchesInFlight`: pure
    /// self-clocked batching (send whatever is queued whenever a slot frees). Clamped to `1...maxBatchesInFlight`.
    public var idleBatchesInFlight: Int = 1
    /// Predicted execution time of a batch size never observed yet; deliberately high, so that deadlines are
    /// met while the predictor learns.
    public var initialExecutionEstimate: Duration = .milliseconds(10)
    /// Time kept in reserve for the stages after this one: a batch is sent when
    /// `earliest deadline − predicted execution time − deadlineReserve` is reached.
    public var deadlineReserve: Duration = .zero

    /// The defaults.
    public init() {}

    /// The defaults, changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout Self) -> Void) -> Self {
        var configuration = Self()
        configure(&configuration)
        return configuration
    }

    /// The same limits, forced into a range the batcher can work with.
    var normalized: Self {
        var copy = self
        copy.maxBatchSize = max(1, copy.maxBatchSize)
        copy.preferredBatchSizes = Array(Set(copy.preferredBatchSizes.filter { $0 >= 1 && $0 <= copy.maxBatchSize }))
            .sorted()
        copy.maxQueueSize = max(0, copy.maxQueueSize)
        copy.maxBatchesInFlight = max(1, copy.maxBatchesInFlight)
        copy.idleBatchesInFlight = min(max(1, copy.idleBatchesInFlight), copy.maxBatchesInFlight)
        copy.maxQueueDelay = max(.zero, copy.maxQueueDelay)
        copy.initialExecutionEstimate = max(.zero, copy.initialExecutionEstimate)
        copy.deadlineReserve = max(.zero, copy.deadlineReserve)
        copy.maxQueueTime = copy.maxQueueTime.map { max(.zero, $0) }
        copy.saturatedQueueTime = copy.saturatedQueueTime.map { max(.zero, $0) }
        copy.saturationInterval = max(.zero, copy.saturationInterval)
        copy.saturationTurnovers = max(0, copy.saturationTurnovers)
        copy.overloadQueueGrowth = max(0, copy.overloadQueueGrowth)
        return copy
    }

    /// The most queue time behind full batches an arrival is admitted with: ``maxQueueTime``, lowered to
    /// ``saturatedQueueTime`` while the upstream is overloaded; `nil`: no limit.
    /// - Parameter overloaded: whether the upstream is saturated and arrivals outgrow completions
    ///   (``saturatedQueueTime``).
    public func queueTimeLimit(overloaded: Bool) -> Duration? {
        guard overloaded, let tight = self.saturatedQueueTime else { return self.maxQueueTime }
        return self.maxQueueTime.map { min($0, tight) } ?? tight
    }

    /// Why a request with this predicted queueing and execution is refused at arrival, or `nil`: a deadline they
    /// would miss (`deadline exceeded`; only for a request that would wait), or a backlog over the queue-time limit
    /// (`resource exhausted`, saying when to retry).
    /// - Parameters:
    ///   - queue: the predicted wait in the queue (or queues, for a chain of batchers).
    ///   - backlog: the part of it behind full batches, beyond the next slot to free.
    ///   - execution: the predicted execution after it.
    ///   - timeLeft: until the request's deadline; `nil` for none.
    ///   - limit: the queue-time limit in force (``queueTimeLimit(overloaded:)``); `nil`: none.
    public func refusal(
        queue: Duration,
        backlog: Duration,
        execution: Duration,
        timeLeft: Duration?,
        limit: Duration?
    ) -> RoutingError? {
        // a request that would not wait is sent: refusing it on a prediction alone could refuse every request on a
        // stale one, and nothing would be sent to correct it
        if let timeLeft, queue > .zero, queue + execution > timeLeft {
            return RoutingError(
                .deadlineExceeded,
                "the deadline cannot be met: \(Self.milliseconds(timeLeft)) left, predicted queueing "
                    + "\(Self.milliseconds(queue)) and execution \(Self.milliseconds(execution))"
            )
        }
        if let limit, backlog > limit {
            return RoutingError(
                .queueFull,
                "overloaded: predicted queueing behind full batches \(Self.milliseconds(backlog)) exceeds the most "
                    + "queue time \(Self.milliseconds(limit)); retry after \(Self.milliseconds(backlog - limit))"
            )
        }
        return nil
    }

    /// `12.3 ms`, rounded up to a tenth of a millisecond.
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = Int((max(.zero, duration) / .microseconds(100)).rounded(.up))
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}
