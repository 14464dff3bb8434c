public import CoreMetrics
public import Logging
public import SwitchyardWire
import SwitchyardTracing
internal import Synchronization

/// A dynamic batcher for one (model, version): joins requests into batches for an upstream and splits the answers.
///
/// While the upstream is idle (fewer than ``BatcherConfiguration/idleBatchesInFlight`` batches in flight) a
/// request is sent at once, together with the rest of its burst (the requests already scheduled on the batcher's
/// executor, such as the other members of a batch the stage before answered), alone if it has none. While the
/// upstream is busy, requests queue and form batches, which leave when full, at a preferred size, when the oldest
/// has waited ``BatcherConfiguration/maxQueueDelay``, or earlier when the earliest deadline minus the predicted
/// execution time would otherwise be missed. Requests whose deadline passes in the queue are answered `deadline
/// exceeded` without being sent; cancelled ones `cancelled`; a full queue sheds with `resource exhausted`. Arrivals
/// are admitted by predicted queueing time: one whose deadline the predicted wait and execution would miss is
/// answered `deadline exceeded` at once, one whose wait behind full batches exceeds
/// ``BatcherConfiguration/maxQueueTime`` `resource exhausted` (``predictedLatency(rows:priority:)`` tells the prediction). Batches in flight stay within the
/// upstream's ``Upstream/concurrencyLimit`` (a pool's adaptive limits) as well as the configured one. Every accepted
/// request gets exactly one answer.
///
/// Call ``run()`` in a task (or a task group) for as long as the batcher serves; the decisions live in
/// ``BatcherStateMachine``. The clock is passed in so that tests can drive time.
public final class Batcher<C: Clock<Duration>>: Upstream, Sendable {

    /// Continuations are unchecked (a checked one costs an allocation per request): each leaves `waiting` or
    /// `runner` under the lock before it is resumed, so it is resumed exactly once.
    private struct State: ~Copyable {
        var machine: BatcherStateMachine
        var waiting: [UInt64: UnsafeContinuation<Response, any Error>] = [:]
        var nextID: UInt64 = 0
        /// When the timer fires, as time since ``origin``.
        var armed: Duration? = nil
        /// Cancels the one timer, set for `armed`; it is replaced (and cancelled) when an earlier wake-up is needed,
        /// so that timers never pile up.
        var timer: (@Sendable () -> Void)? = nil
        var stopped = false
        /// Batches for the run loop to send, in order.
        var pending: [BatcherStateMachine.Dispatch] = []
        /// The run loop, when it waits for commands.
        var runner: UnsafeContinuation<Void, Never>? = nil
        /// Batches sent: their members, and the upstream call once it started (cancelled when no member waits).
        var calls: [UInt64: (members: [UInt64], task: Task<Response, any Error>?)] = [:]
    }

    /// What to do once the lock is released (logging and metrics too: no lock is held across them).
    private struct Effects: Sendable {
        var answers: [(UnsafeContinuation<Response, any Error>, Result<Response, any Error>)] = []
        var runner: UnsafeContinuation<Void, Never>? = nil
        /// Upstream calls no member waits for any more.
        var abandoned: [Task<Response, any Error>] = []
        /// Batches handed to the run loop, to log and count.
        var sent: [(rows: Int, requests: Int, reason: BatcherStateMachine.Reason)] = []
        /// The queue's length after the change, when it was examined.
        var queueDepth: Int? = nil
    }

    private let state: Mutex<State>
    private let upstream: any Upstream
    private let clock: C
    /// Times inside the batcher are durations since this instant, so that its decisions are not generic code.
    private let origin: C.Instant
    private let logger: Logger
    private let metrics: BatcherMetrics
    /// The metrics' labels, as attributes of batch spans.
    private let spanAttributes: [(String, String)]
    /// Where the batcher's own tasks (timer, upstream calls) run; `nil`: the global executor.
    public let executor: (any TaskExecutor)?
    /// The executor's timers when it has them (an event loop's) and the clock is the continuous one: the timer then
    /// needs no task and no timer thread.
    private let wakeUps: (any WakeUpScheduler)?

    /// Makes a batcher; nothing is sent until ``run()`` runs.
    /// - Parameters:
    ///   - upstream: where batches go (an instance or an ``UpstreamPool``).
    ///   - configuration: the limits.
    ///   - clock: the time source for queue delays and deadlines.
    ///   - logger: for batch decisions, at debug and trace level.
    ///   - metricDimensions: labels of the batcher's metrics (`switchyard_batch_size`, `switchyard_batch_queue_depth`),
    ///     e.g. `[("model", "digits"), ("stage", "inference")]`.
    ///   - metricsFactory: where the metrics go; the process-wide one by default.
    public init(
        upstream: any Upstream,
        configuration: BatcherConfiguration = BatcherConfiguration(),
        clock: C,
        logger: Logger = Logger(label: "switchyard.batcher"),
        metricDimensions: [(String, String)] = [],
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        executor: (any TaskExecutor)? = nil
    ) {
        self.executor = executor
        self.wakeUps = C.self == ContinuousClock.self ? executor as? any WakeUpScheduler : nil  // real time only
        self.state = Mutex(State(machine: BatcherStateMachine(configuration: configuration)))
        self.upstream = upstream
        self.clock = clock
        self.origin = clock.now
        self.logger = logger
        self.metrics = BatcherMetrics(dimensions: metricDimensions, factory: metricsFactory)
        self.spanAttributes = metricDimensions
    }

    /// The time since ``origin``.
    private var now: Duration { self.origin.duration(to: self.clock.now) }

    /// The limits in force (normalized).
    public var configuration: BatcherConfiguration { self.state.withLock { $0.machine.configuration } }

    /// A snapshot of the queue, the batches in flight and the learned execution times.
    public var statistics: BatcherStatistics {
        self.state.withLock { state in
            BatcherStatistics(
                queuedRequests: state.machine.queue.count,
                batchesInFlight: state.machine.inFlight.count,
                executionTimes: state.machine.predictor
            )
        }
    }

    /// The predicted wait in the queue of a request of `rows` rows at `priority` if it arrived now, the part of it
    /// behind full batches (the backlog ``BatcherConfiguration/maxQueueTime`` limits), the predicted execution of
    /// the batch it would go in, and the queue-time limit in force (lower while the upstream is saturated,
    /// ``BatcherConfiguration/saturatedQueueTime``): what admission by queueing time decides on.
    /// - Parameters:
    ///   - rows: the request's rows.
    ///   - priority: its priority (less urgent requests queued do not delay it).
    public func predictedLatency(
        rows: Int,
        priority: UInt8
    ) -> (queue: Duration, backlog: Duration, execution: Duration, limit: Duration?) {
        let now = self.now
        return self.state.withLock { $0.machine.predictedLatency(rows: rows, priority: priority, now: now) }
    }

    /// Changes the limits while running; queued requests are re-examined at once.
    /// - Parameter configuration: the new limits.
    public func updateConfiguration(_ configuration: BatcherConfiguration) {
        let limit = self.upstream.concurrencyLimit
        let effects = self.state.withLock { state in
            state.machine.upstreamLimit = limit
            let actions = state.machine.update(configuration: configuration, now: self.now)
            return self.apply(actions, to: &state)
        }
        self.carryOut(effects)
    }

    /// Sends batches and keeps time until the task is cancelled; then fails whatever is still queued
    /// with `unavailable` and refuses new requests.
    @_specialize(exported:false,where C == ContinuousClock)
    public func run() async {
        await withTaskExecutorPreference(self.executor) {
            await self.runLoop()
        }
    }

    private func runLoop() async {
        await withDiscardingTaskGroup { group in
            while let dispatches = await self.nextDispatches() {
                for dispatch in dispatches {
                    group.addTask { await self.execute(dispatch) }
                }
            }
        }
    }

    /// Waits for batches to send; `nil` once the batcher stopped.
    private func nextDispatches() async -> [BatcherStateMachine.Dispatch]? {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let ready = self.state.withLock { state in
                    if !state.pending.isEmpty || state.stopped { return true }
                    state.runner = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
            return self.state.withLock { state -> [BatcherStateMachine.Dispatch]? in
                if state.stopped { return nil }
                defer { state.pending.removeAll() }
                return state.pending
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Stops taking requests: fails the queued ones and the batches not yet started with `unavailable`.
    private func stop() {
        let effects = self.state.withLock { state in
            state.stopped = true
            var effects = self.apply(state.machine.shutDown(), to: &state)
            let stopped = RoutingError(.shutDown, "the batcher stopped")
            state.timer?()
            state.timer = nil
            state.armed = nil
            for dispatch in state.pending {
                state.calls.removeValue(forKey: dispatch.batchID)
                for member in dispatch.members {
                    if let continuation = state.waiting.removeValue(forKey: member.id) {
                        effects.answers.append((continuation, .failure(stopped)))
                    }
                }
            }
            state.pending.removeAll()
            effects.runner = state.runner
            state.runner = nil
            return effects
        }
        self.carryOut(effects)
    }

    /// Queues a request for a batch and waits for its own part of the answer.
    /// - Parameters:
    ///   - request: a request for this batcher's model and version; its rows are its tensors' first dimension.
    ///   - deadline: when the caller stops waiting, on this batcher's clock; `nil` for none.
    /// - Returns: the response with this request's rows only.
    /// - Throws: `RoutingError` (`resource exhausted`, `deadline exceeded`, `cancelled`, `unavailable` after
    ///   shutdown), or the upstream's error (`Status` and other `StatusConvertible`s) for the batch.
    public func submit(_ request: Request, deadline: C.Instant?) async throws -> Response {
        try await self.enqueue(request, deadline: deadline.map { self.origin.duration(to: $0) })
    }

    /// Queues a request whose deadline is given as time since ``origin``.
    private func enqueue(_ request: Request, deadline: Duration?) async throws -> Response {
        let limit = self.upstream.concurrencyLimit
        let (id, gathering) = self.state.withLock { state -> (UInt64, Bool) in
            state.machine.upstreamLimit = limit
            state.nextID &+= 1
            guard !state.stopped, !Task.isCancelled else { return (state.nextID, false) }
            return (state.nextID, state.machine.startGathering())
        }
        if gathering {
            // The rest of this request's burst is already scheduled on this executor (the other members of the
            // batch the stage before answered, the other frames of a read): let it arrive and queue, then send.
            await Task.yield()
            let alone = self.state.withLock { state -> BatcherStateMachine.Dispatch? in
                guard !state.stopped, !Task.isCancelled else { return nil }
                return state.machine.sendAloneIfIdle(id: id, request: request, deadline: deadline, now: self.now)
            }
            if let alone { return try await self.sendAlone(alone) }
        }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Response, any Error>) in
                let effects = self.state.withLock { state -> Effects in
                    guard !state.stopped else {
                        return Effects(answers: [
                            (continuation, .failure(RoutingError(.shutDown, "the batcher stopped")))
                        ])
                    }
                    state.waiting[id] = continuation
                    let actions = state.machine.enqueue(
                        id: id,
                        request: request,
                        deadline: deadline,
                        now: self.now,
                        gathered: gathering
                    )
                    var effects = self.apply(actions, to: &state)
                    if Task.isCancelled { self.cancel(id: id, in: &state, effects: &effects) }
                    return effects
                }
                self.carryOut(effects)
            }
        } onCancel: {
            let effects = self.state.withLock { state in
                var effects = Effects()
                self.cancel(id: id, in: &state, effects: &effects)
                return effects
            }
            self.carryOut(effects)
        }
    }

    /// Queues a request, with a deadline on the continuous clock (the ``Upstream`` form of ``submit(_:deadline:)``).
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: when the caller stops waiting; `nil` for none.
    /// - Returns: the response with this request's rows only.
    /// - Throws: as ``submit(_:deadline:)``.
    @_specialize(exported:false,where C == ContinuousClock)
    public func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        // specialized for the continuous clock, as `UpstreamPool.call` is
        try await self.enqueue(request, deadline: deadline.map { self.now + ContinuousClock.now.duration(to: $0) })
    }

    // MARK: Carrying out decisions

    private func cancel(id: UInt64, in state: inout State, effects: inout Effects) {
        _ = state.machine.cancel(id: id)
        if let continuation = state.waiting.removeValue(forKey: id) {
            effects.answers.append(
                (continuation, .failure(RoutingError(.cancelled, "the caller cancelled the request")))
            )
            // the last member of a batch in flight gone: cancel the upstream call too
            for (_, call) in state.calls where call.members.contains(id) {
                if let task = call.task, !call.members.contains(where: { state.waiting[$0] != nil }) {
                    effects.abandoned.append(task)
                }
            }
        }
        self.rearm(&state, effects: &effects)
    }

    private func apply(_ actions: [BatcherStateMachine.Action], to state: inout State) -> Effects {
        var effects = Effects()
        for action in actions {
            switch action {
            case .send(let dispatch):
                if state.stopped {
                    for member in dispatch.members {
                        if let continuation = state.waiting.removeValue(forKey: member.id) {
                            effects.answers.append(
                                (continuation, .failure(RoutingError(.shutDown, "the batcher stopped")))
                            )
                        }
                    }
                } else {
                    effects.sent.append((dispatch.rows, dispatch.members.count, dispatch.reason))
                    state.calls[dispatch.batchID] = (dispatch.members.map(\.id), nil)
                    state.pending.append(dispatch)
                }
            case .fail(let ids, let error):
                for id in ids {
                    if let continuation = state.waiting.removeValue(forKey: id) {
                        effects.answers.append((continuation, .failure(error)))
                    }
                }
            }
        }
        self.rearm(&state, effects: &effects)
        effects.queueDepth = state.machine.queue.count
        if !state.pending.isEmpty, let runner = state.runner {
            state.runner = nil
            effects.runner = runner
        }
        return effects
    }

    /// Arms the timer when the state machine wants a wake-up earlier than the one armed; the later one is cancelled.
    private func rearm(_ state: inout State, effects: inout Effects) {
        guard !state.stopped, let next = state.machine.nextWakeUp else { return }
        if let armed = state.armed, armed <= next { return }
        state.armed = next
        state.timer?()
        if let wakeUps = self.wakeUps {
            state.timer = wakeUps.scheduleWakeUp(after: next - self.now) { self.wake(armed: next) }
            return
        }
        let clock = self.clock
        let instant = self.origin.advanced(by: next)
        let task = Task(executorPreference: self.executor) {
            do {
                try await clock.sleep(until: instant, tolerance: nil)
            } catch {
                return  // replaced by an earlier wake-up, or stopped
            }
            self.wake(armed: next)
        }
        state.timer = { task.cancel() }
    }

    private func carryOut(_ effects: Effects) {
        for batch in effects.sent {
            self.logger.trace(
                "batch sent",
                metadata: [
                    "batch.size": "\(batch.rows)", "batch.requests": "\(batch.requests)",
                    "batch.reason": "\(batch.reason)",
                ]
            )
            self.metrics.recordBatch(rows: batch.rows)
        }
        if let depth = effects.queueDepth { self.metrics.recordQueueDepth(depth) }
        effects.runner?.resume()
        for (continuation, result) in effects.answers { continuation.resume(with: result) }
        for task in effects.abandoned { task.cancel() }
    }

    private func wake(armed instant: Duration) {
        let limit = self.upstream.concurrencyLimit
        let effects = self.state.withLock { state in
            state.machine.upstreamLimit = limit
            if state.armed == instant {
                state.armed = nil
                state.timer = nil
            }
            let actions = state.machine.tick(now: self.now)
            return self.apply(actions, to: &state)
        }
        self.carryOut(effects)
    }

    /// An idle upstream gets a lone request straight from the caller's task: no queue, no hop through the run
    /// loop. The caller's cancellation reaches the upstream call directly, so the answer comes as soon as the
    /// upstream stops (ours stop at once); a member of a larger batch is answered `cancelled` without waiting.
    private func sendAlone(_ dispatch: BatcherStateMachine.Dispatch) async throws -> Response {
        self.metrics.recordBatch(rows: dispatch.rows)
        let deadline = dispatch.deadline.map { ContinuousClock.now.advanced(by: $0 - self.now) }
        var request = dispatch.members[0].request
        request.timeout = nil
        let result: Result<Response, any Error>
        do {
            result = .success(try await self.upstream.call(request, deadline: deadline))
        } catch {
            result = .failure(error)
        }
        let limit = self.upstream.concurrencyLimit
        let effects = self.state.withLock { state in
            state.machine.upstreamLimit = limit
            let succeeded = if case .success = result { true } else { false }
            let actions = state.machine.complete(batchID: dispatch.batchID, succeeded: succeeded, now: self.now)
            return self.apply(actions, to: &state)
        }
        self.carryOut(effects)
        // as a cancelled member of a batch is: whatever the upstream made of it, the caller gave up
        if Task.isCancelled { throw RoutingError(.cancelled, "the caller cancelled the request") }
        return try result.get()
    }

    private func execute(_ dispatch: BatcherStateMachine.Dispatch) async {
        let outcome: Result<[Response], any Error>
        var upstreamAnswered = false
        var span: RequestSpan? = nil
        do {
            var request = try BatchAssembly.join(dispatch.members.map(\.request))
            if dispatch.members.count > 1 {
                span = RequestTracing.startBatchSpan(
                    for: &request,
                    members: dispatch.members.map(\.request),
                    rows: dispatch.rows,
                    attributes: self.spanAttributes
                )
            }
            let deadline = dispatch.deadline.map { ContinuousClock.now.advanced(by: $0 - self.now) }
            // an unstructured task, so that the call can be cancelled when every member has been
            let upstream = self.upstream
            let call = Task(executorPreference: self.executor) { try await upstream.call(request, deadline: deadline) }
            let abandoned = self.state.withLock { state in
                state.calls[dispatch.batchID]?.task = call
                return !dispatch.members.contains { state.waiting[$0.id] != nil }
            }
            if abandoned { call.cancel() }
            let response = try await withTaskCancellationHandler {
                try await call.value
            } onCancel: {
                call.cancel()
            }
            upstreamAnswered = true
            span?.end(with: .success(response))
            outcome = .success(try BatchAssembly.split(response, rowCounts: dispatch.members.map(\.rows)))
        } catch {
            span?.end(with: .failure(error))
            if let routing = error as? RoutingError {
                self.logger.debug("batch failed", metadata: ["batch.size": "\(dispatch.rows)", "error": "\(routing)"])
            }
            outcome = .failure(error)
        }
        let limit = self.upstream.concurrencyLimit
        let effects = self.state.withLock { state in
            state.machine.upstreamLimit = limit
            state.calls.removeValue(forKey: dispatch.batchID)
            let actions = state.machine.complete(
                batchID: dispatch.batchID,
                succeeded: upstreamAnswered,
                now: self.now
            )
            var effects = self.apply(actions, to: &state)
            for (index, member) in dispatch.members.enumerated() {
                guard let continuation = state.waiting.removeValue(forKey: member.id) else { continue }
                switch outcome {
                case .success(let parts): effects.answers.append((continuation, .success(parts[index])))
                case .failure(let error): effects.answers.append((continuation, .failure(error)))
                }
            }
            return effects
        }
        self.carryOut(effects)
    }
}

extension Batcher where C == ContinuousClock {
    /// Makes a batcher on the continuous clock.
    /// - Parameters:
    ///   - upstream: where batches go.
    ///   - configuration: the limits.
    ///   - logger: for batch decisions.
    ///   - metricDimensions: labels of the batcher's metrics.
    public convenience init(
        upstream: any Upstream,
        configuration: BatcherConfiguration = BatcherConfiguration(),
        logger: Logger = Logger(label: "switchyard.batcher"),
        metricDimensions: [(String, String)] = [],
        executor: (any TaskExecutor)? = nil
    ) {
        self.init(
            upstream: upstream,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: logger,
            metricDimensions: metricDimensions,
            executor: executor
        )
    }
}

/// A snapshot of a ``Batcher`` for metrics and admin pages.
public struct BatcherStatistics: Sendable {
    /// Requests waiting for a batch.
    public var queuedRequests: Int
    /// Batches sent and not yet answered.
    public var batchesInFlight: Int
    /// The learned batch-size → execution-time curve.
    public var executionTimes: ExecutionTimePredictor
}
