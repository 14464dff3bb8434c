public import SwitchyardWire
import Tracing

/// A span of the mesh's (``RequestTracing``): the server span of a request a service handles, or a batch's span.
public struct RequestSpan: Sendable {
    let span: any Span

    /// Runs the handler with this span as the task's current one, then ends the span with the outcome.
    /// - Parameter handler: answers the request.
    /// - Returns: the handler's answer or error.
    public func run(_ handler: () async throws -> Response) async -> Result<Response, any Error> {
        let result: Result<Response, any Error>
        do {
            result = .success(
                try await InstrumentationContext.$current.withValue(self.span.context) { try await handler() }
            )
        } catch {
            result = .failure(error)
        }
        self.end(with: result)
        return result
    }

    /// Ends the span with an outcome: the answering version, or the error's status code (span status error).
    /// - Parameter result: the answer or the error.
    public func end(with result: Result<Response, any Error>) { RequestTracing.end(self.span, with: result) }
}
