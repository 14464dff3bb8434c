import ArgumentParser
import SwitchyardRuntime
import SwitchyardTransport

/// `switchyard-echo`: a wire-protocol server that answers `echo` and `health`, for checking
/// certificates and connectivity and for measuring the transport per hop.
@main
struct EchoCommand: ServiceCommand {
    static let serviceName = "echo"
    static let defaultPort = 7401
    static let configuration = CommandConfiguration(
        commandName: "switchyard-echo",
        abstract: "Serve the Switchyard wire protocol's echo method over mutual TLS."
    )

    @OptionGroup var server: ServerOptions
    @Flag(help: "Accept clients without a certificate (TLS without mutual authentication).") var noClientAuth = false

    func run() async throws {
        try await Self.serve(EchoService(), options: self.server, logger: self.makeLogger(), requireClientCertificate: !self.noClientAuth)
    }
}
