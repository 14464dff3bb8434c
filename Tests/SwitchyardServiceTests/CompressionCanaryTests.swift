import Foundation
import SwitchyardClient
import SwitchyardCompression
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import Testing

/// The release path of a compressed model: `yard prune` went too far, and the canary rolls the version back.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CompressionCanaryTests {
    /// A repository with the digits model as version 1 (the release fixtures' config: every version loaded) and, as
    /// version 2, the same model with 97% of its hidden units pruned, written by the pruner as a new version.
    static func repository() throws -> String {
        let root = try ReleaseTests.temporaryDirectory()
        let manager = FileManager.default
        let fixtures = packageRoot().appendingPathComponent("Tests/Fixtures")
        try manager.createDirectory(atPath: "\(root)/digits/1", withIntermediateDirectories: true)
        try manager.copyItem(
            atPath: packageRoot().appendingPathComponent("models/digits/1/model.onnx").path,
            toPath: "\(root)/digits/1/model.onnx"
        )
        try manager.copyItem(
            atPath: fixtures.appendingPathComponent("releases/digits/config.json").path,
            toPath: "\(root)/digits/config.json"
        )
        let original = try ONNXModel.read("\(root)/digits/1/model.onnx")
        let calibration = try EvaluationData.read(
            inputs: fixtures.appendingPathComponent("compression/digits/x_calibration.npy").path,
            labels: nil
        )
        let pruned = try Pruner.prune(original, sparsity: 0.97, calibration: calibration.inputs)
        let next = try #require(ModelVersionWriter.nextVersionDirectory(forModel: "\(root)/digits/1/model.onnx"))
        try ModelVersionWriter.write(
            pruned.model,
            to: next,
            source: "\(root)/digits/1/model.onnx",
            provenance: ["tool": "yard prune", "settings": ["sparsity": "0.97"]]
        )
        return root
    }

    @Test func anOverPrunedVersionIsRolledBackByTheCanary() async throws {
        let models = try Self.repository()
        defer { try? FileManager.default.removeItem(atPath: models) }
        let mesh = try await MeshTests.Mesh(
            models: models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        // the over-pruned version loads and answers (it is a valid, smaller model) ...
        let answer = try await client.infer(
            model: "digits",
            version: "2",
            inputs: ["X": try InferenceServiceTests.x.rows(0..<1)],
            deadline: .seconds(10)
        )
        #expect(answer.modelVersion == "2")
        // ... but its answers disagree with version 1's, and the canary's gates catch it in its first step
        _ = try await ReleaseTests.start(mesh.router.port, candidate: "2", steps: "20,100", stepSeconds: 600)
        let (status, answers) = try await ReleaseTests.driveUntilDecided(mesh, client)
        #expect(status.rollout?.phase == .rolledBack, "\(status.rollout?.history.map(\.message) ?? [])")
        #expect(status.rollout?.reason?.contains("disagreement") == true, "\(status.rollout?.reason ?? "")")
        #expect(status.stable == "1" && status.candidate == nil)
        #expect(!answers.keys.contains { $0.hasPrefix("error") }, "\(answers)")
        #expect(await ReleaseTests.round(client, count: 40, users: 400) == ["1": 40])
        await client.close()
    }
}
