public import Logging
public import NIOPosix
public import ServiceLifecycle
public import SwitchyardEngine

/// Triton's poll mode: every `interval` the repository is brought in line with the disk (``ModelRepository/poll()``):
/// new versions are loaded, versions whose files changed are reloaded, versions that left the disk or the version
/// policy are unloaded. Each load warms the model up before it serves, and a reload swaps only when the new files
/// are ready, so requests never see a half-loaded model. A version that fails keeps the others serving.
public final class RepositoryPoller: Service, Sendable {
    private let repository: ModelRepository
    private let interval: Duration
    private let pool: NIOThreadPool
    private let logger: Logger

    /// Makes a poller; nothing is read until ``run()``.
    /// - Parameters:
    ///   - repository: the repository to keep in line with its directory.
    ///   - interval: time between two polls.
    ///   - pool: the threads that load models (not the inference threads).
    ///   - logger: logs what changed and what failed.
    public init(repository: ModelRepository, interval: Duration, pool: NIOThreadPool, logger: Logger) {
        self.repository = repository
        self.interval = interval
        self.pool = pool
        self.logger = logger
    }

    /// Polls every interval until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                if Task.isCancelled { return }
                await self.pollOnce()
            }
        }
    }

    /// One poll, on the loading threads.
    func pollOnce() async {
        let repository = self.repository
        do {
            let report = try await self.pool.runIfActive { try repository.poll() }
            for name in report.loaded { self.logger.info("model loaded", metadata: ["model": "\(name)"]) }
            for name in report.reloaded { self.logger.info("model reloaded", metadata: ["model": "\(name)"]) }
            for name in report.unloaded { self.logger.info("model unloaded", metadata: ["model": "\(name)"]) }
            for failure in report.failed { self.logger.error("model failed to load", metadata: ["model": "\(failure)"]) }
        } catch {
            self.logger.error("cannot poll the model repository", metadata: ["error": "\(error)"])
        }
    }
}
