import Logging
import NIOCore
import NIOHTTP1
import SwitchyardTransport
import SwitchyardWire

/// What a request's head says, whichever HTTP version carried it.
struct RequestHead {
    var method: HTTPMethod
    var uri: String
    var authorization: String?
    var contentLength: String?
    var contentEncoding: String?
    var expectsContinue = false
    var inferenceHeaderLength: String?
    var traceparent: String?
}

/// An answer, whichever HTTP version carries it.
struct Reply {
    var status: HTTPResponseStatus
    var body: ByteBuffer?
    var contentType = "application/json"
    var headers: [(String, String)] = []
}

/// One request from its head to its answer, on its connection's event loop: admission (route, credentials,
/// limits), the body within its size and time, the endpoints, and an infer request's call of the backend with its
/// deadline. The HTTP/1.1 and HTTP/2 handlers feed it and carry its one answer (``send``).
///
/// Every request gets exactly one answer; ``cancel()`` (the client went away) cancels the backend's work.
final class Exchange {
    private enum State {
        case receiving
        /// Refused already; the body is read and dropped, the answer goes out at its end.
        case discarding(GatewayError)
        case answering
        case done
    }

    private let core: GatewayCore
    let head: RequestHead
    private let eventLoop: any EventLoop
    private let executor: EventLoopTaskExecutor
    private let allocator: ByteBufferAllocator
    private let peer: () -> PeerIdentity
    /// Sends the answer; `close` asks the transport to end the connection (HTTP/1.1) or stream (HTTP/2) with it.
    private let send: (Reply, _ close: Bool) -> Void
    private let sendContinue: () -> Void
    private var state = State.receiving
    private var route = Route.server
    private(set) var endpoint = "unknown"
    private var body: ByteBuffer?
    private var expectedLength: Int?
    private let started = NIODeadline.now()
    private var bodyTimer: Scheduled<Void>?
    private var deadlineTimer: Scheduled<Void>?
    private var task: Task<Void, Never>?

    init(
        core: GatewayCore,
        head: RequestHead,
        eventLoop: any EventLoop,
        executor: EventLoopTaskExecutor,
        allocator: ByteBufferAllocator,
        peer: @escaping () -> PeerIdentity,
        send: @escaping (Reply, Bool) -> Void,
        sendContinue: @escaping () -> Void
    ) {
        self.core = core
        self.head = head
        self.eventLoop = eventLoop
        self.executor = executor
        self.allocator = allocator
        self.peer = peer
        self.send = send
        self.sendContinue = sendContinue
    }

    /// Whether the answer went out.
    var isDone: Bool {
        if case .done = self.state { return true }
        return false
    }

    /// Whether the body is still being read (the handler arms the body timer for such exchanges).
    var isReceiving: Bool {
        switch self.state {
        case .receiving, .discarding: true
        case .answering, .done: false
        }
    }

    /// Starts the body's clock: called when a read ended with the body incomplete (a body that arrives with its head,
    /// the usual case, never needs the timer).
    func armBodyTimer() {
        guard self.bodyTimer == nil, self.isReceiving else { return }
        self.bodyTimer = self.eventLoop.assumeIsolated().scheduleTask(
            deadline: self.started + TimeAmount(self.core.configuration.bodyTimeout)
        ) {
            guard self.isReceiving else { return }
            let seconds = self.core.configuration.bodyTimeout.components.seconds
            self.answer(
                error: GatewayError(.bodyTimeout, "the request body did not arrive within \(seconds) s"),
                close: true
            )
        }
    }

    /// Admits the head: the route, credentials, the body's declared size and encoding.
    func start() {
        do throws(GatewayError) {
            self.route = try Route.parse(method: self.head.method, uri: self.head.uri)
            self.endpoint = self.route.name
            if self.route.needsCredentials, let tokens = self.core.tokens, !tokens.accepts(self.head.authorization) {
                throw GatewayError(
                    .unauthenticated,
                    "this endpoint needs 'Authorization: Bearer <token>' with a known token"
                )
            }
            if let length = self.head.contentLength {
                guard let bytes = Int(length), bytes >= 0 else {
                    throw GatewayError(.invalidRequest, "Content-Length '\(length)' is not a number")
                }
                guard bytes <= self.core.configuration.maxBodyBytes else {
                    let limit = self.core.configuration.maxBodyBytes
                    self.answer(
                        error: GatewayError(.bodyTooLarge, "the body of \(bytes) bytes is over the limit of \(limit)"),
                        close: true
                    )
                    return
                }
                self.expectedLength = bytes
            }
            if let encoding = self.head.contentEncoding, encoding.lowercased() != "identity" {
                throw GatewayError(
                    .unsupportedMediaType,
                    "Content-Encoding '\(encoding)' is not supported; send the body uncompressed"
                )
            }
            if self.head.expectsContinue { self.sendContinue() }
        } catch {
            self.state = .discarding(error)
        }
    }

    /// A part of the body.
    func receive(_ buffer: ByteBuffer) {
        guard case .receiving = self.state else { return }  // refused already: dropped
        let total = (self.body?.readableBytes ?? 0) + buffer.readableBytes
        guard total <= self.core.configuration.maxBodyBytes else {
            let limit = self.core.configuration.maxBodyBytes
            self.answer(error: GatewayError(.bodyTooLarge, "the body is over the limit of \(limit) bytes"), close: true)
            return
        }
        if self.body == nil {
            if let expected = self.expectedLength, expected > buffer.readableBytes {
                var whole = self.allocator.buffer(capacity: expected)  // one allocation for a body in parts
                whole.writeImmutableBuffer(buffer)
                self.body = whole
            } else {
                self.body = buffer  // the whole body in one read: no copy
            }
        } else {
            self.body!.writeImmutableBuffer(buffer)
        }
    }

    /// The body is complete: serve the request.
    func end() {
        self.bodyTimer?.cancel()
        switch self.state {
        case .receiving:
            do {
                try self.dispatch()
            } catch {
                self.answer(error: error)
            }
        case .discarding(let error):
            self.answer(error: error)
        case .answering, .done:
            break
        }
    }

    /// The client went away: nothing can be answered; the backend's work is cancelled.
    func cancel() {
        if case .answering = self.state {
            self.core.logger.debug("client went away; cancelling", metadata: ["http.endpoint": "\(self.endpoint)"])
            self.core.metrics.record(endpoint: self.endpoint, code: 499, since: self.started)
        }
        self.state = .done
        self.task?.cancel()
        self.task = nil
        self.bodyTimer?.cancel()
        self.deadlineTimer?.cancel()
        self.body = nil
    }

    // MARK: Endpoints

    private func dispatch() throws {
        let backend = self.core.backend
        func known(_ name: String, _ version: String?) throws(GatewayError) -> ModelMetadata {
            guard let model = backend.model(named: name) else {
                throw GatewayError(
                    .notFound,
                    "unknown model '\(name)' (models: \(backend.modelNames.joined(separator: ", ")))"
                )
            }
            if let version, !model.versions.contains(version), !(model.readyVersions ?? []).contains(version) {
                throw GatewayError(
                    .notFound,
                    "model '\(name)' has no version '\(version)' (versions: \(model.versions.joined(separator: ", ")))"
                )
            }
            return model
        }
        func ok(_ body: ByteBuffer?) { self.answer(Reply(status: .ok, body: body)) }
        func unavailable(_ reason: String) {
            self.answer(
                Reply(status: .serviceUnavailable, body: MetadataEncoder.error(reason, allocator: self.allocator))
            )
        }
        switch self.route {
        case .server:
            let configuration = self.core.configuration
            ok(
                MetadataEncoder.server(
                    name: configuration.serverName,
                    version: configuration.serverVersion,
                    allocator: self.allocator
                )
            )
        case .live:
            ok(nil)
        case .ready:
            if let reason = backend.notReadyReason { unavailable("not ready: \(reason)") } else { ok(nil) }
        case .modelMetadata(let name, let version):
            ok(MetadataEncoder.model(try known(name, version), version: version, allocator: self.allocator))
        case .modelReady(let name, let version):
            if let reason = Self.notReady(try known(name, version), version: version, backend: backend) {
                unavailable(reason)
            } else {
                ok(nil)
            }
        case .modelConfig(let name, let version):
            ok(MetadataEncoder.configuration(try known(name, version), allocator: self.allocator))
        case .statistics(let name, let version):
            if let name { _ = try known(name, version) }
            ok(
                MetadataEncoder.statistics(
                    self.core.statistics?.snapshot(model: name, version: version) ?? [],
                    allocator: self.allocator
                )
            )
        case .infer(let model, let version):
            try self.infer(model: model, version: version ?? "")
        }
    }

    private static func notReady(_ model: ModelMetadata, version: String?, backend: any GatewayBackend) -> String? {
        if let reason = backend.notReadyReason { return "not ready: \(reason)" }
        guard let ready = model.readyVersions else { return nil }
        if let version {
            return ready.contains(version)
                ? nil : "version '\(version)' of model '\(model.name)' is not loaded by any inference instance"
        }
        return ready.isEmpty ? "no version of model '\(model.name)' is loaded by any inference instance" : nil
    }

    private func infer(model: String, version: String) throws {
        var headerLength: Int?
        if let text = self.head.inferenceHeaderLength {
            guard let length = Int(text), length >= 0 else {
                throw GatewayError(.invalidRequest, "Inference-Header-Content-Length '\(text)' is not a byte count")
            }
            headerLength = length
        }
        let body = self.body ?? self.allocator.buffer(capacity: 0)
        self.body = nil
        var (request, plan) = try InferenceRequestDecoder.decode(
            body: body,
            headerLength: headerLength,
            model: model,
            version: version
        )
        // none without `traceparent`: the backend's span (or the backend) gives it one, so that logs and span agree
        request.traceID = TraceParent.traceID(self.head.traceparent) ?? .none
        if let traceparent = self.head.traceparent, request.traceID != .none {
            // the caller's span goes on as on the wire: with tracing on, the router's span is its child
            request.parameters.removeAll { $0.key == ParameterKey.traceparent }
            request.parameters.append(Parameter(ParameterKey.traceparent, traceparent))
        }
        let timeout = request.timeout ?? self.core.configuration.defaultRequestTimeout
        request.timeout = timeout
        let context = RequestContext(
            requestID: self.core.nextRequestID(),
            deadline: timeout.map { ContinuousClock.now.advanced(by: $0) },
            peer: self.peer(),
            logger: self.core.logger
        )
        if let refusal = self.core.backend.refusal(for: request, deadline: context.deadline) {
            self.answer(error: refusal)  // shed at arrival: no task, no deadline timer
            return
        }
        self.state = .answering
        if let timeout {
            self.deadlineTimer = self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                self.task?.cancel()
                self.finish(.failure(Status(.deadlineExceeded, "deadline of \(timeout) passed")), plan: plan)
            }
        }
        let backend = self.core.backend
        let loop = self.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let answerPlan = plan
        let task = Task.immediate(executorPreference: self.executor) {
            let result: Result<Response, any Error>
            do {
                result = .success(try await backend.handle(request, context: context))
            } catch {
                result = .failure(error)
            }
            if loop.inEventLoop {
                bound.value.finish(result, plan: answerPlan)
            } else {
                loop.execute { bound.value.finish(result, plan: answerPlan) }
            }
        }
        if case .answering = self.state { self.task = task }  // a handler that answered at once is finished already
    }

    private func finish(_ result: Result<Response, any Error>, plan: ResponsePlan) {
        guard case .answering = self.state else { return }
        self.deadlineTimer?.cancel()
        self.task = nil
        switch result {
        case .success(let response):
            do {
                let encoded = try InferenceResponseEncoder.encode(response, plan: plan, allocator: self.allocator)
                var reply = Reply(status: .ok, body: encoded.body)
                if let length = encoded.headerLength {
                    reply.contentType = "application/octet-stream"
                    reply.headers.append(("inference-header-content-length", "\(length)"))
                }
                self.answer(reply)
            } catch {
                self.answer(error: error)
            }
        case .failure(let error):
            if !(error is any StatusConvertible), !(error is CancellationError) {
                self.core.logger.error("infer failed", metadata: ["error": "\(error)", "model.name": "\(plan.model)"])
            }
            self.answer(error: error)
        }
    }

    // MARK: Answers

    private func answer(error: any Error, close: Bool = false) {
        var reply: Reply
        if let gateway = error as? GatewayError {
            reply = Reply(
                status: HTTPResponseStatus(statusCode: gateway.code.httpStatus),
                body: MetadataEncoder.error(gateway.message, allocator: self.allocator)
            )
            if gateway.code == .unauthenticated { reply.headers.append(("www-authenticate", "Bearer")) }
            if gateway.code == .methodNotAllowed {
                reply.headers.append(("allow", self.head.method == .POST ? "GET, HEAD" : "POST"))
            }
        } else {
            let status =
                (error as? any StatusConvertible)?.status
                ?? (error is CancellationError
                    ? Status(.cancelled, "the request was cancelled")
                    : Status(.internalError, "internal error in the gateway"))
            let code = HTTPStatusMapping.httpStatus(for: status.code)
            reply = Reply(
                status: HTTPResponseStatus(statusCode: code),
                body: MetadataEncoder.error(status.description, allocator: self.allocator)
            )
            if code == 429 || code == 503 { reply.headers.append(("retry-after", "1")) }
        }
        self.answer(reply, close: close)
    }

    private func answer(_ reply: Reply, close: Bool = false) {
        if case .done = self.state { return }
        self.state = .done
        self.bodyTimer?.cancel()
        self.deadlineTimer?.cancel()
        self.core.metrics.record(endpoint: self.endpoint, code: Int(reply.status.code), since: self.started)
        self.send(reply, close)
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
