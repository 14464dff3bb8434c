import Foundation
import Logging
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-preprocess` as a real process, with the bundled digits model's config.
@Suite(.timeLimit(.minutes(1)))
struct PreprocessServiceTests {
    @Test func checksInputsAgainstTheModelAndSaysWhatWasExpected() async throws {
        let certificates = InferenceServiceTests.certificates
        let service = try await ServiceProcess(
            "switchyard-preprocess",
            arguments: [
                "--port", "0", "--models", packageRoot().appendingPathComponent("models").path, "--ca",
                certificates.caPath,
                "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
            ]
        )
        defer { service.kill() }
        let client = try InferenceServiceTests.client(service)
        // u8 pixels become the f32 the model declares
        let pixels = try Tensor([UInt8](repeating: 16, count: 128), shape: [2, 64])
        let response = try await client.call(
            Request(method: "preprocess", model: "digits", tensors: [NamedTensor("X", pixels)])
        )
        let x = try #require(response.tensors.first { $0.name == "X" }?.tensor)
        #expect(x.dtype == .float32)
        #expect(x.shape == [2, 64])
        // the wrong width is refused with the expected shape in the message
        await #expect {
            try await client.call(
                Request(
                    method: "preprocess",
                    model: "digits",
                    tensors: [NamedTensor("X", try Tensor([Float](repeating: 0, count: 60), shape: [1, 60]))]
                )
            )
        } throws: {
            ($0 as? Status)?.code == .invalidArgument && ($0 as? Status)?.message.contains("X: f32[*,64]") == true
        }
        await #expect {
            try await client.call(Request(method: "preprocess", model: "cars"))
        } throws: { ($0 as? Status)?.code == .notFound }
        #expect(try await client.call(Request(method: "health"))[parameter: "status"] == "serving")
        await client.close()
    }
}
