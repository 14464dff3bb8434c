/// Where batchers and pools run their timers. An event loop's timers (the router passes its loops' task executors)
/// fire on the thread that serves the requests: `Task.sleep` costs a task, a timer on the runtime's timer thread and
/// a thread hop back per timer, and a cancelled sleep's timer still fires later.
public protocol WakeUpScheduler: Sendable {
    /// Runs `body` once `delay` has passed (at once for a delay not above zero, but never inside this call).
    /// - Returns: cancels the wake-up; a no-op once `body` ran.
    func scheduleWakeUp(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void
}
