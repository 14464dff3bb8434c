import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// Wraps a service and records each `infer` request in an ``InferenceStatistics``: put it around the router's
/// handler and serve the wrapped service on both the wire and the HTTP port, so that both count.
public struct StatisticsRecordingService: WireService {
    private let service: any WireService
    private let statistics: InferenceStatistics

    /// Wraps `service`.
    /// - Parameters:
    ///   - service: the handler whose `infer` requests are recorded.
    ///   - statistics: where they are recorded.
    public init(_ service: any WireService, statistics: InferenceStatistics) {
        self.service = service
        self.statistics = statistics
    }

    /// The wrapped service's refusals at arrival (overload shedding), passed on.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.service.refusal(for: request, deadline: deadline)
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        guard request.method == Method.infer else { return try await self.service.handle(request, context: context) }
        let started = ContinuousClock.now
        let rows = request.tensors.first.map { $0.tensor.shape.rank == 0 ? 1 : $0.tensor.shape[0] } ?? 0
        do {
            let response = try await self.service.handle(request, context: context)
            let version =
                request.version.isEmpty ? response[parameter: ParameterKey.modelVersion] ?? "" : request.version
            self.statistics.record(
                model: request.model,
                version: version,
                ok: true,
                rows: rows,
                duration: started.duration(to: .now)
            )
            return response
        } catch {
            // a caller that went away says nothing about the model
            if (error as? any StatusConvertible)?.status.code != .cancelled, !(error is CancellationError) {
                self.statistics.record(
                    model: request.model,
                    version: request.version,
                    ok: false,
                    rows: rows,
                    duration: started.duration(to: .now)
                )
            }
            throw error
        }
    }
}
