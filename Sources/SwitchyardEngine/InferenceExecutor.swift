import Foundation
public import SwitchyardTensor
import Synchronization

/// Runs inferences on a fixed set of dedicated threads behind an `async` API, so CPU-bound work
/// never blocks Swift's cooperative pool or an event loop.
///
/// Work is taken in arrival order. The queue is bounded: when `queueLimit` inferences are already
/// waiting, ``infer(_:_:outputNames:)`` fails at once with `EngineError.unavailable` (the caller sheds
/// load) instead of queueing without limit. A task cancelled while waiting is removed from the queue,
/// and work whose deadline has passed when its turn comes is not run.
///
/// OpenBLAS's own thread count (``BLAS/setThreadCount(_:)``) multiplies with `threads`: with several
/// executor threads, one BLAS thread each usually gives the best throughput. Call ``shutdown()`` when
/// done: the threads keep the executor alive until then.
public final class InferenceExecutor: Sendable {
    private struct Job {
        var id: UInt64
        var work: @Sendable () -> Void
        var cancel: @Sendable () -> Void
    }

    private struct State {
        var jobs: [Job] = []
        var nextID: UInt64 = 0
        var stopped = false
    }

    private let state = Mutex<State>(State())
    private let condition = NSCondition()
    /// Nanoseconds the threads spent running work, summed over threads.
    private let busy = Atomic<UInt64>(0)
    /// The number of worker threads.
    public let threads: Int
    /// The most inferences allowed to wait for a thread.
    public let queueLimit: Int

    /// Starts the worker threads.
    /// - Parameters:
    ///   - threads: worker threads (inferences running at once); at least 1.
    ///   - queueLimit: inferences allowed to wait; more are refused.
    public init(threads: Int = 1, queueLimit: Int = 1024) {
        self.threads = max(1, threads)
        self.queueLimit = max(0, queueLimit)
        for index in 0..<self.threads {
            let thread = Thread { [self] in self.workLoop() }
            thread.name = "switchyard-inference-\(index)"
            thread.start()
        }
    }

    /// Runs `model` on `inputs` on one of the executor's threads.
    /// - Parameters:
    ///   - model: the loaded model.
    ///   - inputs: its inputs by name.
    ///   - outputNames: the outputs wanted, or `nil` for all.
    ///   - deadline: when the answer stops being useful; if it has passed when a thread takes the work,
    ///     the work is skipped with `EngineError.deadlineExceeded`.
    /// - Returns: the outputs.
    /// - Throws: whatever `Model.run` throws; `EngineError.unavailable` when the queue is full or the
    ///   executor is shut down; `CancellationError` when the task is cancelled before its turn.
    public func infer(
        _ model: Model, _ inputs: [NamedTensor], outputNames: [String]? = nil, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [NamedTensor] {
        try await self.inferTimed(model, inputs, outputNames: outputNames, deadline: deadline).outputs
    }

    /// ``infer(_:_:outputNames:deadline:)`` that also says how long the model itself ran (without the wait for
    /// a thread), so that a version's own speed can be told from the queue it shares.
    public func inferTimed(
        _ model: Model, _ inputs: [NamedTensor], outputNames: [String]? = nil, deadline: ContinuousClock.Instant? = nil
    ) async throws -> (outputs: [NamedTensor], compute: Duration) {
        try Task.checkCancellation()
        let box = Mutex<UInt64?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<([NamedTensor], Duration), any Error>) in
                let once = Mutex<CheckedContinuation<([NamedTensor], Duration), any Error>?>(continuation)
                let work: @Sendable () -> Void = {
                    if let deadline, ContinuousClock.now >= deadline {
                        once.withLock { $0.take() }?.resume(
                            throwing: EngineError(.deadlineExceeded, "the deadline passed before the inference started")
                        )
                        return
                    }
                    let started = ContinuousClock.now
                    let result = Result { () throws(EngineError) -> ([NamedTensor], Duration) in
                        (try model.run(inputs, outputNames: outputNames), started.duration(to: .now))
                    }
                    once.withLock { $0.take() }?.resume(with: result.mapError { $0 as any Error })
                }
                let cancel: @Sendable () -> Void = {
                    once.withLock { $0.take() }?.resume(throwing: CancellationError())
                }
                let refusal: EngineError? = self.state.withLock { state in
                    if state.stopped { return EngineError(.unavailable, "the inference executor is shut down") }
                    if state.jobs.count >= self.queueLimit {
                        return EngineError(
                            .unavailable,
                            "\(state.jobs.count) inferences are already waiting (limit \(self.queueLimit))")
                    }
                    state.nextID += 1
                    state.jobs.append(Job(id: state.nextID, work: work, cancel: cancel))
                    box.withLock { $0 = state.nextID }
                    return nil
                }
                if let refusal {
                    once.withLock { $0.take() }?.resume(throwing: refusal)
                    return
                }
                self.condition.lock()
                self.condition.signal()
                self.condition.unlock()
            }
        } onCancel: {
            guard let id = box.withLock({ $0 }) else { return }
            let job = self.state.withLock { state -> Job? in
                guard let index = state.jobs.firstIndex(where: { $0.id == id }) else { return nil }
                return state.jobs.remove(at: index)
            }
            job?.cancel()
        }
    }

    /// The number of inferences waiting for a thread.
    public var waiting: Int { self.state.withLock { $0.jobs.count } }

    /// Seconds the threads have spent running inferences, summed over threads: its rate over `threads` is the
    /// executor's busy fraction.
    public var busySeconds: Double { Double(self.busy.load(ordering: .relaxed)) / 1e9 }

    /// Stops the threads after the inferences already queued have run; later calls are refused.
    public func shutdown() {
        self.state.withLock { $0.stopped = true }
        self.condition.lock()
        self.condition.broadcast()
        self.condition.unlock()
    }

    private func workLoop() {
        while true {
            self.condition.lock()
            var job: Job? = nil
            while true {
                let (next, stop) = self.state.withLock { state -> (Job?, Bool) in
                    if !state.jobs.isEmpty { return (state.jobs.removeFirst(), false) }
                    return (nil, state.stopped)
                }
                if let next {
                    job = next
                    break
                }
                if stop {
                    self.condition.unlock()
                    return
                }
                self.condition.wait()
            }
            self.condition.unlock()
            let started = ContinuousClock.now
            job?.work()
            let elapsed = started.duration(to: .now).components
            let nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
            self.busy.add(UInt64(max(0, nanoseconds)), ordering: .relaxed)
        }
    }
}
