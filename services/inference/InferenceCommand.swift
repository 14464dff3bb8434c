import ArgumentParser
import Logging
import NIOPosix
import ServiceLifecycle
import SwitchyardEngine
import SwitchyardInferenceService
import SwitchyardRuntime

/// `switchyard-inference`: serves a model repository over the wire protocol (mutual TLS).
@main
struct InferenceCommand: ServiceCommand {
    static let serviceName = "inference"
    static let defaultPort = 7402
    static let configuration = CommandConfiguration(
        commandName: "switchyard-inference",
        abstract: "Serve the models of a repository (models/<name>/<version>/model.onnx) over mutual TLS."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "Compute threads (concurrent inferences).") var threads = 2
    @Option(help: "Inferences allowed to wait for a compute thread; more are shed with resource exhausted.")
    var queueLimit = 1024
    @Option(help: "OpenBLAS threads per inference.") var blasThreads = 1

    func validate() throws {
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be 1...256") }
        guard (1...256).contains(self.blasThreads) else { throw ValidationError("--blas-threads must be 1...256") }
        guard (0...1_000_000).contains(self.queueLimit) else {
            throw ValidationError("--queue-limit must be 0...1000000")
        }
    }

    func run() async throws {
        let logger = self.makeLogger()
        BLAS.setThreadCount(self.blasThreads)
        let blas = BLAS.coreSelection
        logger.info(
            "OpenBLAS kernels selected",
            metadata: [
                "blas.core": "\(blas.core)", "blas.library_core": "\(blas.libraryCore)",
                "blas.selection": "\(blas.outcome.rawValue)", "blas.cpu": "\(blas.cpu.summary)",
                "blas.threads": "\(self.blasThreads)",
            ]
        )
        let repository = ModelRepository(root: self.repository.models)
        let report = try repository.poll()
        for name in report.loaded { logger.info("model loaded", metadata: ["model": "\(name)"]) }
        for name in report.failed { logger.error("model failed to load", metadata: ["model": "\(name)"]) }
        let executor = InferenceExecutor(threads: self.threads, queueLimit: self.queueLimit)
        let pool = NIOThreadPool(numberOfThreads: 1)  // model loads
        pool.start()
        // saturation: the compute threads' busy time and the inferences waiting for one
        let saturation = Saturation(
            workers: executor.threads,
            busySeconds: { executor.busySeconds },
            queueDepth: { executor.waiting }
        )
        var companions: [any Service] = []
        if let interval = self.repository.pollInterval {
            companions.append(
                RepositoryPoller(
                    repository: repository,
                    interval: interval,
                    pool: pool,
                    logger: logger
                )
            )
        }
        try await Self.serve(
            InferenceService(repository: repository, executor: executor, pool: pool),
            options: self.server,
            logger: logger,
            companions: companions,
            saturation: saturation
        )
        executor.shutdown()
        try await pool.shutdownGracefully()
    }
}
