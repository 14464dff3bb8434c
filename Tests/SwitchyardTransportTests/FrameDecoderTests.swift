import NIOCore
import NIOTestUtils
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The frame decoder under NIO's `ByteToMessageDecoderVerifier`: every split of the input (byte by byte, random
/// chunks, all at once, with and without EOF) decodes to the same frames and leaves nothing behind.
struct FrameDecoderTests {
    static let hello = Frame.hello(Hello(maxInFlight: 0, identity: "client"))

    /// Each input starts with HELLO: the verifier runs the pairs in random order through one decoder, and the
    /// decoder wants HELLO first.
    static func pair(_ frames: [Frame]) -> (ByteBuffer, [Frame]) {
        let all = [Self.hello] + frames
        return (ByteBuffer(bytes: all.flatMap { $0.encoded() }), all)
    }

    @Test func everySplitOfTheStreamDecodesTheSameFrames() throws {
        let tensor = try Tensor([Float](repeating: 1.5, count: 300), shape: [3, 100])
        var timed = Request(method: "infer", parameters: [Parameter("model.name", "mnist")])
        timed.timeout = .milliseconds(250)
        let pairs = [
            Self.pair([]),
            Self.pair([.ping(42), .pong(42)]),
            Self.pair([.request(id: 1, Request(method: "echo", tensors: [NamedTensor("x", tensor)]))]),
            Self.pair([.request(id: 7, timed), .cancel(id: 7)]),
            Self.pair([
                .response(id: 2, Response(tensors: [NamedTensor("y", tensor)])), .error(id: 3, Status(.notFound, "no")),
            ]),
            Self.pair([.goAway(GoAway(lastRequestID: 9, status: Status(.ok, "bye")))]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(maxPayload: WireLimits.defaultPayload)
        }
    }

    @Test func aFirstFrameThatIsNotHelloIsRefused() {
        var decoder = FrameDecoder(maxPayload: WireLimits.defaultPayload)
        var buffer = ByteBuffer(bytes: Frame.ping(1).encoded())
        #expect(throws: WireError.self) { try decoder.decode(buffer: &buffer) }
    }

    @Test func aFrameOverTheLimitIsRefusedFromItsHeader() throws {
        var decoder = FrameDecoder(maxPayload: 1024)
        var buffer = ByteBuffer(bytes: Self.hello.encoded())
        #expect(try decoder.decode(buffer: &buffer) == Self.hello)
        let big = Frame.request(
            id: 1,
            Request(method: "echo", tensors: [NamedTensor("x", try Tensor([UInt8](repeating: 0, count: 4096)))])
        ).encoded()
        var header = ByteBuffer(bytes: big[..<FrameHeader.size])  // the header alone is enough to refuse it
        #expect(throws: WireError.self) { try decoder.decode(buffer: &header) }
    }
}
