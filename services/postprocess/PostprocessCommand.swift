import ArgumentParser
import Logging
import ServiceLifecycle
import SwitchyardPipelineService
import SwitchyardRuntime

/// `switchyard-postprocess`: applies each model's postprocessing (softmax, top-k, argmax, threshold).
@main
struct PostprocessCommand: ServiceCommand {
    static let serviceName = "postprocess"
    static let defaultPort = 7403
    static let configuration = CommandConfiguration(
        commandName: "switchyard-postprocess",
        abstract: "Serve the postprocess stage over mutual TLS, with pipelines from the model repository's configs."
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "The model repository (only config.json files are read).") var models = "models"
    @Option(help: "Read the repository's pipelines again every this many seconds (0: only at start and on reload).")
    var repositoryPollSeconds = 0.0

    func validate() throws {
        guard self.repositoryPollSeconds == 0 || (0.1...86_400).contains(self.repositoryPollSeconds) else {
            throw ValidationError("--repository-poll-seconds must be 0 (off) or 0.1...86400")
        }
    }

    func run() async throws {
        let logger = self.makeLogger()
        let service = try Self.make(orExit: "cannot read the pipelines", logger: logger) {
            try PipelineService.postprocess(root: self.models)
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        let root = self.models
        @Sendable func reread(_ root: String) throws {
            let (added, removed) = try service.reload(root: root)
            if !added.isEmpty || !removed.isEmpty {
                logger.info(
                    "pipelines read again",
                    metadata: ["added": "\(added.joined(separator: ","))", "removed": "\(removed.joined(separator: ","))"]
                )
            }
        }
        var companions: [any Service] = []
        if self.repositoryPollSeconds > 0 {
            companions.append(
                PeriodicService(every: .milliseconds(Int(self.repositoryPollSeconds * 1000))) {
                    do { try reread(root) } catch {
                        logger.error("cannot read the pipelines again; the running ones stay", metadata: ["error": "\(error)"])
                    }
                }
            )
        }
        try await Self.serve(
            service, options: self.server, logger: logger, companions: companions, reloadable: ["models"],
            reload: { reloaded in try reread(reloaded.models) }
        )
    }
}
