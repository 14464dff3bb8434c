import Foundation
import SwitchyardTensor
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouting

typealias Machine = BatcherStateMachine

/// A request of `rows` rows of input `x` (2 columns each); row `i` holds `[base + i, -(base + i)]`.
func makeRequest(rows: Int, base: Float = 0, input: String = "x", columns: Int = 2) -> Request {
    var values: [Float] = []
    for row in 0..<rows {
        values.append(base + Float(row))
        for _ in 1..<columns { values.append(-(base + Float(row))) }
    }
    return Request(model: "m", tensors: [NamedTensor(input, try! Tensor(values, shape: [rows, columns]))])
}

/// The first column of each row of `x` in a request or response.
func firstColumn(_ tensors: [NamedTensor], name: String = "x") throws -> [Float] {
    let tensor = try #require(tensors.first { $0.name == name }?.tensor)
    let values: [Float] = try tensor.scalars()
    let columns = tensor.shape.rank > 1 ? tensor.shape[1] : 1
    return stride(from: 0, to: values.count, by: columns).map { values[$0] }
}

let t0 = Duration.zero

func at(_ milliseconds: Double) -> Duration { t0 + .microseconds(Int64(milliseconds * 1000)) }

extension Machine.Action {
    var dispatch: Machine.Dispatch? {
        if case .send(let dispatch) = self { return dispatch }
        return nil
    }
    var failure: (ids: [UInt64], code: RoutingError.Code)? {
        if case .fail(let ids, let error) = self { return (ids, error.code) }
        return nil
    }
}

extension Array where Element == Machine.Action {
    var dispatches: [Machine.Dispatch] { self.compactMap(\.dispatch) }
    var failures: [(ids: [UInt64], code: RoutingError.Code)] { self.compactMap(\.failure) }
}

/// An upstream that answers with its input tensors renamed `y`... or what the test's handler returns.
final class FakeUpstream: Upstream, Sendable {
    private let calls = Mutex<[Request]>([])
    private let handler: @Sendable (Request) async throws -> Response

    init(handler: @escaping @Sendable (Request) async throws -> Response = FakeUpstream.echo) {
        self.handler = handler
    }

    var received: [Request] { self.calls.withLock { $0 } }

    func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        self.calls.withLock { $0.append(request) }
        return try await self.handler(request)
    }

    /// Answers every input tensor back under the same name.
    @Sendable static func echo(_ request: Request) async throws -> Response {
        Response(parameters: [Parameter("served.by", "fake")], tensors: request.tensors)
    }
}

/// A gate that holds upstream calls until the test opens them one by one.
final class Gate: Sendable {
    private let state = Mutex<(waiting: [CheckedContinuation<Void, Never>], open: Bool)>(([], false))

    var waiting: Int { self.state.withLock { $0.waiting.count } }

    func pass() async {
        await withCheckedContinuation { continuation in
            let resumeNow = self.state.withLock { state -> Bool in
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Lets the oldest waiting call through.
    func releaseOne() {
        let continuation = self.state.withLock { $0.waiting.isEmpty ? nil : $0.waiting.removeFirst() }
        continuation?.resume()
    }

    /// Lets every call through, now and later.
    func open() {
        let all = self.state.withLock { state in
            state.open = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in all { continuation.resume() }
    }
}

/// Waits (yielding, bounded by `attempts`) until `condition` holds.
func eventually(_ attempts: Int = 100_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<attempts {
        if condition() { return true }
        await Task.yield()
    }
    return condition()
}

/// A task executor that runs jobs one at a time, in the order they were enqueued, on its own thread: the shape of
/// an event loop, without NIO.
final class SerialExecutorThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    init() {
        let thread = Thread { [self] in self.loop() }
        thread.start()
    }

    func enqueue(_ job: UnownedJob) {
        self.condition.lock()
        self.jobs.append(job)
        self.condition.signal()
        self.condition.unlock()
    }

    func stop() {
        self.condition.lock()
        self.stopped = true
        self.condition.signal()
        self.condition.unlock()
    }

    private func loop() {
        while true {
            self.condition.lock()
            while self.jobs.isEmpty && !self.stopped { self.condition.wait() }
            if self.jobs.isEmpty {
                self.condition.unlock()
                return
            }
            let job = self.jobs.removeFirst()
            self.condition.unlock()
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
