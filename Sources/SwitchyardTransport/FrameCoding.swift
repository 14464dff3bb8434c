package import NIOCore
import SwitchyardTensor
package import SwitchyardWire

/// Splits the byte stream into frames whose tensors are views of a `ByteBuffer`, so that the router can join and
/// forward them without copying (``FrameEncoder`` passes such views on as slices).
///
/// A frame that fills most of the buffer it arrived in (a large frame, gathered from several reads) is viewed in place.
/// A smaller one is copied once into a buffer of its own whose tensor data is 64-byte aligned: TLS decrypts into one
/// reused 32 KiB buffer per connection, and a view that keeps it would make its next read copy all of it.
///
/// The first frame must be HELLO and no larger than ``WireLimits/helloPayload``.
package struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = Frame

    package let maxPayload: UInt32
    private var sawHello = false
    /// The server's budget for frames still arriving; `nil` on the client side.
    private let budget: ByteBudget?
    /// What the frame now arriving holds of the budget.
    private var reservation: ByteBudget.Reservation?

    /// A decoder that takes frames of up to `maxPayload` bytes, with no budget for frames still arriving.
    package init(maxPayload: UInt32) {
        self.init(maxPayload: maxPayload, budget: nil)
    }

    init(maxPayload: UInt32, budget: ByteBudget?) {
        self.maxPayload = maxPayload
        self.budget = budget
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard buffer.readableBytes >= FrameHeader.size else { return nil }
        let limit = self.sawHello ? self.maxPayload : WireLimits.helloPayload
        let header = try buffer.withUnsafeReadableBytes { raw in
            try FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: raw[..<FrameHeader.size]), maxPayload: limit)
        }
        if !self.sawHello {
            guard header.type == .hello else {
                throw WireError(.unexpectedFrame, "the first frame must be HELLO, got \(header.type)")
            }
            self.sawHello = true
        }
        let length = Int(header.payloadLength)
        guard buffer.readableBytes >= FrameHeader.size + length else {
            if let budget, self.reservation == nil {
                guard let reservation = budget.reserve(length) else {
                    throw TransportError(
                        .bufferBudget,
                        "the server is holding its limit of \(budget.capacity) bytes of frames still arriving; a frame of \(length) bytes is refused"
                    )
                }
                self.reservation = reservation
            }
            return nil
        }
        self.reservation?.release()
        self.reservation = nil
        buffer.moveReaderIndex(forwardBy: FrameHeader.size)
        let payload: ByteBuffer
        if length * 4 >= buffer.storageCapacity * 3 {
            payload = buffer.readSlice(length: length)!
        } else {
            payload = Self.alignedCopy(of: buffer.readableBytesView.prefix(length))
            buffer.moveReaderIndex(forwardBy: length)
        }
        return try Frame(header: header, payload: ByteView(payload))
    }

    private static let allocator = ByteBufferAllocator()

    /// `bytes` in a new buffer whose first readable byte lies on a ``ByteStorage/alignment`` boundary.
    private static func alignedCopy(of bytes: ByteBufferView) -> ByteBuffer {
        let alignment = ByteStorage.alignment
        var copy = Self.allocator.buffer(capacity: bytes.count + alignment - 1)
        var skip = 0
        copy.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count + alignment - 1) { target in
            skip = (alignment - Int(bitPattern: target.baseAddress) % alignment) % alignment
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: target[skip..<(skip + source.count)]).copyMemory(from: source)
            }
            return skip + bytes.count
        }
        copy.moveReaderIndex(forwardBy: skip)
        return copy
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try self.decode(buffer: &buffer)
    }
}

extension ByteView {
    /// A view of all the readable bytes of `buffer`, which the view keeps (the bytes are not copied).
    init(_ buffer: ByteBuffer) {
        let storage = buffer.withUnsafeReadableBytes { ByteStorage(borrowing: $0, owner: buffer) }
        self.init(storage: storage)
    }

    /// These bytes as a slice of the received buffer they view, or `nil` when they are in storage of our own.
    var receivedSlice: ByteBuffer? {
        guard let owner = self.storage.owner as? ByteBuffer else { return nil }
        return owner.getSlice(at: owner.readerIndex + self.offset, length: self.count)
    }
}

/// Writes frames. Tensor data that a received buffer holds (``FrameDecoder``'s views, rows the router joined or
/// split) goes out as slices of that buffer beside the bytes encoded here, one write each (scatter-gather, no copy);
/// other data, and views shorter than ``gatherThreshold`` (TLS encrypts each write into records of its own), are
/// copied into the frame's own buffer.
final class FrameEncoder: ChannelOutboundHandler {
    typealias OutboundIn = Frame
    typealias OutboundOut = ByteBuffer

    /// Shorter views are copied: each separate write becomes a TLS record of its own (its own encryption call, header
    /// and tag), which below a full record (16 KiB) costs about as much as the copy it saves.
    static let gatherThreshold = 16 * 1024

    /// A piece of the frame: bytes of the frame's own buffer, or a slice of a received one.
    private enum Piece {
        case own(Int)
        case received(ByteBuffer, storage: ByteStorage, end: Int)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = self.unwrapOutboundIn(data)
        var own = frame.encodedSize
        for named in frame.tensors {
            named.tensor.forEachSegment { view in
                if view.count >= Self.gatherThreshold, view.storage.owner is ByteBuffer { own -= view.count }
            }
        }
        var buffer = context.channel.allocator.buffer(capacity: own)
        guard own < frame.encodedSize else {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: own) { raw in
                frame.encode(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<own]))
                return own
            }
            context.write(self.wrapOutboundOut(buffer), promise: promise)
            return
        }
        var pieces: [Piece] = []
        var pending = 0
        func write(_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                fill(UnsafeMutableRawBufferPointer(rebasing: raw[..<count]))
                return count
            }
            pending += count
        }
        frame.encode(
            bytes: write,
            data: { view in
                guard view.count >= Self.gatherThreshold, let slice = view.receivedSlice else {
                    write(view.count) { target in view.withUnsafeBytes { target.copyMemory(from: $0) } }
                    return
                }
                if pending > 0 {
                    pieces.append(.own(pending))
                    pending = 0
                }
                // rows that lie side by side in one received buffer go out as one slice
                if case .received(let previous, let storage, let end) = pieces.last, storage === view.storage,
                    end == view.offset, let owner = storage.owner as? ByteBuffer,
                    let joined = owner.getSlice(
                        at: owner.readerIndex + view.offset - previous.readableBytes,
                        length: previous.readableBytes + view.count
                    )
                {
                    pieces[pieces.count - 1] = .received(joined, storage: storage, end: view.offset + view.count)
                } else {
                    pieces.append(.received(slice, storage: view.storage, end: view.offset + view.count))
                }
            }
        )
        if pending > 0 { pieces.append(.own(pending)) }
        for (index, piece) in pieces.enumerated() {
            let out: ByteBuffer
            switch piece {
            case .own(let count): out = buffer.readSlice(length: count)!
            case .received(let slice, _, _): out = slice
            }
            context.write(self.wrapOutboundOut(out), promise: index == pieces.count - 1 ? promise : nil)
        }
    }
}

@available(*, unavailable)
extension FrameEncoder: Sendable {}
