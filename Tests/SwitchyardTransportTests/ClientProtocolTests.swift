import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// A TLS server that answers the client's first bytes with fixed frames and records what the client sends.
final class ScriptedServer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let reply: [UInt8]
    let received = NIOLockedValueBox<[UInt8]>([])
    let replied = NIOLockedValueBox(false)

    init(reply: [Frame]) { self.reply = reply.flatMap { $0.encoded() } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        self.received.withLockedValue { $0 += buffer.readableBytesView }
        let first = self.replied.withLockedValue { replied in
            defer { replied = true }
            return !replied
        }
        if first {
            context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(bytes: self.reply)), promise: nil)
        }
    }

    /// The frames the client sent, decoded.
    func frames() -> [Frame] {
        var bytes = self.received.withLockedValue { $0 }[...]
        var frames: [Frame] = []
        while bytes.count >= FrameHeader.size {
            let length = bytes.dropFirst(12).prefix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            guard bytes.count >= FrameHeader.size + length, let frame = try? Frame(decoding: Array(bytes.prefix(FrameHeader.size + length))) else { break }
            frames.append(frame)
            bytes = bytes.dropFirst(FrameHeader.size + length)
        }
        return frames
    }

    static func start(_ handler: ScriptedServer) async throws -> any Channel {
        let context = try Harness.serverTLS.makeServerContext()
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ClientProtocolTests {
    static func client(port: Int) throws -> WireClient {
        var configuration = WireClientConfiguration(host: "127.0.0.1", port: port, tls: Harness.clientTLS())
        configuration.connectTimeout = .seconds(2)
        return try WireClient(configuration: configuration, logger: Harness.logger)
    }

    @Test func responseForARequestNeverSentIsAProtocolError() async throws {
        let hello = Frame.hello(Hello(maxInFlight: 8, identity: "liar"))
        let script = ScriptedServer(reply: [hello, .response(id: 99, Response())])
        let server = try await ScriptedServer.start(script)
        let client = try Self.client(port: server.localAddress!.port!)
        await #expect(throws: (any Error).self) { try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(3))) }
        // the client told the server why it hung up
        let deadline = ContinuousClock.now.advanced(by: .seconds(3))
        var goAway: GoAway?
        while goAway == nil, ContinuousClock.now < deadline {
            goAway = script.frames().lazy.compactMap { if case .goAway(let g) = $0 { g } else { nil } }.first
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(goAway?.status.code == .invalidArgument)
        #expect(goAway?.status.message.contains("never sent") == true)
        try await server.close().get()
    }

    /// A server of revision 1.1 announces no `tensor.dtypes`: a bf16 call fails alone with `failed precondition`
    /// and is never sent (the server would take the dtype for a protocol error ending the connection).
    @Test func bfloat16IsNotSentToAServerThatDidNotAnnounceIt() async throws {
        let hello = Frame.hello(Hello(maxInFlight: 8, identity: "old-server"))
        let script = ScriptedServer(reply: [hello])
        let server = try await ScriptedServer.start(script)
        let client = try Self.client(port: server.localAddress!.port!)
        let bits = try Tensor(dtype: .bfloat16, shape: [2], data: ByteView([0x80, 0x3F, 0x20, 0xC0]))
        await #expect {
            try await client.call(
                Request(method: "echo", tensors: [NamedTensor("h", bits)]), deadline: .now.advanced(by: .seconds(5)))
        } throws: { error in
            guard let status = error as? Status else { return false }
            return status.code == .failedPrecondition && status.message.contains("'h'")
                && status.message.contains("old-server")
        }
        let frames = script.frames()
        let announced = frames.compactMap { if case .hello(let h) = $0 { h } else { nil } }.first
        #expect(announced.map { AnnouncedDTypes(hello: $0.parameters) } == AnnouncedDTypes.all)
        #expect(!frames.contains { if case .request = $0 { true } else { false } })
        try await server.close().get()
    }

    @Test func serverThatSkipsHelloIsRefused() async throws {
        let script = ScriptedServer(reply: [.response(id: 1, Response())])
        let server = try await ScriptedServer.start(script)
        let client = try Self.client(port: server.localAddress!.port!)
        await #expect { try await client.call(Request(method: "echo")) } throws: { ($0 as? TransportError)?.code == .connectFailed }
        try await server.close().get()
    }

    @Test func serverThatNeverAnswersHelloTimesOut() async throws {
        let script = ScriptedServer(reply: [])
        let server = try await ScriptedServer.start(script)
        let client = try Self.client(port: server.localAddress!.port!)
        let started = ContinuousClock.now
        await #expect { try await client.call(Request(method: "echo")) } throws: { ($0 as? TransportError)?.code == .connectFailed }
        #expect(started.duration(to: .now) < .seconds(10))
        try await server.close().get()
    }
}
