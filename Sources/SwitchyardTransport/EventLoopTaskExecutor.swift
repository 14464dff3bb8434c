public import NIOCore

/// Runs tasks on one NIO event loop, so a request handler that mostly awaits (router forwarding,
/// light pre/post-processing) answers without hopping threads twice per request.
///
/// Handlers that compute for long must move that work elsewhere (the engine has its own thread pool),
/// or the connection's other requests wait behind them.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
