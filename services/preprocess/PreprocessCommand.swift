import ArgumentParser
import Logging
import ServiceLifecycle
import SwitchyardPipeline
import SwitchyardPipelineService
import SwitchyardRuntime

/// `switchyard-preprocess`: checks and prepares each model's inputs (images, scaling, normalization, one-hot).
@main
struct PreprocessCommand: ServiceCommand {
    static let serviceName = "preprocess"
    static let defaultPort = 7404
    static let configuration = CommandConfiguration(
        commandName: "switchyard-preprocess",
        abstract: "Serve the preprocess stage over mutual TLS, with pipelines from the model repository's configs."
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "The model repository (only config.json files are read).") var models = "models"
    @Option(help: "Most pixels (height × width) of one image an image step decodes; a larger one is refused.")
    var maxImagePixels = PixelBudget.defaults.perImage
    @Option(help: "Most pixels of all the images of one request together (a batch of images counts whole).")
    var maxRequestPixels = PixelBudget.defaults.perRequest
    @Option(help: "Read the repository's pipelines again every this many seconds (0: only at start and on reload).")
    var repositoryPollSeconds = 0.0

    func validate() throws {
        guard (1...(1 << 30)).contains(self.maxImagePixels) else {
            throw ValidationError("--max-image-pixels must be 1...\(1 << 30)")
        }
        guard (self.maxImagePixels...(1 << 32)).contains(self.maxRequestPixels) else {
            throw ValidationError("--max-request-pixels must be at least --max-image-pixels and at most \(1 << 32)")
        }
        guard self.repositoryPollSeconds == 0 || (0.1...86_400).contains(self.repositoryPollSeconds) else {
            throw ValidationError("--repository-poll-seconds must be 0 (off) or 0.1...86400")
        }
    }

    func run() async throws {
        let logger = self.makeLogger()
        let service = try Self.make(orExit: "cannot read the pipelines", logger: logger) {
            try PipelineService.preprocess(
                root: self.models,
                pixelLimits: PixelBudget(perImage: self.maxImagePixels, perRequest: self.maxRequestPixels)
            )
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
