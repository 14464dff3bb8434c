/// The HTTP the release controller needs: queries of a Prometheus server (metric gates), the step's evidence POSTed
/// to webhook gates, and decisions POSTed to notification webhooks. The router's executable conforms the runtime's
/// client to it; tests use a server of their own on loopback or a fake.
public protocol ReleaseHTTP: Sendable {
    /// Sends one request and reads the whole answer.
    /// - Parameters:
    ///   - method: `GET` or `POST`.
    ///   - url: an `http://host:port/path?query` URL.
    ///   - body: the request body (JSON for POSTs).
    ///   - timeout: connecting, sending and reading must finish within this.
    /// - Returns: the status code and body.
    /// - Throws: when the request cannot be made or is not answered in time.
    func send(
        _ method: String, _ url: String, body: [UInt8], timeout: Duration
    ) async throws -> (status: Int, body: [UInt8])
}
