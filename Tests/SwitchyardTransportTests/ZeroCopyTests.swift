import NIOCore
import NIOEmbedded
import SwitchyardTensor
import SwitchyardWire
import Testing

@testable import SwitchyardTransport

/// Tensor bytes on the router's path, checked by address: decoded frames view the buffer they arrived in, a batch
/// joined from them goes out with the members' bytes where they are (scatter-gather writes), and an answer split
/// back by rows goes out the same way. Any copy on that path moves bytes to another address and fails these tests.
struct ZeroCopyTests {
    static let hello = Frame.hello(Hello(maxInFlight: 0, identity: "peer"))

    /// Floats per row: rows as long as the shortest view the encoder passes on without copying.
    static let width = FrameEncoder.gatherThreshold / 4

    /// `rows` rows of ``width`` floats, the values from `base`.
    static func row(_ base: Float, rows: Int = 1) throws -> Tensor {
        try Tensor((0..<(Self.width * rows)).map { base + Float($0) }, shape: [rows, Self.width])
    }

    /// Frames decoded by the connection's decoder from `buffers`, each written as one read.
    static func decode(_ buffers: [ByteBuffer]) throws -> [Frame] {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(FrameDecoder(maxPayload: WireLimits.defaultPayload))
        )
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(bytes: Self.hello.encoded()))
        #expect(try channel.readInbound(as: Frame.self) == Self.hello)
        var frames: [Frame] = []
        for buffer in buffers {
            try channel.writeInbound(buffer)
            while let frame = try channel.readInbound(as: Frame.self) { frames.append(frame) }
        }
        return frames
    }

    /// The buffers the encoder writes for `frame`.
    static func encode(_ frame: Frame) throws -> [ByteBuffer] {
        let channel = EmbeddedChannel(handler: FrameEncoder())
        defer { _ = try? channel.finish() }
        try channel.writeOutbound(frame)
        var written: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(buffer) }
        return written
    }

    static func memory(_ buffer: ByteBuffer) -> Range<Int> {
        buffer.withUnsafeReadableBytes {
            Int(bitPattern: $0.baseAddress)..<(Int(bitPattern: $0.baseAddress) + $0.count)
        }
    }

    static func memory(_ view: ByteView) -> Range<Int> {
        view.withUnsafeBytes { Int(bitPattern: $0.baseAddress)..<(Int(bitPattern: $0.baseAddress) + $0.count) }
    }

    /// The tensor bytes of `tensors` that are not written from where they already are: copies.
    static func copiedBytes(of tensors: [Tensor], in written: [ByteBuffer]) -> Int {
        let ranges = written.map(Self.memory)
        var copied = 0
        for tensor in tensors {
            tensor.forEachSegment { view in
                let range = Self.memory(view)
                if !ranges.contains(where: { $0.contains(range.lowerBound) && $0.upperBound >= range.upperBound }) {
                    copied += view.count
                }
            }
        }
        return copied
    }

    @Test func aFrameThatFillsItsReadIsViewedWhereItArrived() throws {
        let floats = try Tensor([Float](repeating: 1, count: (32 * 1024 - 512) / 4), shape: [1, (32 * 1024 - 512) / 4])
        let frame = Frame.request(id: 1, Request(method: "infer", tensors: [NamedTensor("x", floats)]))
        let received = ByteBuffer(bytes: frame.encoded())
        try #require(frame.encodedSize * 4 >= received.storageCapacity * 3)  // the frame fills its read
        let decoded = try Self.decode([received])
        #expect(decoded == [frame])
        let data = try #require(decoded.first?.tensors.first?.tensor.data)
        let arrived = Self.memory(received)
        #expect(arrived.contains(Self.memory(data).lowerBound) && arrived.upperBound >= Self.memory(data).upperBound)
    }

    @Test func smallFramesAreCopiedOnceIntoAlignedBuffersOfTheirOwn() throws {
        let frames = try (1...3).map {
            Frame.request(
                id: UInt32($0),
                Request(method: "infer", tensors: [NamedTensor("x", try Self.row(Float($0)))])
            )
        }
        var received = ByteBufferAllocator().buffer(capacity: 256 * 1024)  // a read holds several frames
        for frame in frames { received.writeBytes(frame.encoded()) }
        let decoded = try Self.decode([received])
        #expect(decoded == frames)
        for frame in decoded {
            let data = try #require(frame.tensors.first?.tensor.data)
            #expect(!Self.memory(received).contains(Self.memory(data).lowerBound))
            #expect(data.isAligned)
            #expect(data.storage.owner is ByteBuffer)  // the encoder can pass it on without copying
        }
    }

    @Test(arguments: [false, true])
    func aBatchGoesOutWithItsMembersBytesWhereTheyArrived(sharedRead: Bool) throws {
        let members = try (1...3).map {
            Frame.request(
                id: UInt32($0),
                Request(method: "infer", tensors: [NamedTensor("x", try Self.row(Float($0)))])
            )
        }
        let reads: [ByteBuffer]
        if sharedRead {
            var read = ByteBufferAllocator().buffer(capacity: 256 * 1024)
            for member in members { read.writeBytes(member.encoded()) }
            reads = [read]
        } else {
            reads = members.map { ByteBuffer(bytes: $0.encoded()) }
        }
        let decoded = try Self.decode(reads)
        let rows = decoded.map { $0.tensors[0].tensor }
        // as BatchAssembly.join forms the batch toward the next stage
        let joined = try Tensor(joiningRows: rows)
        let batch = Frame.request(id: 9, Request(method: "infer", tensors: [NamedTensor("x", joined)]))
        let written = try Self.encode(batch)
        #expect(written.reduce(into: [UInt8]()) { $0 += Array($1.readableBytesView) } == batch.encoded())
        #expect(Self.copiedBytes(of: rows, in: written) == 0)
        #expect(Self.copiedBytes(of: [joined], in: written) == 0)
        #expect(written.count == 1 + rows.count)  // the header and descriptors, then each member's rows

        // the batched answer comes back in one read and is split by rows toward each member's next stage
        let answer = Frame.response(id: 9, Response(tensors: [NamedTensor("y", try Self.row(100, rows: 3))]))
        let batchAnswer = try #require(try Self.decode([ByteBuffer(bytes: answer.encoded())]).first)
        let answered = batchAnswer.tensors[0].tensor
        for index in 0..<3 {
            let part = try answered.rows(index..<(index + 1))
            let forward = Frame.request(id: 10, Request(method: "postprocess", tensors: [NamedTensor("y", part)]))
            let out = try Self.encode(forward)
            #expect(out.reduce(into: [UInt8]()) { $0 += Array($1.readableBytesView) } == forward.encoded())
            #expect(Self.copiedBytes(of: [part], in: out) == 0)
        }
    }

    @Test func rowsSideBySideInOneBufferGoOutAsOneSlice() throws {
        let answer = Frame.response(id: 9, Response(tensors: [NamedTensor("y", try Self.row(5, rows: 4))]))
        let tensor = try #require(try Self.decode([ByteBuffer(bytes: answer.encoded())]).first?.tensors[0].tensor)
        let rejoined = try Tensor(joiningRows: [tensor.rows(0..<2), tensor.rows(2..<4)])
        let frame = Frame.response(id: 3, Response(tensors: [NamedTensor("y", rejoined)]))
        let written = try Self.encode(frame)
        #expect(written.count == 2)
        #expect(Self.memory(written[1]) == Self.memory(tensor.data))
        #expect(written.reduce(into: [UInt8]()) { $0 += Array($1.readableBytesView) } == frame.encoded())
    }

    @Test func shortViewsAndOwnStorageAreCopiedIntoTheFramesBuffer() throws {
        let small = try Tensor([Float](repeating: 2, count: 10), shape: [1, 10])
        let answer = Frame.response(id: 4, Response(tensors: [NamedTensor("y", small)]))
        let received = try #require(try Self.decode([ByteBuffer(bytes: answer.encoded())]).first)
        #expect(try Self.encode(received).count == 1)
        let own = Frame.response(id: 5, Response(tensors: [NamedTensor("y", try Self.row(1))]))
        let written = try Self.encode(own)
        #expect(written.count == 1)
        #expect(Array(written[0].readableBytesView) == own.encoded())
    }
}
