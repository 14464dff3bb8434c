import NIOConcurrencyHelpers
package import NIOCore

/// The address a server bound, for callers that ask before `run()` has bound (port 0): they wait, and are resumed
/// with the address or the bind error. Nothing is allocated on an event loop, so a server dropped before it ran
/// leaks nothing.
package final class BoundAddress: Sendable {
    private enum State {
        case waiting([CheckedContinuation<SocketAddress, any Error>])
        case done(Result<SocketAddress, any Error>)
    }

    private let state = NIOLockedValueBox(State.waiting([]))

    package init() {}

    /// The bound address; waits until the server has bound or failed to.
    /// - Throws: the error that stopped the server from binding.
    package func get() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let known: Result<SocketAddress, any Error>? = self.state.withLockedValue { state in
                switch state {
                case .waiting(let waiters):
                    state = .waiting(waiters + [continuation])
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let known { continuation.resume(with: known) }
        }
    }

    /// Records the outcome of binding (only the first counts) and resumes every waiter.
    package func complete(_ result: Result<SocketAddress, any Error>) {
        let waiters = self.state.withLockedValue { state in
            guard case .waiting(let waiters) = state else { return [CheckedContinuation<SocketAddress, any Error>]() }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}

extension Array where Element == any Channel {
    /// Waits until every channel has closed, or `timeout` has passed, whichever comes first (no polling).
    package func waitForClose(timeout: Duration, on loop: any EventLoop) async {
        let done = loop.makePromise(of: Void.self)
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) { done.succeed() }
        EventLoopFuture.andAllComplete(self.map(\.closeFuture), on: loop).cascade(to: done)
        try? await done.futureResult.get()
        timer.cancel()
    }
}
