import SwitchyardTensor
import SwitchyardWire
import Testing

struct CodecTests {
    static func sampleFrames() throws -> [Frame] {
        let x = try Tensor((0..<784).map { Float($0) / 7 }, shape: [1, 784])
        let ids = try Tensor([Int64(3), -1], shape: [2])
        let names = try Tensor(strings: ["seven", "one"], shape: [2, 1])
        let odd = try Tensor([UInt8](repeating: 9, count: 3), shape: [3])
        return [
            .hello(Hello(maxInFlight: 64, identity: "router-1", parameters: [Parameter("auth.token", "t")])),
            .request(
                id: 1,
                Request(
                    model: "digits",
                    timeout: .milliseconds(50),
                    traceID: .random(),
                    routingKey: "u1",
                    tensors: [NamedTensor("x", x)]
                )
            ),
            .request(
                id: 2,
                Request(
                    method: "echo",
                    idempotent: false,
                    parameters: [Parameter("k", "v")],
                    tensors: [NamedTensor("a", odd), NamedTensor("b", ids), NamedTensor("c", names)]
                )
            ),
            .response(id: 3, Response(parameters: [Parameter("model.version", "1")], tensors: [NamedTensor("y", ids)])),
            .response(id: 4, Response()),
            .error(id: 5, Status(.deadlineExceeded, "late")),
            .error(id: 0, Status(Status.Code(rawValue: 999), "a code from the future")),
            .cancel(id: 6), .ping(42), .pong(42),
            .goAway(GoAway(lastRequestID: 9, status: Status(.ok, ""))),
        ]
    }

    @Test func framesRoundTrip() throws {
        for frame in try Self.sampleFrames() {
            let bytes = frame.encoded()
            #expect(bytes.count == frame.encodedSize)
            let decoded = try Frame(decoding: bytes)
            #expect(decoded == frame, "\(frame.type)")
            #expect(decoded.encoded() == bytes)
        }
    }

    @Test func tensorDataIsAlignedAndNotCopied() throws {
        let frame = try Self.sampleFrames()[2]
        let bytes = frame.encoded()
        let header = try bytes.withUnsafeBytes { try FrameHeader(parsing: $0, maxPayload: 1 << 20) }
        let payload = ByteView(bytes[FrameHeader.size...])
        guard case .request(_, let request) = try Frame(header: header, payload: payload) else {
            Issue.record("not a request")
            return
        }
        for named in request.tensors {
            #expect(named.tensor.data.storage === payload.storage)
            #expect(named.tensor.data.offset % 64 == 0)
        }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        for frame in try Self.sampleFrames() {
            let bytes = frame.encoded()
            for cut in 0..<bytes.count {
                #expect(throws: WireError.self) { try Frame(decoding: Array(bytes[..<cut])) }
            }
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SplitMix(seed: 0x5EED)
        var decoded = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 96)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if length >= 16, generator.next() % 2 == 0 {  // often a valid header so the payload parsers get exercised
                bytes[0] = 0x53
                bytes[1] = 0x59
                bytes[2] = 1
                bytes[3] = UInt8(1 + generator.next() % 8)
                bytes[6] = 0
                bytes[7] = 0
                let payload = UInt32(length - 16)
                withUnsafeBytes(of: payload.littleEndian) { for i in 0..<4 { bytes[12 + i] = $0[i] } }
            }
            if (try? Frame(decoding: bytes)) != nil { decoded += 1 }
        }
        #expect(decoded < 20_000)
    }

    @Test func sendLimitsAreChecked() throws {
        let big = try Tensor([UInt8](repeating: 1, count: 70_000))
        let frame = Frame.request(id: 1, Request(tensors: [NamedTensor("big", big)]))
        #expect { try frame.validateForSending(maxPayload: 65_536) } throws: {
            ($0 as? WireError)?.code == .frameTooLarge
        }
        try frame.validateForSending(maxPayload: WireLimits.defaultPayload)
        let long = Frame.request(id: 1, Request(model: String(repeating: "m", count: 70_000)))
        #expect { try long.validateForSending(maxPayload: WireLimits.defaultPayload) } throws: {
            ($0 as? WireError)?.code == .limitExceeded
        }
    }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
