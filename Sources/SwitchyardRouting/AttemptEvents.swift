internal import DequeModule
internal import Synchronization
internal import SwitchyardWire

/// What a pool call's loop acts on: an attempt's answer or failure, or an attempt's per-try timer.
enum AttemptEvent: Sendable {
    case answered(Int, Response)
    case failed(Int, any Error)
    case perTryTimeout(Int)
}

/// The events of one ``UpstreamPool`` call: attempts (child tasks) and per-try timers (event-loop wake-ups, no task)
/// post them, the call waits for them one at a time. A task group's `next()` would need each timer to be a child task
/// of its own (a task, a sleep and a job hop per call).
final class AttemptEvents: Sendable {
    private struct State {
        var queued: Deque<AttemptEvent> = []
        var waiter: UnsafeContinuation<AttemptEvent, Never>? = nil
    }

    private let state = Mutex(State())

    /// Hands `event` to the waiting call, or queues it.
    func post(_ event: AttemptEvent) {
        let waiter = self.state.withLock { state -> UnsafeContinuation<AttemptEvent, Never>? in
            guard let waiter = state.waiter else {
                state.queued.append(event)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: event)
    }

    /// The next event, in the order posted. One waiter at a time (the call); not ended by cancellation: a cancelled
    /// call's attempts are cancelled with it and post their failure.
    func next() async -> AttemptEvent {
        await withUnsafeContinuation { continuation in
            let event = self.state.withLock { state -> AttemptEvent? in
                if let event = state.queued.popFirst() { return event }
                state.waiter = continuation
                return nil
            }
            if let event { continuation.resume(returning: event) }
        }
    }
}
