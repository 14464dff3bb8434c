import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals
import SwitchyardRuntime
import SwitchyardTransport

/// `switchyard-echo`: a wire-protocol server that answers `echo` and `health`, for checking
/// certificates and connectivity and for measuring the transport per hop.
@main
struct EchoCommand: ServiceCommand {
    static let serviceName = "echo"

    static let configuration = CommandConfiguration(
        commandName: "switchyard-echo",
        abstract: "Serve the Switchyard wire protocol's echo method over mutual TLS."
    )

    @Option(help: "A YAML file of settings: option names as keys (file < SWITCHYARD_ECHO_* environment < flags).")
    var config: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one and prints it).") var port = 7401
    @Option(help: "CA certificate (PEM) that client certificates must chain to.") var ca: String
    @Option(help: "This server's certificate (PEM).") var cert: String
    @Option(help: "This server's private key (PEM).") var key: String
    @Flag(help: "Accept clients without a certificate (TLS without mutual authentication).") var noClientAuth = false
    @Option(help: "Requests in flight per connection before the server stops reading.") var maxInFlight: UInt32 = 1024
    @Option(help: "Seconds to let in-flight requests finish on SIGTERM.") var drainSeconds = 30

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "switchyard.echo")
        var configuration = WireServerConfiguration(
            tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key, requireClientCertificate: !self.noClientAuth),
            identity: "echo"
        )
        configuration.host = self.host
        configuration.port = self.port
        configuration.maxInFlightPerConnection = self.maxInFlight
        configuration.drainTimeout = .seconds(self.drainSeconds)
        let server = WireServer(configuration: configuration, service: EchoService(), logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}
