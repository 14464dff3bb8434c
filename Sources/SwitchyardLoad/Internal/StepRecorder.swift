import SwitchyardWire
import Synchronization

/// Everything a step counts, shared by its sending tasks behind one lock.
final class StepRecorder: Sendable {
    struct State {
        var sent = 0
        var ok = 0
        var rows = 0
        var latency = LatencyHistogram()
        var service = LatencyHistogram()
        var errors: [ErrorKey: (count: Int, example: String)] = [:]
        var versions: [String: LatencyHistogram] = [:]
        var checkedRows = 0
        var mismatchedRows = 0
        var firstMismatch: String?
        var maxLag: Duration = .zero
        var lastAnswer: ContinuousClock.Instant?
        // Everything, warm-up included, for the progress line.
        var allAnswered = 0
        var allFailed = 0
    }

    let state = Mutex(State())

    func sent() { self.state.withLock { $0.sent += 1 } }

    func lag(_ lag: Duration) {
        self.state.withLock { if lag > $0.maxLag { $0.maxLag = lag } }
    }

    func answered(
        measured: Bool,
        latency: Duration,
        service: Duration,
        rows: Int,
        version: String?,
        check: (mismatched: Int, example: String?)?,
        at now: ContinuousClock.Instant
    ) {
        self.state.withLock { state in
            state.allAnswered += 1
            guard measured else { return }
            state.ok += 1
            state.rows += rows
            state.latency.record(latency)
            state.service.record(service)
            if let version { state.versions[version, default: LatencyHistogram()].record(latency) }
            if let check {
                state.checkedRows += rows
                state.mismatchedRows += check.mismatched
                if state.firstMismatch == nil { state.firstMismatch = check.example }
            }
            if state.lastAnswer.map({ now > $0 }) ?? true { state.lastAnswer = now }
        }
    }

    /// A failure's kind: its status, and who decided it: `server`, `client` (no connection, its own in-flight limit,
    /// a connection lost) or `throttled` (its adaptive throttle).
    struct ErrorKey: Hashable {
        var code: Status.Code
        var source: String
    }

    func failed(measured: Bool, status: Status, source: String, at now: ContinuousClock.Instant) {
        self.state.withLock { state in
            state.allFailed += 1
            guard measured else { return }
            let key = ErrorKey(code: status.code, source: source)
            let entry = state.errors[key]
            state.errors[key] = ((entry?.count ?? 0) + 1, entry?.example ?? status.message)
            if state.lastAnswer.map({ now > $0 }) ?? true { state.lastAnswer = now }
        }
    }
}
