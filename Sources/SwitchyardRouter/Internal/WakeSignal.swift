internal import Synchronization

/// What a periodic loop sleeps on between rounds: ``signal()`` ends the wait at once (or the next one, when the loop
/// is busy), the deadline ends it otherwise. The loop waits without polling a flag.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>? = nil
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the waiting loop, or the next wait when none waits now.
    func signal() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits for a signal (one given since the last wait counts) until `deadline`.
    /// - Parameter deadline: when to stop waiting.
    /// - Returns: `true` when signalled, `false` when the deadline passed or the task was cancelled.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        let pending = self.state.withLock { state in
            defer { state.pending = false }
            return state.pending
        }
        if pending { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline)
                return false
            }
            group.addTask { await self.next() }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Waits for a signal; `false` when cancelled first.
    private func next() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            return self.state.withLock { state in
                defer { state.pending = false }
                return state.pending || !Task.isCancelled
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
