package import NIOCore
import SwitchyardTensor
package import SwitchyardWire

/// Splits the byte stream into frames. The payload is copied once, out of the TLS record buffer into an
/// aligned ``ByteStorage``; from there every tensor is a view, so inputs reach the engine without another copy.
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
        let storage = buffer.withUnsafeReadableBytes { raw in
            ByteStorage(uninitializedCount: length) { target in
                if length > 0 { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[..<length])) }
            }
        }
        buffer.moveReaderIndex(forwardBy: length)
        return try Frame(header: header, payload: ByteView(storage: storage))
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try self.decode(buffer: &buffer)
    }
}

/// Writes frames, encoding straight into the outbound buffer.
struct FrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = Frame

    func encode(data frame: Frame, out: inout ByteBuffer) throws {
        let size = frame.encodedSize
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            frame.encode(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<size]))
            return size
        }
    }
}
