import Logging
import ServiceLifecycle
public import SwitchyardRuntime

/// The command of a pipeline stage (`switchyard-preprocess`, `switchyard-postprocess`): serves the pipelines of a
/// repository's configs, read again on reload and, when polling is on, every poll interval.
public protocol PipelineStageCommand: ServiceCommand {
    /// Where the configs are, and how often to read them again.
    var repository: RepositoryOptions { get }
    /// Reads the stage's pipelines from the repository at `root`.
    func makeService(root: String) throws -> PipelineService
}

extension PipelineStageCommand {
    /// Serves the stage until SIGTERM or SIGINT.
    public func run() async throws {
        let logger = self.makeLogger()
        let service = try Self.make(orExit: "cannot read the pipelines", logger: logger) {
            try self.makeService(root: self.repository.models)
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        @Sendable func reread(_ root: String) throws {
            let outcome = try service.reload(root: root)
            if !outcome.isEmpty {
                logger.info(
                    "pipelines read again",
                    metadata: [
                        "added": "\(outcome.added.joined(separator: ","))",
                        "removed": "\(outcome.removed.joined(separator: ","))",
                        "changed": "\(outcome.changed.joined(separator: ","))",
                    ]
                )
            }
        }
        var companions: [any Service] = []
        if let interval = self.repository.pollInterval {
            let root = self.repository.models
            companions.append(
                PeriodicService(every: interval) {
                    do { try reread(root) } catch {
                        logger.error(
                            "cannot read the pipelines again; the running ones stay",
                            metadata: ["error": "\(error)"]
                        )
                    }
                }
            )
        }
        try await Self.serve(
            service,
            options: self.server,
            logger: logger,
            companions: companions,
            reloadable: ["models"],
            reload: { reloaded in try reread(reloaded.repository.models) }
        )
    }
}
