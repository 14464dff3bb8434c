public import NIOCore
import NIOConcurrencyHelpers

/// Runs tasks on one NIO event loop, so a request handler that mostly awaits (router forwarding,
/// light pre/post-processing) answers without hopping threads twice per request.
///
/// Handlers that compute for long must move that work elsewhere (the engine has its own thread pool),
/// or the connection's other requests wait behind them.
///
/// Jobs queue here and the loop runs them in bursts: one `execute` (one closure allocation) for every job enqueued
/// before the burst runs, rather than one per job, as the answers of a batch resume their requests together.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let eventLoop: any EventLoop

    private struct Queue {
        var jobs: [UnownedJob] = []
        /// An emptied buffer kept for the next burst, so that queueing does not allocate.
        var spare: [UnownedJob] = []
        var scheduled = false
    }

    private let queue = NIOLockedValueBox(Queue())

    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let schedule = self.queue.withLockedValue { queue in
            queue.jobs.append(job)
            guard !queue.scheduled else { return false }
            queue.scheduled = true
            return true
        }
        if schedule { self.eventLoop.execute { self.runQueued() } }
    }

    /// Runs `body` on the loop once `delay` has passed: the batchers' and pools' timers, without a timer thread.
    /// - Returns: cancels it; a no-op once `body` ran.
    public func scheduleWakeUp(
        after delay: Duration,
        _ body: @escaping @Sendable () -> Void
    ) -> @Sendable () -> Void {
        let scheduled = self.eventLoop.scheduleTask(in: TimeAmount(delay), body)
        return { scheduled.cancel() }
    }

    /// Runs the jobs queued so far; those they queue run in the next burst.
    private func runQueued() {
        var burst = self.queue.withLockedValue { queue in
            var jobs = queue.spare
            queue.spare = []
            swap(&jobs, &queue.jobs)
            queue.scheduled = false
            return jobs
        }
        let executor = self.asUnownedTaskExecutor()
        for job in burst { job.runSynchronously(on: executor) }
        burst.removeAll(keepingCapacity: true)
        self.queue.withLockedValue { queue in
            if queue.spare.capacity < burst.capacity { queue.spare = burst }
        }
    }
}
