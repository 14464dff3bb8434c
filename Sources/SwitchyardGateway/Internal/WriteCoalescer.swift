import NIOCore

/// Joins the bytes written between two flushes into one buffer before TLS, on HTTP/2 connections. TLS seals every
/// buffer it is handed as a record of its own: an HTTP/2 answer was three (HEADERS, the DATA frame's header, its
/// payload), and the answers flushed together as many records as that; now they leave as one record (up to 16 KiB),
/// as the wire server's answers do. A buffer of ``passThrough`` bytes or more (a large tensor) goes on uncopied.
/// (HTTP/1.1 answers are written as one buffer by their handler.)
final class WriteCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Buffers this large are passed on as they are: copying them would cost more than their own record.
    static let passThrough = 16 * 1024

    /// The bytes written since the last flush; the first buffer itself until a second one comes.
    private var pending: ByteBuffer?
    private var pendingIsOwned = false
    private var promise: EventLoopPromise<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = self.unwrapOutboundIn(data)
        if buffer.readableBytes >= Self.passThrough {
            self.writePending(context: context)
            context.write(data, promise: promise)
            return
        }
        if let promise {
            if let joined = self.promise { joined.futureResult.cascade(to: promise) } else { self.promise = promise }
        }
        if self.pending == nil {
            self.pending = buffer
            self.pendingIsOwned = false
        } else if self.pendingIsOwned {
            self.pending!.writeBuffer(&buffer)
        } else {
            // the first buffer may be its writer's own (NIO's HTTP/2 handler reuses one): join into a new one
            var first = self.pending!
            var joined = context.channel.allocator.buffer(
                capacity: max(2048, 2 * (first.readableBytes + buffer.readableBytes))
            )
            joined.writeBuffer(&first)
            joined.writeBuffer(&buffer)
            self.pending = joined
            self.pendingIsOwned = true
        }
    }

    func flush(context: ChannelHandlerContext) {
        self.writePending(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.pending != nil {  // the last answer before a close goes out
            self.writePending(context: context)
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.pending = nil
        let promise = self.promise
        self.promise = nil
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    private func writePending(context: ChannelHandlerContext) {
        guard let pending = self.pending else { return }
        let promise = self.promise
        self.pending = nil
        self.promise = nil
        context.write(self.wrapOutboundOut(pending), promise: promise)
    }
}

@available(*, unavailable)
extension WriteCoalescer: Sendable {}
