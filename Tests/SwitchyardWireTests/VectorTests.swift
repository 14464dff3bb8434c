import SwitchyardTensor
import SwitchyardTesting
import SwitchyardWire
import Testing

struct VectorTests {
    static let vectors = WireVector.all(in: "protocols/vectors")

    @Test func everyFrameTypeAndMalformedCaseHasAVector() {
        let names = Set(Self.vectors.map(\.name))
        for required in ["hello", "request", "response", "error", "cancel", "ping", "pong", "goaway", "extension-skipped",
                         "bad-magic", "bad-version", "unknown-critical-type", "truncated-payload", "too-large",
                         "tensor-length-mismatch", "tensor-absurd-rank", "tensor-absurd-dimension"] {
            #expect(names.contains(required), "missing vector \(required)")
        }
    }

    @Test(arguments: Self.vectors)
    func vectorDecodesAsAnnotated(_ vector: WireVector) throws {
        switch vector.expectation {
        case .frame(let summary):
            let frame = try Frame(decoding: vector.bytes)
            #expect(frame.summary == summary)
            if case .skipped = frame { return }  // an unknown extension's payload is not kept, so not re-encoded
            #expect(frame.encoded() == vector.bytes)
        case .error(let code):
            #expect {
                try Frame(decoding: vector.bytes)
            } throws: { error in
                "\((error as? WireError)?.code as Any)" == "Optional(\(code))"
            }
        }
    }
}
