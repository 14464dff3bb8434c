import SwitchyardRouter
import SwitchyardRuntime

/// The runtime's HTTP client as the release controller's: Prometheus queries, webhook gates, notifications.
struct RuntimeReleaseHTTP: ReleaseHTTP {
    func send(
        _ method: String, _ url: String, body: [UInt8], timeout: Duration
    ) async throws -> (status: Int, body: [UInt8]) {
        try await HTTPClient.send(method, url, body: body, timeout: timeout)
    }
}
