import Synchronization

/// The open loop's sends in flight, as unstructured tasks: a task group removes a finished child by walking its list
/// of children, which with thousands in flight at overload took a sixth of the load client's CPU (perf, 35,000 sends
/// a second). Every task is tracked, cancelled with the loop, and waited for.
final class Outstanding: Sendable {
    private struct State {
        var tasks: [Int: Task<Void, Never>] = [:]
        var next = 0
        var cancelled = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Starts `body` in a task of its own on `executor` (cancelled at once when the loop was cancelled).
    func start(on executor: (any TaskExecutor)?, _ body: @escaping @Sendable () async -> Void) {
        self.state.withLock { state in
            let id = state.next
            state.next += 1
            // the task cannot finish before it is stored: finishing takes the same lock
            let task = Task(executorPreference: executor) {
                await body()
                self.finished(id)
            }
            if state.cancelled { task.cancel() }
            state.tasks[id] = task
        }
    }

    /// Cancels every task in flight and those started later.
    func cancelAll() {
        let tasks = self.state.withLock { state in
            state.cancelled = true
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Returns once no task is in flight; cancelling the caller cancels them (they still end before this returns).
    func waitForAll() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = self.state.withLock { state -> Bool in
                    if state.tasks.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            self.cancelAll()
        }
    }

    private func finished(_ id: Int) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.tasks[id] = nil
            guard state.tasks.isEmpty, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
