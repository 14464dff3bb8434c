import Foundation
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardWire
import Testing

struct VectorTests {
    static let vectors = WireVector.all(in: "protocols/vectors")
    /// Every error name of wire-v1.md §8.
    static let errorNames = [
        "badMagic", "badVersion", "reservedNotZero", "frameTooLarge", "unexpectedFrame", "unknownFrameType",
        "unknownFlags",
        "malformedPayload", "limitExceeded", "badTensor", "truncatedFrame", "unknownRequest",
    ]

    @Test func everyFileParses() throws {
        let folder = packageRoot().appendingPathComponent("protocols/vectors").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(Self.vectors.count == files.filter { $0.hasSuffix(".vector") }.count)
        #expect(try WireExchange.all(in: "protocols/vectors").count == files.filter { $0.hasSuffix(".exchange") }.count)
    }

    @Test func everyFrameTypeAndMalformedCaseHasAVector() {
        let names = Set(Self.vectors.map(\.name))
        for required in [
            "hello", "request", "response", "error", "cancel", "ping", "pong", "goaway", "extension-skipped",
            "bad-magic", "bad-version", "unknown-critical-type", "truncated-payload", "too-large",
            "tensor-length-mismatch", "tensor-absurd-rank", "tensor-absurd-dimension",
        ] {
            #expect(names.contains(required), "missing vector \(required)")
        }
    }

    @Test func everyErrorNameHasAVector() throws {
        var named = Set<String>()
        for vector in Self.vectors {
            if case .error(let code) = vector.expectation { named.insert(code) }
        }
        for exchange in try WireExchange.all(in: "protocols/vectors") {
            if let code = exchange.expectedError { named.insert(code) }
        }
        #expect(named == Set(Self.errorNames))
    }

    @Test(arguments: Self.vectors)
    func vectorDecodesAsAnnotated(_ vector: WireVector) throws {
        switch vector.expectation {
        case .frame(let summary):
            let frame = try Frame(decoding: vector.bytes)
            #expect(frame.summary == summary)
            if case .skipped = frame { return }  // an unknown extension's payload is not kept, so not re-encoded
            #expect(frame.encoded() == vector.reencoded ?? vector.bytes)
            if let canonical = vector.reencoded { #expect(try Frame(decoding: canonical) == frame) }
        case .error(let code):
            #expect {
                try Frame(decoding: vector.bytes)
            } throws: { error in
                "\((error as? WireError)?.code as Any)" == "Optional(\(code))"
            }
        }
    }
}
