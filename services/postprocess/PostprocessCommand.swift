import ArgumentParser
import Logging
import SwitchyardEngine
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
        let logger = Self.makeLogger()
        let service: PostprocessService
        do {
            service = try PostprocessService(repository: ModelRepository(root: self.models))
        } catch {
            logger.critical("cannot read the pipelines", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        try await Self.serve(service, options: self.server, logger: logger)
    }
}
