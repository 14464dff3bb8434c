import Foundation
import SwitchyardTransport
public import SwitchyardWire
import Synchronization

/// Runs the steps of a load test against a target and measures them.
///
/// Closed loop: a fixed number of tasks, each sending its next request when the previous answer arrives;
/// latency counts from the send. Open loop: requests start on a fixed schedule (`start + i / rate`) whatever
/// the answers do, and latency counts from the *scheduled* start, so that a stalled server or a client that
/// falls behind shows in the percentiles instead of being hidden (no coordinated omission, as wrk2 does it).
/// Every wait is bounded: each request by its deadline, each step by its duration or count.
public struct LoadGenerator: Sendable {
    public let target: any LoadTarget
    public let source: RequestSource
    public let settings: LoadSettings
    public let check: OutputCheck?
    /// Sees every answer (warm-up included) with the index of its request's first input row; for labels sent back
    /// as feedback.
    public let observer: (@Sendable (_ firstRow: Int, _ response: Response) -> Void)?
    /// Where every request is written, when given.
    public let requestLog: RequestLog?

    /// A snapshot for a progress line, about once a second.
    public struct Progress: Sendable {
        public var step: LoadStep
        /// Time since the step started (warm-up included).
        public var elapsed: Duration
        public var warmingUp: Bool
        /// Answers and failures so far, warm-up included.
        public var answered: Int
        public var failed: Int
        /// Answers per second over the last interval.
        public var recentRate: Double
    }

    /// Makes a generator.
    /// - Parameters:
    ///   - target: where requests go.
    ///   - source: the requests.
    ///   - settings: step bounds and request deadlines.
    ///   - check: compares answers with expected outputs, when given.
    ///   - observer: sees every answer with its request's first input row.
    ///   - requestLog: writes a line per request, when given.
    /// - Throws: ``LoadError`` for invalid settings.
    public init(
        target: any LoadTarget,
        source: RequestSource,
        settings: LoadSettings,
        check: OutputCheck? = nil,
        observer: (@Sendable (_ firstRow: Int, _ response: Response) -> Void)? = nil,
        requestLog: RequestLog? = nil
    ) throws(LoadError) {
        try settings.validate()
        self.target = target
        self.source = source
        self.settings = settings
        self.check = check
        self.observer = observer
        self.requestLog = requestLog
    }

    /// Runs one step.
    /// - Parameters:
    ///   - step: closed or open loop and its number.
    ///   - progress: called about once a second while the step runs.
    /// - Returns: what the step measured.
    /// - Throws: ``LoadError`` for an invalid step.
    public func run(
        _ step: LoadStep,
        progress: (@Sendable (Progress) -> Void)? = nil
    ) async throws(LoadError)
        -> StepResult
    {
        try step.validate()
        let recorder = StepRecorder()
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start.advanced(by: self.settings.warmup)
        let window = Window(
            measureFrom: measureFrom,
            end: self.settings.duration.map { measureFrom.advanced(by: $0) },
            requests: self.settings.requests
        )
        var stoppedBehind = false
        let retriesBefore = self.target.retries
        await withTaskGroup(of: Void.self) { group in
            if let progress {
                group.addTask {
                    await Self.report(step: step, start: start, measureFrom: measureFrom, recorder: recorder, progress)
                }
            }
            stoppedBehind = await withTaskExecutorPreference(self.target.executor) {
                switch step {
                case .closed(let concurrency):
                    await self.closedLoop(concurrency: concurrency, window: window, recorder: recorder)
                    return false
                case .open(let rate):
                    return await self.openLoop(rate: rate, start: start, window: window, recorder: recorder)
                }
            }
            group.cancelAll()
        }
        var result = Self.result(
            step: step,
            recorder: recorder,
            measureFrom: measureFrom,
            rowsPerRequest: self.source.rowsPerRequest,
            stoppedBehind: stoppedBehind
        )
        result.retries = self.target.retries - retriesBefore
        return result
    }

    /// Which requests count: those sent from `measureFrom`, until `end` or until `requests` have been sent.
    final class Window: Sendable {
        let measureFrom: ContinuousClock.Instant
        let end: ContinuousClock.Instant?
        let requests: Int?
        private let next = Mutex((sequence: 0, measured: 0))

        init(measureFrom: ContinuousClock.Instant, end: ContinuousClock.Instant?, requests: Int?) {
            self.measureFrom = measureFrom
            self.end = end
            self.requests = requests
        }

        /// The next request's number and whether it counts, or `nil` when the step is over.
        func claim(at instant: ContinuousClock.Instant) -> (sequence: Int, measured: Bool)? {
            if let end, instant >= end { return nil }
            return self.next.withLock { next in
                let measured = instant >= self.measureFrom
                if measured, let requests {
                    guard next.measured < requests else { return nil }
                }
                defer { next.sequence += 1 }
                if measured { next.measured += 1 }
                return (next.sequence, measured)
            }
        }
    }

    private func closedLoop(concurrency: Int, window: Window, recorder: StepRecorder) async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<concurrency {
                group.addTask {
                    let clock = ContinuousClock()
                    while let (sequence, measured) = window.claim(at: clock.now) {
                        let sent = clock.now
                        await self.send(sequence, measured: measured, scheduled: sent, sent: sent, recorder: recorder)
                    }
                }
            }
        }
    }

    /// Returns true when the loop stopped because sends fell more than `maxLag` behind schedule.
    private func openLoop(
        rate: Double,
        start: ContinuousClock.Instant,
        window: Window,
        recorder: StepRecorder
    ) async
        -> Bool
    {
        let slots = Slots(self.settings.maxInFlight)
        let interval = 1.0 / rate
        let clock = ContinuousClock()
        let sends = Outstanding()
        let behind = await withTaskCancellationHandler {
            var index = 0
            while !Task.isCancelled {
                let scheduled = start.advanced(by: .seconds(Double(index) * interval))
                index += 1
                if scheduled > clock.now { try? await clock.sleep(until: scheduled, tolerance: nil) }
                guard let (sequence, measured) = window.claim(at: scheduled) else { return false }
                await slots.acquire()
                let sent = clock.now
                let lag = scheduled.duration(to: sent)
                if measured { recorder.lag(lag) }
                if lag > self.settings.maxLag {
                    slots.release()
                    return true
                }
                sends.start(on: self.target.executor) {
                    await self.send(sequence, measured: measured, scheduled: scheduled, sent: sent, recorder: recorder)
                    slots.release()
                }
            }
            return false
        } onCancel: {
            sends.cancelAll()
        }
        await sends.waitForAll()
        return behind
    }

    private func send(
        _ sequence: Int,
        measured: Bool,
        scheduled: ContinuousClock.Instant,
        sent: ContinuousClock.Instant,
        recorder: StepRecorder
    ) async {
        let request = self.source.request(sequence)
        if measured { recorder.sent() }
        let wall = self.requestLog == nil ? nil : Date()
        do {
            let response = try await self.target.send(request, deadline: sent.advanced(by: self.settings.timeout))
            let now = ContinuousClock.now
            self.observer?(self.source.firstRow(of: sequence), response)
            let check =
                measured
                ? self.check.map {
                    $0.compare(
                        response,
                        firstRow: self.source.firstRow(of: sequence),
                        count: self.source.rowsPerRequest
                    )
                }
                : nil
            recorder.answered(
                measured: measured,
                latency: scheduled.duration(to: now),
                service: sent.duration(to: now),
                rows: self.source.rowsPerRequest,
                version: response[parameter: ParameterKey.modelVersion],
                check: check,
                at: now
            )
            if let wall {
                self.requestLog?.record(sent: wall, latency: sent.duration(to: now), code: nil, measured: measured)
            }
        } catch {
            let status = Self.status(of: error)
            let now = ContinuousClock.now
            recorder.failed(measured: measured, status: status, source: Self.source(of: error), at: now)
            if let wall {
                self.requestLog?.record(
                    sent: wall,
                    latency: sent.duration(to: now),
                    code: status.code,
                    measured: measured
                )
            }
        }
    }

    /// The status a failure counts under.
    static func status(of error: any Error) -> Status {
        if let convertible = error as? any StatusConvertible { return convertible.status }
        return Status(.internalError, "\(error)")
    }

    /// Who decided the failure: `throttled` when this client's adaptive throttle refused the request unsent,
    /// `client` when the client decided it otherwise (its own limit, no connection, a lost connection), `server`
    /// for an ERROR frame's status.
    static func source(of error: any Error) -> String {
        guard let transport = error as? TransportError else { return "server" }
        return transport.code == .throttled ? "throttled" : "client"
    }

    private static func report(
        step: LoadStep,
        start: ContinuousClock.Instant,
        measureFrom: ContinuousClock.Instant,
        recorder: StepRecorder,
        _ progress: @Sendable (Progress) -> Void
    ) async {
        var previous = (at: start, answered: 0)
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
            let now = ContinuousClock.now
            let (answered, failed) = recorder.state.withLock { ($0.allAnswered, $0.allFailed) }
            let seconds = LoadFormat.seconds(previous.at.duration(to: now))
            progress(
                Progress(
                    step: step,
                    elapsed: start.duration(to: now),
                    warmingUp: now < measureFrom,
                    answered: answered,
                    failed: failed,
                    recentRate: seconds > 0 ? Double(answered - previous.answered) / seconds : 0
                )
            )
            previous = (now, answered)
        }
    }

    private static func result(
        step: LoadStep,
        recorder: StepRecorder,
        measureFrom: ContinuousClock.Instant,
        rowsPerRequest: Int,
        stoppedBehind: Bool
    ) -> StepResult {
        let state = recorder.state.withLock { $0 }
        let elapsed = state.lastAnswer.map { LoadFormat.seconds(measureFrom.duration(to: $0)) } ?? 0
        let errors = state.errors.map { key, entry in
            StepResult.ErrorCount(
                status: key.code.description,
                code: Int(key.code.rawValue),
                source: key.source,
                count: entry.count,
                example: entry.example
            )
        }.sorted { ($0.count, $1.status, $1.source) > ($1.count, $0.status, $0.source) }
        var result = StepResult(
            mode: "closed",
            concurrency: nil,
            rate: nil,
            elapsedS: elapsed,
            sent: state.sent,
            ok: state.ok,
            errors: errors,
            throughput: elapsed > 0 ? Double(state.ok) / elapsed : 0,
            rowsPerS: elapsed > 0 ? Double(state.rows) / elapsed : 0,
            latencyMs: state.latency.summary,
            serviceTimeMs: nil,
            maxSendLagMs: nil,
            stoppedBehind: nil,
            versions: state.versions.map {
                StepResult.VersionCount(version: $0.key, count: $0.value.count, latencyMs: $0.value.summary)
            }.sorted {
                $0.version < $1.version
            },
            validation: nil,
            latencyHistogramUs: state.latency.pairsInMicroseconds
        )
        switch step {
        case .closed(let concurrency):
            result.concurrency = concurrency
        case .open(let rate):
            result.mode = "open"
            result.rate = rate
            result.serviceTimeMs = state.service.summary
            result.maxSendLagMs = LoadFormat.seconds(state.maxLag) * 1000
            result.stoppedBehind = stoppedBehind
        }
        if state.checkedRows > 0 || state.mismatchedRows > 0 {
            result.validation = .init(
                checkedRows: state.checkedRows,
                mismatchedRows: state.mismatchedRows,
                firstMismatch: state.firstMismatch
            )
        }
        return result
    }
}
