import ArgumentParser
import SwitchyardGateway
import SwitchyardRuntime

/// The router's Open Inference Protocol (KServe v2) HTTP port: off unless `--http-port` is given.
///
/// Security is the operator's choice: mutual TLS (the default, with the router's own CA, certificate and key unless
/// `--http-ca`, `--http-cert`, `--http-key` name others), TLS for the server only with bearer tokens
/// (`--http-tokens FILE`), or plaintext on a loopback address (`--http-plaintext`, tokens optional).
struct GatewayOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve the Open Inference Protocol (KServe v2) over HTTP/1.1 and HTTP/2 on this port; "
                + "0 picks a free one. (default: off)")
    )
    var httpPort: Int?
    @Option(help: "Address of the HTTP port. (default: the router's --host)") var httpHost: String?
    @Option(
        help: ArgumentHelp(
            "Bearer tokens, one per line: the HTTP port uses TLS for the server only "
                + "and requires a token (health checks excepted).")
    )
    var httpTokens: String?
    @Flag(
        help:
            "Plain HTTP without TLS; only on a loopback address. Tokens from --http-tokens are still required if given."
    )
    var httpPlaintext = false
    @Option(help: "CA that HTTP clients' certificates must chain to, under mutual TLS. (default: --ca)") var httpCa:
        String?
    @Option(help: "The HTTP port's certificate (PEM). (default: --cert)") var httpCert: String?
    @Option(help: "The HTTP port's private key (PEM). (default: --key)") var httpKey: String?
    @Option(help: "Largest request body in bytes; larger ones get 413.") var httpMaxBodyBytes = 16 << 20
    @Option(help: "Largest request header block in bytes; larger ones get 431.") var httpMaxHeaderBytes = 16 << 10
    @Option(help: "Milliseconds for a request's headers to arrive (and a new connection's first request).")
    var httpHeaderTimeoutMs = 10_000
    @Option(help: "Milliseconds for a request's body to arrive after its headers; slower ones get 408.")
    var httpBodyTimeoutMs = 30_000
    @Option(help: "Seconds an idle keep-alive connection stays open.") var httpIdleTimeoutSeconds = 300
    @Option(help: "Most HTTP/2 streams in flight on one connection.") var httpMaxStreams = 256
    @Option(help: "Deadline in milliseconds of a request that sets no 'timeout' parameter; 0 for none.")
    var httpDefaultTimeoutMs = 60_000

    func validate() throws {
        if let httpPort, !(0...65535).contains(httpPort) { throw ValidationError("--http-port must be 0...65535") }
        guard (1024...(1 << 30)).contains(self.httpMaxBodyBytes) else {
            throw ValidationError("--http-max-body-bytes must be 1024...1073741824")
        }
        guard (1024...(1 << 20)).contains(self.httpMaxHeaderBytes) else {
            throw ValidationError("--http-max-header-bytes must be 1024...1048576")
        }
        guard (100...600_000).contains(self.httpHeaderTimeoutMs) else {
            throw ValidationError("--http-header-timeout-ms must be 100...600000")
        }
        guard (100...3_600_000).contains(self.httpBodyTimeoutMs) else {
            throw ValidationError("--http-body-timeout-ms must be 100...3600000")
        }
        guard (1...86_400).contains(self.httpIdleTimeoutSeconds) else {
            throw ValidationError("--http-idle-timeout-seconds must be 1...86400")
        }
        guard (1...100_000).contains(self.httpMaxStreams) else {
            throw ValidationError("--http-max-streams must be 1...100000")
        }
        guard (0...3_600_000).contains(self.httpDefaultTimeoutMs) else {
            throw ValidationError("--http-default-timeout-ms must be 0...3600000")
        }
        if self.httpPort == nil, self.httpTokens != nil || self.httpPlaintext {
            throw ValidationError("--http-tokens and --http-plaintext need --http-port")
        }
    }

    /// The gateway's settings, or `nil` when the HTTP port is off.
    /// - Parameter server: the router's own options (host, CA, certificate, key, drain time).
    /// - Throws: `ValidationError` when the token file cannot be used or plaintext is asked for off loopback.
    func configuration(server: ServerOptions) throws -> GatewayConfiguration? {
        guard let port = self.httpPort else { return nil }
        var tokens: BearerTokens?
        if let file = self.httpTokens {
            do throws(GatewayError) {
                tokens = try BearerTokens(file: file)
            } catch {
                throw ValidationError("--http-tokens: \(error.message)")
            }
        }
        let security: GatewayConfiguration.Security
        let certificate = self.httpCert ?? server.cert
        let key = self.httpKey ?? server.key
        if self.httpPlaintext {
            security = .plaintext(tokens: tokens)
        } else if let tokens {
            security = .serverTLS(certificatePath: certificate, keyPath: key, tokens: tokens)
        } else {
            security = .mutualTLS(caPath: self.httpCa ?? server.ca, certificatePath: certificate, keyPath: key)
        }
        var configuration = GatewayConfiguration(host: self.httpHost ?? server.host, port: port, security: security)
        configuration.maxBodyBytes = self.httpMaxBodyBytes
        configuration.maxHeaderBytes = self.httpMaxHeaderBytes
        configuration.headerTimeout = .milliseconds(self.httpHeaderTimeoutMs)
        configuration.bodyTimeout = .milliseconds(self.httpBodyTimeoutMs)
        configuration.idleTimeout = .seconds(self.httpIdleTimeoutSeconds)
        configuration.maxConcurrentStreams = self.httpMaxStreams
        configuration.defaultRequestTimeout =
            self.httpDefaultTimeoutMs == 0 ? nil : .milliseconds(self.httpDefaultTimeoutMs)
        configuration.drainTimeout = .seconds(server.drainSeconds)
        do throws(GatewayError) {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        return configuration
    }
}
