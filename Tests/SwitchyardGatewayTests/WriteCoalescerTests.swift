import NIOCore
import NIOEmbedded
import Testing

@testable import SwitchyardGateway

/// The writes between two flushes reach TLS as one buffer (one record), in order, with every promise kept.
struct WriteCoalescerTests {
    private func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WriteCoalescer())
        return channel
    }

    private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func writesBetweenFlushesLeaveAsOneBuffer() throws {
        let channel = try self.channel()
        let first = channel.eventLoop.makePromise(of: Void.self)
        let last = channel.eventLoop.makePromise(of: Void.self)
        channel.write(self.buffer("HTTP/1.1 200 OK\r\n\r\n"), promise: first)
        channel.write(self.buffer("{\"a\":1}"), promise: nil)
        channel.write(self.buffer(""), promise: last)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)  // nothing before the flush
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == self.buffer("HTTP/1.1 200 OK\r\n\r\n{\"a\":1}"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try first.futureResult.wait()  // kept (an embedded channel's futures are complete at once)
        try last.futureResult.wait()

        channel.write(self.buffer("next"), promise: nil)  // a lone write goes on as it is
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == self.buffer("next"))
        #expect(try channel.finish().isClean)
    }

    @Test func largeBuffersGoOnUncopiedAndInOrder() throws {
        let channel = try self.channel()
        let large = ByteBuffer(repeating: 7, count: WriteCoalescer.passThrough)
        channel.write(self.buffer("head"), promise: nil)
        channel.write(large, promise: nil)
        channel.write(self.buffer("tail"), promise: nil)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == self.buffer("head"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == large)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == self.buffer("tail"))
        #expect(try channel.finish().isClean)
    }

    @Test func aCloseFlushesWhatIsPending() throws {
        let channel = try self.channel()
        channel.write(self.buffer("last words"), promise: nil)
        channel.close(promise: nil)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == self.buffer("last words"))
    }

    /// Fails every write, as a closed socket does.
    private final class FailingWrites: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    @Test func aFailedWriteFailsThePromiseOfEveryJoinedWrite() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(FailingWrites())
        try channel.pipeline.syncOperations.addHandler(WriteCoalescer())
        let first = channel.eventLoop.makePromise(of: Void.self)
        let second = channel.eventLoop.makePromise(of: Void.self)
        channel.write(self.buffer("a"), promise: first)
        channel.write(self.buffer("b"), promise: second)
        channel.flush()
        #expect(throws: ChannelError.self) { try first.futureResult.wait() }
        #expect(throws: ChannelError.self) { try second.futureResult.wait() }
        _ = try? channel.finish()
    }
}
