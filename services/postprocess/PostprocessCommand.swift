import ArgumentParser
import Logging
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

    func run() async throws {
        let logger = self.makeLogger()
        let service = try Self.make(orExit: "cannot read the pipelines", logger: logger) {
            try PipelineService.postprocess(root: self.models)
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        try await Self.serve(service, options: self.server, logger: logger)
    }
}
