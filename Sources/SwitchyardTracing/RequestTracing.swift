import SwitchyardTensor
public import SwitchyardWire
public import Tracing
import Synchronization

/// Spans of the mesh's requests: a server span for each request a service handles, joined to the caller's W3C
/// `traceparent` parameter, and client spans for the calls a service makes, whose `traceparent` goes with the call.
///
/// Off until ``enable(_:)`` is called (the services call it when an OTLP endpoint is configured): every entry point
/// checks one atomic flag first, so that serving without tracing costs nothing more.
public enum RequestTracing {
    private static let enabled = Atomic<Bool>(false)
    private static let installed = Mutex<(any Tracer)?>(nil)

    /// Whether spans are made.
    public static var isEnabled: Bool { Self.enabled.load(ordering: .relaxed) }

    /// Makes spans with `tracer` from now on.
    /// - Parameter tracer: e.g. swift-otel's tracer.
    public static func enable(_ tracer: any Tracer) {
        Self.installed.withLock { $0 = tracer }
        Self.enabled.store(true, ordering: .releasing)
    }

    /// Stops making spans (tests that enable tracing in-process turn it off again).
    public static func disable() {
        Self.enabled.store(false, ordering: .releasing)
        Self.installed.withLock { $0 = nil }
    }

    static var tracer: (any Tracer)? {
        guard Self.isEnabled else { return nil }
        return Self.installed.withLock { $0 }
    }

    /// Starts the server span of a request a service handles, as a child of the request's `traceparent` (a new trace
    /// when it has none), and gives a request without a trace id the span's, so that log lines and spans agree.
    /// Health probes that come without a `traceparent` (the router's checks, every few hundred milliseconds) get no
    /// span: they would bury the requests' traces.
    /// - Parameters:
    ///   - request: the request; its trace id is set when it had none.
    ///   - service: the service's name, for `rpc.service`.
    /// - Returns: the span, or `nil` when tracing is off.
    public static func startServerSpan(for request: inout Request, service: String) -> RequestSpan? {
        guard let tracer = Self.tracer else { return nil }
        if request.method == Method.health || request.method == Method.modelList,
            request[parameter: ParameterKey.traceparent] == nil
        {
            return nil
        }
        var parent = InstrumentationContext.topLevel
        tracer.extract(request.parameters, into: &parent, using: ParameterPropagation())
        let span = tracer.startSpan("\(service)/\(request.method)", context: parent, ofKind: .server)
        span.attributes["rpc.system"] = "switchyard"
        span.attributes["rpc.service"] = service
        span.attributes["rpc.method"] = request.method
        Self.describe(request, in: span)
        if request.traceID == .none, let traceID = Self.traceID(of: span.context, tracer: tracer) {
            request.traceID = traceID
        }
        return RequestSpan(span: span)
    }

    /// Runs a call to another service in a client span (`<service>/<method>`), a child of the task's current span; the
    /// request the body gets carries the span's `traceparent` (and its trace id when it had none).
    /// - Parameters:
    ///   - service: the service called, e.g. `preprocess`.
    ///   - request: the request to send.
    ///   - body: sends it.
    /// - Returns: the body's response.
    /// - Throws: what the body throws, recorded on the span.
    public static func client(
        _ service: String,
        request: Request,
        _ body: (Request) async throws -> Response
    ) async throws -> Response {
        guard let tracer = Self.tracer else { return try await body(request) }
        let span = tracer.startSpan(
            "\(service)/\(request.method)",
            context: InstrumentationContext.current ?? .topLevel,
            ofKind: .client
        )
        span.attributes["rpc.system"] = "switchyard"
        span.attributes["rpc.service"] = service
        span.attributes["rpc.method"] = request.method
        Self.describe(request, in: span)
        var traced = request
        Self.inject(span.context, into: &traced, tracer: tracer)
        do {
            let response = try await body(traced)
            Self.end(span, with: .success(response))
            return response
        } catch {
            Self.end(span, with: .failure(error))
            throw error
        }
    }

    /// Starts the span of a batch of several requests sent as one: a child of the first request's `traceparent` (its
    /// client span), linked to the others', with the batch's size; the joined request carries the batch span's
    /// `traceparent` instead.
    /// - Parameters:
    ///   - request: the joined request; its `traceparent` is replaced by the batch span's.
    ///   - members: the requests joined, in batch order.
    ///   - rows: rows in the batch.
    ///   - attributes: more attributes (the batcher's stage and model), prefixed with `switchyard.`.
    /// - Returns: the span, or `nil` when tracing is off or no member was traced.
    public static func startBatchSpan(
        for request: inout Request,
        members: [Request],
        rows: Int,
        attributes: [(String, String)]
    ) -> RequestSpan? {
        guard let tracer = Self.tracer else { return nil }
        let contexts = members.compactMap { member -> InstrumentationContext? in
            guard member[parameter: ParameterKey.traceparent] != nil else { return nil }
            var context = InstrumentationContext.topLevel
            tracer.extract(member.parameters, into: &context, using: ParameterPropagation())
            return context
        }
        guard let first = contexts.first else { return nil }
        let span = tracer.startSpan("batch \(request.method)", context: first, ofKind: .internal)
        span.attributes["rpc.method"] = request.method
        span.attributes["switchyard.batch.size"] = rows
        span.attributes["switchyard.batch.requests"] = members.count
        for (key, value) in attributes { span.attributes["switchyard.\(key)"] = value }
        Self.describe(request, in: span)
        for context in contexts.dropFirst() { span.addLink(SpanLink(context: context, attributes: [:])) }
        Self.inject(span.context, into: &request, tracer: tracer)
        return RequestSpan(span: span)
    }

    static func end(_ span: any Span, with result: Result<Response, any Error>) {
        switch result {
        case .success(let response):
            if let version = response[parameter: ParameterKey.modelVersion] {
                span.attributes["switchyard.model.version"] = version
            }
            span.attributes["rpc.response.status_code"] = "ok"
        case .failure(let error):
            let status = (error as? any StatusConvertible)?.status.code.description ?? "internal"
            let code = String(status.map { $0 == " " ? "_" : $0 })  // `invalid_argument`: one token
            span.attributes["rpc.response.status_code"] = code
            span.attributes["error.type"] = code
            span.setStatus(SpanStatus(code: .error, message: "\(error)"))
        }
        span.end()
    }

    private static func describe(_ request: Request, in span: any Span) {
        if !request.model.isEmpty { span.attributes["switchyard.model.name"] = request.model }
        if !request.version.isEmpty { span.attributes["switchyard.model.version"] = request.version }
        if let rows = request.tensors.first?.tensor.shape.dims.first { span.attributes["switchyard.rows"] = rows }
    }

    private static func inject(_ context: InstrumentationContext, into request: inout Request, tracer: any Tracer) {
        tracer.inject(context, into: &request.parameters, using: ParameterPropagation())
        if request.traceID == .none, let traceID = Self.traceID(of: context, tracer: tracer) {
            request.traceID = traceID
        }
    }

    private static func traceID(of context: InstrumentationContext, tracer: any Tracer) -> TraceID? {
        var carrier: [Parameter] = []
        tracer.inject(context, into: &carrier, using: ParameterPropagation())
        return carrier.first { $0.key == ParameterKey.traceparent }.flatMap { TraceID(traceparent: $0.value) }
    }
}
