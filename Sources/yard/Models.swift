import ArgumentParser
import Logging
import SwitchyardEngine
import SwitchyardTransport
import SwitchyardWire

/// `yard models`: what a model repository holds, or what an inference service serves; loading and unloading.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "List, load, unload and reload model versions (of a repository on disk, or of a running inference service).",
        subcommands: [List.self, Load.self, Unload.self, Reload.self],
        defaultSubcommand: List.self
    )

    /// An inference service and the certificate to call it with (``ClientCertificate``).
    struct Service: ParsableArguments {
        @Option(help: "The inference service, as HOST:PORT.") var inference = "127.0.0.1:7402"
        @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
        @Option(help: ArgumentHelp(ClientCertificate.help)) var cert: String?
        @Option(help: ArgumentHelp(ClientCertificate.keyHelp)) var key: String?

        func validate() throws {
            guard Echo.split(self.inference) != nil else {
                throw ValidationError("--inference must be HOST:PORT, got '\(self.inference)'")
            }
        }

        func call(_ command: String, _ request: Request) async throws -> Response {
            let (host, port) = Echo.split(self.inference)!
            var logger = Logger(label: "yard")
            logger.logLevel = .critical
            do {
                let (cert, key) = ClientCertificate.paths(for: request.method, cert: self.cert, key: self.key)
                var configuration = WireClientConfiguration(
                    host: host,
                    port: port,
                    tls: TLSSettings(caPath: self.ca, certificatePath: cert, keyPath: key)
                )
                configuration.identity = "yard-models"
                let client = try WireClient(configuration: configuration, logger: logger)
                defer { Task { await client.close() } }
                // loading a big model takes a while; the service answers when it is ready or failed
                return try await client.call(request, deadline: .now.advanced(by: .seconds(120)))
            } catch let status as Status {
                throw fail(command, "\(status)")
            } catch {
                throw fail(command, "cannot reach the inference service at \(self.inference): \(error)")
            }
        }

        /// Prints the service's versions and states, a line each.
        func list(_ command: String) async throws {
            let response = try await self.call(command, Request(method: Method.modelList))
            for parameter in response.parameters where parameter.key != ParameterKey.modelLimits {
                let parts = parameter.key.split(separator: "/", maxSplits: 1)
                print("\(parts.first ?? "")\t\(parts.count > 1 ? parts[1] : "")\t\(parameter.value)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List models and versions: of a repository directory (loading each to check it), or with --remote of a running inference service."
        )
        @Option(name: .long, help: "The repository directory (models/<name>/<version>/model.onnx).") var repository:
            String = "models"
        @Flag(help: "Ask the running inference service instead of reading the repository.") var remote = false
        @OptionGroup var service: Service

        func run() async throws {
            if self.remote { return try await self.service.list("models list") }
            try runReportingErrors("models") {
                let repository = ModelRepository(root: self.repository)
                let report = try repository.poll()
                for entry in repository.status() {
                    let state: String
                    switch entry.state {
                    case .ready: state = "ready"
                    case .loading: state = "loading"
                    case .failed(let message): state = "failed: \(message)"
                    }
                    print("\(entry.name)\t\(entry.version)\t\(state)")
                }
                for failure in report.failed { print("failed\t\(failure)") }
                if report.failed.count > 0 { throw ExitCode.failure }
            }
        }
    }

    /// load, unload and reload share their shape.
    struct Change: ParsableArguments {
        @OptionGroup var service: Service
        @Option(help: "The model.") var model: String
        @Option(help: "The version (a number).") var version: Int
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a version on the inference service (admin).")
        @OptionGroup var change: Change
        func run() async throws {
            _ = try await self.change.service.call(
                "models load",
                Request(method: Method.modelLoad, model: self.change.model, version: "\(self.change.version)")
            )
            try await self.change.service.list("models load")
        }
    }

    struct Unload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unload a version from the inference service (admin)."
        )
        @OptionGroup var change: Change
        func run() async throws {
            _ = try await self.change.service.call(
                "models unload",
                Request(method: Method.modelUnload, model: self.change.model, version: "\(self.change.version)")
            )
            try await self.change.service.list("models unload")
        }
    }

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Reload a version from disk on the inference service (admin); the old one serves until the new one is ready."
        )
        @OptionGroup var change: Change
        func run() async throws {
            _ = try await self.change.service.call(
                "models reload",
                Request(method: Method.modelReload, model: self.change.model, version: "\(self.change.version)")
            )
            try await self.change.service.list("models reload")
        }
    }
}
