import ArgumentParser
import Logging
import ServiceLifecycle
import SwitchyardEngine
import SwitchyardRuntime
import SwitchyardTransport
import UnixSignals

/// `switchyard-postprocess`: applies each model's postprocessing (softmax, top-k, argmax, threshold).
@main
struct PostprocessCommand: ServiceCommand {
    static let serviceName = "postprocess"

    static let configuration = CommandConfiguration(
        commandName: "switchyard-postprocess",
        abstract: "Serve the postprocess stage over mutual TLS, with pipelines from the model repository's configs."
    )

    @Option(help: "A YAML file of settings: option names as keys (file < SWITCHYARD_POSTPROCESS_* environment < flags).")
    var config: String?
    @Option(help: "The model repository (only config.json files are read).") var models = "models"
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one and logs it).") var port = 7403
    @Option(help: "CA certificate (PEM) that client certificates must chain to.") var ca: String
    @Option(help: "This service's certificate (PEM).") var cert: String
    @Option(help: "This service's private key (PEM).") var key: String
    @Option(help: "Seconds to let in-flight requests finish on SIGTERM.") var drainSeconds = 30

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "switchyard.postprocess")
        let service: PostprocessService
        do {
            service = try PostprocessService(repository: ModelRepository(root: self.models))
        } catch {
            logger.critical("cannot read the pipelines", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        logger.info("pipelines read", metadata: ["models": "\(service.models.joined(separator: ","))"])
        var configuration = WireServerConfiguration(
            tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key), identity: "postprocess"
        )
        configuration.host = self.host
        configuration.port = self.port
        configuration.drainTimeout = .seconds(self.drainSeconds)
        let server = WireServer(configuration: configuration, service: service, logger: logger)
        try await ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
    }
}
