import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import ServiceLifecycle
import SwitchyardGateway
import SwitchyardTesting
import Synchronization
import Testing

/// HTTP/2 and TLS with real clients: curl (h2c with prior knowledge, h2 and HTTP/1.1 over TLS by ALPN, mutual TLS,
/// bearer tokens), h2load (many streams on one connection), and an HTTP/2 client that resets a stream mid-request.
@Suite(.timeLimit(.minutes(3)))
struct GatewayProtocolTests {
    static let body = String(decoding: GatewayServerTests.jsonInfer, as: UTF8.self)
    static let certificates = GatewayHarness.certificates

    /// `curl` with the status and HTTP version on the last line.
    private func curl(_ arguments: [String]) async throws -> (status: Int, version: String, body: String, exit: Int32) {
        let (exit, output) = try await runCommand(
            try installedTool("curl"),
            ["-sS", "--max-time", "10", "-w", "\n%{http_code} %{http_version}"] + arguments
        )
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let last = lines.last.map(String.init) ?? ""
        let parts = last.split(separator: " ")
        return (
            Int(parts.first ?? "") ?? 0, parts.count > 1 ? String(parts[1]) : "",
            lines.dropLast().joined(separator: "\n"), exit
        )
    }

    @Test func speaksH2cWithPriorKnowledgeAndHTTP1OnOnePort() async throws {
        try await GatewayHarness.with { gateway, _ in
            let url = "http://127.0.0.1:\(gateway.port)/v2/models/digits/infer"
            let h2 = try await self.curl([
                "--http2-prior-knowledge", "-H", "content-type: application/json", "--data-binary", Self.body, url,
            ])
            #expect(h2.status == 200, "\(h2)")
            #expect(h2.version == "2")
            #expect(h2.body.contains(#""model_name":"digits""#))
            let h1 = try await self.curl(["--http1.1", "--data-binary", Self.body, url])
            #expect(h1.status == 200)
            #expect(h1.version == "1.1")
            let missing = try await self.curl([
                "--http2-prior-knowledge", "http://127.0.0.1:\(gateway.port)/v2/models/nope",
            ])
            #expect(missing.status == 404)
            #expect(missing.body.contains("\"error\""))
        }
    }

    @Test func negotiatesH2AndHTTP1OverTLSWithBearerTokens() async throws {
        let security = GatewayConfiguration.Security.serverTLS(
            certificatePath: Self.certificates.certificatePath("server"),
            keyPath: Self.certificates.keyPath("server"),
            tokens: try BearerTokens([GatewayHarness.token])
        )
        try await GatewayHarness.with(security: security) { gateway, _ in
            let url = "https://127.0.0.1:\(gateway.port)/v2/models/digits/infer"
            let auth = ["--cacert", Self.certificates.caPath, "-H", "authorization: Bearer \(GatewayHarness.token)"]
            let h2 = try await self.curl(auth + ["--http2", "--data-binary", Self.body, url])
            #expect(h2.status == 200, "\(h2)")
            #expect(h2.version == "2")
            let h1 = try await self.curl(auth + ["--http1.1", "--data-binary", Self.body, url])
            #expect(h1.status == 200)
            #expect(h1.version == "1.1")
            let anonymous = try await self.curl([
                "--cacert", Self.certificates.caPath, "--http2", "--data-binary", Self.body, url,
            ])
            #expect(anonymous.status == 401)
            let health = try await self.curl([
                "--cacert", Self.certificates.caPath, "https://127.0.0.1:\(gateway.port)/v2/health/ready",
            ])
            #expect(health.status == 200)
            #expect(gateway.backend.requestCount == 2)
        }
    }

    @Test func mutualTLSRefusesClientsWithoutACertificate() async throws {
        let security = GatewayConfiguration.Security.mutualTLS(
            caPath: Self.certificates.caPath,
            certificatePath: Self.certificates.certificatePath("server"),
            keyPath: Self.certificates.keyPath("server")
        )
        try await GatewayHarness.with(security: security) { gateway, _ in
            let url = "https://127.0.0.1:\(gateway.port)/v2/models/digits/infer"
            let withCertificate = try await self.curl([
                "--cacert", Self.certificates.caPath, "--cert", Self.certificates.certificatePath("client"), "--key",
                Self.certificates.keyPath("client"), "--http2", "--data-binary", Self.body, url,
            ])
            #expect(withCertificate.status == 200, "\(withCertificate)")
            #expect(withCertificate.version == "2")
            let without = try await self.curl([
                "--cacert", Self.certificates.caPath, "--http2", "--data-binary", Self.body, url,
            ])
            #expect(without.status != 200)
            #expect(without.exit != 0)
            #expect(gateway.backend.requestCount == 1)
        }
    }

    /// tritonclient.http over TLS, unchanged: a bearer token under server-only TLS, a client certificate under mutual
    /// TLS; JSON and binary tensors both ways. Without the token the same client gets 401 with a message.
    @Test(arguments: ["token", "certificate"])
    func tritonclientCallsOverTLSWithATokenOrAClientCertificate(_ credential: String) async throws {
        let python = try testPython()
        let (server, key) = (Self.certificates.certificatePath("server"), Self.certificates.keyPath("server"))
        let security: GatewayConfiguration.Security =
            credential == "token"
            ? .serverTLS(certificatePath: server, keyPath: key, tokens: try BearerTokens([GatewayHarness.token]))
            : .mutualTLS(caPath: Self.certificates.caPath, certificatePath: server, keyPath: key)
        let arguments =
            credential == "token"
            ? ["--token", GatewayHarness.token]
            : ["--cert", Self.certificates.certificatePath("client"), "--key", Self.certificates.keyPath("client")]
        try await GatewayHarness.with(security: security) { gateway, _ in
            let script = packageRoot().appendingPathComponent("Tests/Fixtures/gateway/tritonclient_tls.py").path
            let (status, output) = try await runCommand(
                python,
                [script, "127.0.0.1:\(gateway.port)", Self.certificates.caPath] + arguments,
                timeout: .seconds(60)
            )
            #expect(status == 0, "\(output)")
            let line = try #require(output.split(separator: "\n").last)
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                "\(output)"
            )
            #expect(report["ready"] as? Bool == true)
            #expect(report["metadata"] as? String == "digits")
            for mode in ["json", "binary"] {
                let answer = try #require(report[mode] as? [String: Any], "\(mode)")
                #expect(answer["id"] as? String == mode)
                #expect(answer["label"] as? [Int] == [2, 2], "\(mode)")
                #expect(answer["probabilities"] as? [[Double]] == [[0.25, 0.5], [2, 3]], "\(mode)")
            }
            let anonymous = try #require(report["anonymous"] as? [String: Any])
            if credential == "token" {
                #expect(anonymous["status"] as? String == "401", "\(anonymous)")
                #expect((anonymous["message"] as? String)?.contains("token") == true, "\(anonymous)")
                #expect(gateway.backend.requestCount == 2)
            } else {
                #expect(anonymous["status"] as? String == "200")  // the certificate is the connection's credential
                #expect(gateway.backend.requestCount == 3)
            }
        }
    }

    @Test func h2loadRunsManyStreamsOnOneConnection() async throws {
        try await GatewayHarness.with { gateway, _ in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent(
                "gateway-h2load-\(UUID().uuidString).json"
            )
            try Data(GatewayServerTests.jsonInfer).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let (exit, output) = try await runCommand(
                try installedTool("h2load"),
                [
                    "-n", "400", "-c", "1", "-m", "32", "-d", file.path, "-H", "content-type: application/json",
                    "http://127.0.0.1:\(gateway.port)/v2/models/digits/infer",
                ],
                timeout: .seconds(60)
            )
            #expect(exit == 0, "\(output)")
            #expect(output.contains("400 succeeded, 0 failed, 0 errored"), "\(output)")
            #expect(output.contains("status codes: 400 2xx"), "\(output)")
            #expect(gateway.backend.requestCount == 400)
        }
    }

    @Test func resettingAnHTTP2StreamCancelsItsRequest() async throws {
        let backend = FakeBackend { _ in
            try await Task.sleep(for: .seconds(30))
            throw GatewayTestError("should have been cancelled")
        }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: "127.0.0.1", port: gateway.port).get()
            defer { channel.close(promise: nil) }
            let multiplexer = try await channel.eventLoop.flatSubmit {
                channel.configureHTTP2Pipeline(
                    mode: .client,
                    connectionConfiguration: .init(),
                    streamConfiguration: .init()
                ) { $0.eventLoop.makeSucceededVoidFuture() }
            }.get()
            func send(to stream: any Channel) async throws {
                let headers = HPACKHeaders([
                    (":method", "POST"), (":path", "/v2/models/digits/infer"), (":scheme", "http"),
                    (":authority", "localhost"),
                    ("content-type", "application/json"),
                ])
                try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers))).get()
                let data = HTTP2Frame.FramePayload.data(
                    .init(data: .byteBuffer(ByteBuffer(bytes: GatewayServerTests.jsonInfer)), endStream: true)
                )
                try await stream.writeAndFlush(data).get()
            }
            let first = try await multiplexer.createStreamChannel { $0.eventLoop.makeSucceededVoidFuture() }.get()
            let second = try await multiplexer.createStreamChannel { $0.eventLoop.makeSucceededVoidFuture() }.get()
            try await send(to: first)
            try await send(to: second)
            #expect(await backend.waitForRequests(2))
            // RST_STREAM (its future reports the stream cancelled); the connection stays open
            try? await first.close().get()
            #expect(await backend.waitForCancellations(1))
            #expect(backend.cancelled.load(ordering: .relaxed) == 1)
            #expect(channel.isActive)
            try? await second.close().get()
            #expect(await backend.waitForCancellations(2))
        }
    }

    /// Collects a stream's answer: its status and body, complete at END_STREAM.
    private final class AnswerCollector: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        private let answered: EventLoopPromise<(status: String, body: String)>
        private var status = ""
        private var body = ""

        init(_ answered: EventLoopPromise<(status: String, body: String)>) { self.answered = answered }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .headers(let headers):
                self.status = headers.headers.first(name: ":status") ?? self.status
                if headers.endStream { self.answered.succeed((self.status, self.body)) }
            case .data(let data):
                if case .byteBuffer(let buffer) = data.data { self.body += String(buffer: buffer) }
                if data.endStream { self.answered.succeed((self.status, self.body)) }
            default:
                break
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.answered.fail(GatewayTestError("the stream closed without an answer"))
        }
    }

    @Test func drainingAnswersTheHTTP2StreamsInFlightThenCloses() async throws {
        let backend = FakeBackend { request in
            try await Task.sleep(for: .milliseconds(300))
            return try await FakeBackend.echoLabel(request)
        }
        try await GatewayHarness.with(backend: backend) { gateway, group in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(host: "127.0.0.1", port: gateway.port).get()
            defer { channel.close(promise: nil) }
            let multiplexer = try await channel.eventLoop.flatSubmit {
                channel.configureHTTP2Pipeline(
                    mode: .client,
                    connectionConfiguration: .init(),
                    streamConfiguration: .init()
                ) { $0.eventLoop.makeSucceededVoidFuture() }
            }.get()
            let answered = channel.eventLoop.makePromise(of: (status: String, body: String).self)
            let stream = try await multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(AnswerCollector(answered))
                }
            }.get()
            let headers = HPACKHeaders([
                (":method", "POST"), (":path", "/v2/models/digits/infer"), (":scheme", "http"),
                (":authority", "localhost"), ("content-type", "application/json"),
            ])
            try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers))).get()
            let body = ByteBuffer(bytes: GatewayServerTests.jsonInfer)
            try await stream.writeAndFlush(
                HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body), endStream: true))
            )
            .get()
            #expect(await backend.waitForRequests(1))
            await group.triggerGracefulShutdown()  // GOAWAY; the stream in flight still gets its answer
            channel.eventLoop.scheduleTask(in: .seconds(30)) {
                answered.fail(GatewayTestError("no answer within 30 s"))
            }
            let answer = try await answered.futureResult.get()
            #expect(answer.status == "200")
            #expect(answer.body.contains(#""model_name":"digits""#))
            // with nothing left in flight, the gateway closes the connection
            let closed = channel.eventLoop.makePromise(of: Bool.self)
            channel.closeFuture.whenComplete { _ in closed.succeed(true) }
            channel.eventLoop.scheduleTask(in: .seconds(30)) { closed.succeed(false) }  // bounded; busy machines
            #expect(try await closed.futureResult.get())
        }
    }
}
