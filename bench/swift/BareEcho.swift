import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// The ceiling: length-prefixed echo over the same TLS 1.3 stack with no protocol at all
/// (4-byte length, 8-byte id, payload), answered on the event loop.
enum BareEcho {
    final class ServerHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
    }

    struct Decoder: NIOSingleStepByteToMessageDecoder {
        typealias InboundOut = ByteBuffer
        mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
                  buffer.readableBytes >= 4 + Int(length) else { return nil }
            return buffer.readSlice(length: 4 + Int(length))
        }
        mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
            try self.decode(buffer: &buffer)
        }
    }

    final class ClientHandler: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundIn = (ByteBuffer, EventLoopPromise<ByteBuffer>)
        typealias OutboundOut = ByteBuffer
        private var pending: [UInt64: EventLoopPromise<ByteBuffer>] = [:]
        private var nextID: UInt64 = 1

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let (payload, answer) = self.unwrapOutboundIn(data)
            let id = self.nextID
            self.nextID += 1
            var buffer = context.channel.allocator.buffer(capacity: 12 + payload.readableBytes)
            buffer.writeInteger(UInt32(8 + payload.readableBytes))
            buffer.writeInteger(id)
            buffer.writeImmutableBuffer(payload)
            self.pending[id] = answer
            context.write(self.wrapOutboundOut(buffer), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = self.unwrapInboundIn(data)
            buffer.moveReaderIndex(forwardBy: 4)
            guard let id = buffer.readInteger(as: UInt64.self), let answer = self.pending.removeValue(forKey: id) else { return }
            answer.succeed(buffer)
        }
    }

    static func startServer(group: any EventLoopGroup, context: NIOSSLContext) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(Decoder()))
                    try channel.pipeline.syncOperations.addHandler(ServerHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    static func connect(group: any EventLoopGroup, context: NIOSSLContext, port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(Decoder()))
                    try channel.pipeline.syncOperations.addHandler(ClientHandler())
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    }

    /// One round trip on `channel`.
    static func call(_ channel: any Channel, payload: ByteBuffer) async throws -> ByteBuffer {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        channel.writeAndFlush((payload, promise), promise: nil)
        return try await promise.futureResult.get()
    }
}
