import ArgumentParser
import Logging
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

    func run() async throws {
        let logger = Self.makeLogger()
        let service = try Self.make(orExit: "cannot read the pipelines", logger: logger) {
            try PipelineService.preprocess(root: self.models)
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        try await Self.serve(service, options: self.server, logger: logger)
    }
}
