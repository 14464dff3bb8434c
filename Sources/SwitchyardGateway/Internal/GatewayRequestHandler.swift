import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// Serves the requests of one HTTP/1.1 connection (one at a time, as NIO's pipelining handler hands them over) or
/// one HTTP/2 stream: reads the body within its limits and time, answers the metadata endpoints, and turns an
/// infer request into one call of the router's handler on this event loop.
///
/// Every request gets exactly one answer. When the client goes away (the connection closes, or the HTTP/2 stream
/// is reset) the router's task is cancelled, which cancels the request on every hop.
final class GatewayRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Reading the body of a request that will be served.
        case receiving
        /// Reading (and dropping) the body of a request already refused; the answer goes out at its end.
        case discarding(GatewayError)
        /// The router is working on it.
        case answering
        case closed
    }

    private let core: GatewayCore
    private let timeouts: ConnectionTimeoutHandler?
    private let isHTTP2: Bool
    private var state = State.idle
    private var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
    private var route = Route.server
    /// The route's name for metrics, `unknown` when the path matched none.
    private var endpoint = "unknown"
    private var body: ByteBuffer?
    private var expectedLength: Int?
    private var started = NIODeadline.now()
    private var bodyTimer: Scheduled<Void>?
    private var deadlineTimer: Scheduled<Void>?
    private var task: Task<Void, Never>?
    private var serial: UInt64 = 0
    private var executor: EventLoopTaskExecutor?
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?

    /// - Parameters:
    ///   - core: the gateway's shared state.
    ///   - timeouts: the connection's idle and header timer (HTTP/1.1), told when requests start and end.
    ///   - isHTTP2: whether this handler serves an HTTP/2 stream.
    init(core: GatewayCore, timeouts: ConnectionTimeoutHandler?, isHTTP2: Bool) {
        self.core = core
        self.timeouts = timeouts
        self.isHTTP2 = isHTTP2
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .answering = self.state {
            self.core.logger.debug("client went away; cancelling", metadata: ["http.endpoint": "\(self.route.name)"])
            self.core.metrics.record(endpoint: self.endpoint, code: 499, since: self.started)
        }
        self.stop()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.core.logger.debug("http stream failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func stop() {
        self.state = .closed
        self.task?.cancel()
        self.task = nil
        self.bodyTimer?.cancel()
        self.deadlineTimer?.cancel()
        self.body = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head): self.receive(head, context: context)
        case .body(let buffer): self.receive(buffer, context: context)
        case .end: self.receiveEnd(context: context)
        }
    }

    // MARK: Receiving

    private func receive(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard case .idle = self.state else { return }
        self.serial &+= 1
        self.started = .now()
        self.head = head
        self.body = nil
        self.expectedLength = nil
        self.timeouts?.requestHeadReceived()
        self.state = .receiving
        let serial = self.serial
        self.bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.core.configuration.bodyTimeout)) {
            self.bodyTimedOut(serial: serial, context: context)
        }
        self.endpoint = "unknown"
        do throws(GatewayError) {
            self.route = try Route.parse(method: head.method, uri: head.uri)
            self.endpoint = self.route.name
            if self.route.needsCredentials, let tokens = self.core.tokens, !tokens.accepts(head.headers.first(name: "authorization")) {
                throw GatewayError(.unauthenticated, "this endpoint needs 'Authorization: Bearer <token>' with a known token")
            }
            if let length = head.headers.first(name: "content-length") {
                guard let bytes = Int(length), bytes >= 0 else { throw GatewayError(.invalidRequest, "Content-Length '\(length)' is not a number") }
                guard bytes <= self.core.configuration.maxBodyBytes else {
                    self.respondAndClose(
                        GatewayError(.bodyTooLarge, "the body of \(bytes) bytes is over the limit of \(self.core.configuration.maxBodyBytes)"),
                        context: context)
                    return
                }
                self.expectedLength = bytes
            }
            if let encoding = head.headers.first(name: "content-encoding"), encoding.lowercased() != "identity" {
                throw GatewayError(.unsupportedMediaType, "Content-Encoding '\(encoding)' is not supported; send the body uncompressed")
            }
            if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(
                    self.wrapOutboundOut(.head(HTTPResponseHead(version: self.responseVersion, status: .continue))), promise: nil)
            }
        } catch {
            self.state = .discarding(error)
        }
    }

    private func receive(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        guard case .receiving = self.state else { return }  // discarding, or refused: drop
        let total = (self.body?.readableBytes ?? 0) + buffer.readableBytes
        guard total <= self.core.configuration.maxBodyBytes else {
            self.respondAndClose(
                GatewayError(.bodyTooLarge, "the body is over the limit of \(self.core.configuration.maxBodyBytes) bytes"), context: context)
            return
        }
        if self.body == nil {
            if let expected = self.expectedLength, expected > buffer.readableBytes {
                var whole = context.channel.allocator.buffer(capacity: expected)  // one allocation for a body in parts
                whole.writeImmutableBuffer(buffer)
                self.body = whole
            } else {
                self.body = buffer  // the whole body in one read: no copy
            }
        } else {
            self.body!.writeImmutableBuffer(buffer)
        }
    }

    private func receiveEnd(context: ChannelHandlerContext) {
        self.bodyTimer?.cancel()
        self.bodyTimer = nil
        switch self.state {
        case .receiving: self.dispatch(context: context)
        case .discarding(let error): self.respond(error, context: context)
        case .idle, .answering, .closed: break
        }
    }

    private func bodyTimedOut(serial: UInt64, context: ChannelHandlerContext) {
        guard serial == self.serial else { return }
        switch self.state {
        case .receiving, .discarding:
            let seconds = self.core.configuration.bodyTimeout.components.seconds
            self.respondAndClose(GatewayError(.bodyTimeout, "the request body did not arrive within \(seconds) s"), context: context)
        case .idle, .answering, .closed:
            break
        }
    }

    // MARK: Endpoints

    private func dispatch(context: ChannelHandlerContext) {
        let allocator = context.channel.allocator
        let backend = self.core.backend
        func unknown(_ model: String) -> GatewayError {
            GatewayError(.notFound, "unknown model '\(model)' (models: \(backend.modelNames.joined(separator: ", ")))")
        }
        func known(_ name: String, _ version: String?) throws(GatewayError) -> ModelMetadata {
            guard let model = backend.model(named: name) else { throw unknown(name) }
            if let version, !model.versions.contains(version), !(model.readyVersions ?? []).contains(version) {
                throw GatewayError(.notFound, "model '\(name)' has no version '\(version)' (versions: \(model.versions.joined(separator: ", ")))")
            }
            return model
        }
        do {
            switch self.route {
            case .server:
                self.respond(
                    status: .ok,
                    body: MetadataEncoder.server(name: self.core.configuration.serverName, version: self.core.configuration.serverVersion, allocator: allocator),
                    context: context)
            case .live:
                self.respond(status: .ok, body: nil, context: context)
            case .ready:
                if let reason = backend.notReadyReason {
                    self.respond(status: .serviceUnavailable, body: MetadataEncoder.error("not ready: \(reason)", allocator: allocator), context: context)
                } else {
                    self.respond(status: .ok, body: nil, context: context)
                }
            case .modelMetadata(let name, let version):
                let model = try known(name, version)
                self.respond(status: .ok, body: MetadataEncoder.model(model, version: version, allocator: allocator), context: context)
            case .modelReady(let name, let version):
                let model = try known(name, version)
                if let reason = Self.notReady(model, version: version, backend: backend) {
                    self.respond(status: .serviceUnavailable, body: MetadataEncoder.error(reason, allocator: allocator), context: context)
                } else {
                    self.respond(status: .ok, body: nil, context: context)
                }
            case .modelConfig(let name, let version):
                let model = try known(name, version)
                self.respond(status: .ok, body: MetadataEncoder.configuration(model, allocator: allocator), context: context)
            case .statistics(let name, let version):
                if let name { _ = try known(name, version) }
                let entries = self.core.statistics?.snapshot(model: name, version: version) ?? []
                self.respond(status: .ok, body: MetadataEncoder.statistics(entries, allocator: allocator), context: context)
            case .infer(let model, let version):
                try self.infer(model: model, version: version ?? "", context: context)
            }
        } catch {
            self.respond(error, context: context)
        }
    }

    private static func notReady(_ model: ModelMetadata, version: String?, backend: any GatewayBackend) -> String? {
        if let reason = backend.notReadyReason { return "not ready: \(reason)" }
        guard let ready = model.readyVersions else { return nil }
        if let version {
            return ready.contains(version) ? nil : "version '\(version)' of model '\(model.name)' is not loaded by any inference instance"
        }
        return ready.isEmpty ? "no version of model '\(model.name)' is loaded by any inference instance" : nil
    }

    private func infer(model: String, version: String, context: ChannelHandlerContext) throws {
        var headerLength: Int?
        if let text = self.head.headers.first(name: "inference-header-content-length") {
            guard let length = Int(text), length >= 0 else {
                throw GatewayError(.invalidRequest, "Inference-Header-Content-Length '\(text)' is not a byte count")
            }
            headerLength = length
        }
        let body = self.body ?? context.channel.allocator.buffer(capacity: 0)
        self.body = nil
        var (request, plan) = try InferenceRequestDecoder.decode(body: body, headerLength: headerLength, model: model, version: version)
        request.traceID = TraceParent.traceID(self.head.headers.first(name: "traceparent")) ?? .random()
        let timeout = request.timeout ?? self.core.configuration.defaultRequestTimeout
        request.timeout = timeout
        let requestContext = RequestContext(
            requestID: self.core.nextRequestID(), deadline: timeout.map { ContinuousClock.now.advanced(by: $0) },
            peer: self.peerIdentity(context: context), logger: self.core.logger)
        self.state = .answering
        let serial = self.serial
        if let timeout {
            self.deadlineTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                self.task?.cancel()
                self.finish(serial: serial, .failure(Status(.deadlineExceeded, "deadline of \(timeout) passed")), plan: plan, context: context)
            }
        }
        let backend = self.core.backend
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let answerPlan = plan
        let task = Task.immediate(executorPreference: self.executor) {
            let result: Result<Response, any Error>
            do {
                result = .success(try await backend.handle(request, context: requestContext))
            } catch {
                result = .failure(error)
            }
            @Sendable func complete() {
                guard let context = bound.value.context else { return }  // the stream or connection is gone
                bound.value.finish(serial: serial, result, plan: answerPlan, context: context)
            }
            if loop.inEventLoop { complete() } else { loop.execute(complete) }
        }
        if serial == self.serial, case .answering = self.state { self.task = task }
    }

    private func finish(serial: UInt64, _ result: Result<Response, any Error>, plan: ResponsePlan, context: ChannelHandlerContext) {
        guard serial == self.serial, case .answering = self.state else { return }
        self.deadlineTimer?.cancel()
        self.deadlineTimer = nil
        self.task = nil
        switch result {
        case .success(let response):
            do {
                let encoded = try InferenceResponseEncoder.encode(response, plan: plan, allocator: context.channel.allocator)
                var extra: [(String, String)] = []
                if let length = encoded.headerLength { extra.append(("inference-header-content-length", "\(length)")) }
                self.respond(
                    status: .ok, body: encoded.body, contentType: encoded.headerLength == nil ? "application/json" : "application/octet-stream",
                    extraHeaders: extra, context: context)
            } catch {
                self.respond(error, context: context)
            }
        case .failure(let error):
            let status: Status
            if let convertible = error as? any StatusConvertible {
                status = convertible.status
            } else if error is CancellationError {
                status = Status(.cancelled, "the request was cancelled")
            } else {
                self.core.logger.error("infer failed", metadata: ["error": "\(error)", "model.name": "\(plan.model)"])
                status = Status(.internalError, "internal error in the gateway")
            }
            self.respond(status, context: context)
        }
    }

    // MARK: Answers

    private var responseVersion: HTTPVersion { self.isHTTP2 ? .http2 : self.head.version }

    private func respond(_ error: any Error, context: ChannelHandlerContext) {
        if let gateway = error as? GatewayError {
            var extra: [(String, String)] = []
            if gateway.code == .unauthenticated { extra.append(("www-authenticate", "Bearer")) }
            if gateway.code == .methodNotAllowed { extra.append(("allow", self.head.method == .POST ? "GET, HEAD" : "POST")) }
            self.respond(
                status: HTTPResponseStatus(statusCode: gateway.code.httpStatus),
                body: MetadataEncoder.error(gateway.message, allocator: context.channel.allocator), extraHeaders: extra, context: context)
        } else if let convertible = error as? any StatusConvertible {
            self.respond(convertible.status, context: context)
        } else {
            self.respond(Status(.internalError, "\(error)"), context: context)
        }
    }

    private func respond(_ status: Status, context: ChannelHandlerContext) {
        let code = HTTPStatusMapping.httpStatus(for: status.code)
        var extra: [(String, String)] = []
        if code == 429 || code == 503 { extra.append(("retry-after", "1")) }
        self.respond(
            status: HTTPResponseStatus(statusCode: code),
            body: MetadataEncoder.error(status.description, allocator: context.channel.allocator), extraHeaders: extra, context: context)
    }

    /// Answers and closes: for a body that will not be read (too large, too slow).
    private func respondAndClose(_ error: GatewayError, context: ChannelHandlerContext) {
        self.bodyTimer?.cancel()
        self.respond(
            status: HTTPResponseStatus(statusCode: error.code.httpStatus),
            body: MetadataEncoder.error(error.message, allocator: context.channel.allocator), close: true, context: context)
    }

    private func respond(
        status: HTTPResponseStatus, body: ByteBuffer?, contentType: String = "application/json", extraHeaders: [(String, String)] = [],
        close: Bool = false, context: ChannelHandlerContext
    ) {
        guard case let state = self.state, !Self.isClosed(state) else { return }
        self.bodyTimer?.cancel()
        let closing = close || (!self.isHTTP2 && !self.head.isKeepAlive)
        var headers = HTTPHeaders()
        if body != nil { headers.add(name: "content-type", value: contentType) }
        headers.add(name: "content-length", value: "\(body?.readableBytes ?? 0)")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if closing, !self.isHTTP2 { headers.add(name: "connection", value: "close") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: self.responseVersion, status: status, headers: headers))), promise: nil)
        if let body, self.head.method != .HEAD { context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        self.core.metrics.record(endpoint: self.endpoint, code: Int(status.code), since: self.started)
        if closing {
            self.state = .closed
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            self.state = .idle
            self.timeouts?.responseCompleted()  // before the end goes out: a pipelined request may arrive during the write
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private static func isClosed(_ state: State) -> Bool {
        if case .closed = state { return true }
        return false
    }

    /// Who is calling: the client certificate's names under mutual TLS, else an anonymous HTTP client.
    private func peerIdentity(context: ChannelHandlerContext) -> PeerIdentity {
        if let peer = self.peer { return peer }
        var peer = PeerIdentity(announced: "http")
        let connection = self.isHTTP2 ? context.channel.parent ?? context.channel : context.channel  // an HTTP/1 parent is the listener
        if let tls = try? connection.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self), let certificate = tls.peerCertificate {
            let names = certificate.subjectName
            peer.commonName = names.last { $0.type == .commonName }?.value
            peer.organizationalUnits = names.filter { $0.type == .organizationalUnit }.map(\.value)
        }
        self.peer = peer
        return peer
    }
}

@available(*, unavailable)
extension GatewayRequestHandler: Sendable {}
