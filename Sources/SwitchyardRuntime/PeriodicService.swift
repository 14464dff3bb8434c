public import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown (e.g. a pipeline stage reading its repository again).
public struct PeriodicService: Service {
    private let interval: Duration
    private let body: @Sendable () async -> Void

    /// Makes the service; nothing runs until ``run()``, and the first run is one interval after it starts.
    /// - Parameters:
    ///   - interval: time between two runs.
    ///   - body: the work; it handles its own errors.
    public init(every interval: Duration, _ body: @escaping @Sendable () async -> Void) {
        self.interval = interval
        self.body = body
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                if Task.isCancelled { return }
                await self.body()
            }
        }
    }
}
