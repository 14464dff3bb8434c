internal import Synchronization

/// Where batchers and pools run their timers. An event loop's timers (the router passes its loops' task executors)
/// fire on the thread that serves the requests: `Task.sleep` costs a task, a timer on the runtime's timer thread and
/// a thread hop back per timer, and a cancelled sleep's timer still fires later.
public protocol WakeUpScheduler: Sendable {
    /// Runs `body` once `delay` has passed (at once for a delay not above zero, but never inside this call).
    /// - Returns: cancels the wake-up; a no-op once `body` ran.
    func scheduleWakeUp(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void
}

extension WakeUpScheduler {
    /// Sleeps for `delay` unless the task is cancelled first (then the wake-up is cancelled too).
    /// - Returns: whether the time passed; `false`: the task was cancelled.
    func sleep(for delay: Duration) async -> Bool {
        let sleep = Sleep()
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                sleep.start(continuation, cancel: self.scheduleWakeUp(after: delay) { sleep.end(passed: true) })
            }
        } onCancel: {
            sleep.end(passed: false)
        }
    }
}

/// One sleep: whichever of the wake-up and the cancellation comes first ends it, once.
private final class Sleep: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<Bool, Never>?
        var cancel: (@Sendable () -> Void)?
        var passed: Bool?
    }

    private let state = Mutex(State())

    func start(_ continuation: UnsafeContinuation<Bool, Never>, cancel: @escaping @Sendable () -> Void) {
        let ended = self.state.withLock { state -> Bool? in
            guard let passed = state.passed else {
                state.continuation = continuation
                state.cancel = cancel
                return nil
            }
            return passed
        }
        guard let ended else { return }
        if !ended { cancel() }
        continuation.resume(returning: ended)
    }

    func end(passed: Bool) {
        let (continuation, cancel) = self.state.withLock {
            state -> (UnsafeContinuation<Bool, Never>?, (@Sendable () -> Void)?) in
            guard state.passed == nil else { return (nil, nil) }
            state.passed = passed
            defer {
                state.continuation = nil
                state.cancel = nil
            }
            return (state.continuation, state.cancel)
        }
        if !passed { cancel?() }
        continuation?.resume(returning: passed)
    }
}
