import ArgumentParser
import Logging
import NIOPosix
import ServiceLifecycle
import SwitchyardEngine
import SwitchyardRuntime
import SwitchyardTransport
import UnixSignals

/// `switchyard-inference`: serves a model repository over the wire protocol (mutual TLS).
@main
struct InferenceCommand: ServiceCommand {
    static let serviceName = "inference"

    static let configuration = CommandConfiguration(
        commandName: "switchyard-inference",
        abstract: "Serve the models of a repository (models/<name>/<version>/model.onnx) over mutual TLS."
    )

    @Option(help: "A YAML file of settings: option names as keys (file < SWITCHYARD_INFERENCE_* environment < flags).")
    var config: String?
    @Option(help: "The model repository.") var models = "models"
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one and logs it).") var port = 7402
    @Option(help: "CA certificate (PEM) that client certificates must chain to.") var ca: String
    @Option(help: "This service's certificate (PEM).") var cert: String
    @Option(help: "This service's private key (PEM).") var key: String
    @Option(help: "Compute threads (concurrent inferences).") var threads = 2
    @Option(help: "Inferences allowed to wait for a compute thread; more are shed with resource exhausted.") var queueLimit = 1024
    @Option(help: "OpenBLAS threads per inference.") var blasThreads = 1
    @Option(help: "Requests in flight per connection before the service stops reading it.") var maxInFlight: UInt32 = 1024
    @Option(help: "Seconds to let in-flight requests finish on SIGTERM.") var drainSeconds = 30

    func validate() throws {
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be 1...256") }
        guard (1...256).contains(self.blasThreads) else { throw ValidationError("--blas-threads must be 1...256") }
        guard (0...1_000_000).contains(self.queueLimit) else { throw ValidationError("--queue-limit must be 0...1000000") }
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "switchyard.inference")
        BLAS.setThreadCount(self.blasThreads)
        let repository = ModelRepository(root: self.models)
        let report = try repository.poll()
        for name in report.loaded { logger.info("model loaded", metadata: ["model": "\(name)"]) }
        for name in report.failed { logger.error("model failed to load", metadata: ["model": "\(name)"]) }
        let executor = InferenceExecutor(threads: self.threads, queueLimit: self.queueLimit)
        let pool = NIOThreadPool(numberOfThreads: 1)  // model loads
        pool.start()
        var configuration = WireServerConfiguration(
            tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key), identity: "inference"
        )
        configuration.host = self.host
        configuration.port = self.port
        configuration.maxInFlightPerConnection = self.maxInFlight
        configuration.drainTimeout = .seconds(self.drainSeconds)
        let server = WireServer(configuration: configuration, service: InferenceService(repository: repository, executor: executor, pool: pool), logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        executor.shutdown()
        try await pool.shutdownGracefully()
    }
}
