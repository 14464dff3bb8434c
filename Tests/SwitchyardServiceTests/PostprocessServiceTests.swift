import Foundation
import Logging
import SwitchyardPipelineService
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-postprocess` as a real process, with pipelines from a model repository's configs.
@Suite(.timeLimit(.minutes(1)))
struct PostprocessServiceTests {
    static func repository(config: String) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-models-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("digits"),
            withIntermediateDirectories: true
        )
        try config.write(to: root.appendingPathComponent("digits/config.json"), atomically: true, encoding: .utf8)
        return root.path
    }

    static func arguments(_ models: String) -> [String] {
        let certificates = InferenceServiceTests.certificates
        return [
            "--port", "0", "--models", models, "--ca", certificates.caPath,
            "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
        ]
    }

    @Test func appliesTheModelsPipeline() async throws {
        let models = try Self.repository(
            config: """
                {"labels": ["zero","one","two"],
                 "pipeline": {"postprocess": [{"op": "topk", "input": "probabilities", "k": 2}, {"op": "argmax", "input": "probabilities"}]}}
                """
        )
        defer { try? FileManager.default.removeItem(atPath: models) }
        let service = try await ServiceProcess("switchyard-postprocess", arguments: Self.arguments(models))
        defer { service.kill() }
        let client = try InferenceServiceTests.client(service)
        let probabilities = try Tensor([Float(0.1), 0.7, 0.2], shape: [1, 3])
        let response = try await client.call(
            Request(method: "postprocess", model: "digits", tensors: [NamedTensor("probabilities", probabilities)])
        )
        #expect(try response.tensors.first { $0.name == "label" }?.tensor.strings() == ["one"])
        #expect(
            try response.tensors.first { $0.name == "probabilities.topk.labels" }?.tensor.strings() == ["one", "two"]
        )
        await #expect {
            try await client.call(
                Request(method: "postprocess", model: "digits", tensors: [NamedTensor("scores", probabilities)])
            )
        } throws: {
            ($0 as? Status)?.code == .invalidArgument && ($0 as? Status)?.message.contains("probabilities") == true
        }
        await #expect {
            try await client.call(Request(method: "postprocess", model: "cars", tensors: []))
        } throws: { ($0 as? Status)?.code == .notFound }
        await client.close()
    }

    @Test func aStageThatPollsItsRepositoryServesAModelAddedWhileItRuns() async throws {
        let models = try Self.repository(
            config: #"{"pipeline": {"postprocess": [{"op": "argmax", "input": "probabilities"}]}}"#
        )
        defer { try? FileManager.default.removeItem(atPath: models) }
        let service = try await ServiceProcess(
            "switchyard-postprocess",
            arguments: Self.arguments(models) + ["--repository-poll-seconds", "0.2"]
        )
        defer { service.kill() }
        let client = try InferenceServiceTests.client(service)
        let request = Request(
            method: "postprocess",
            model: "cars",
            tensors: [NamedTensor("probabilities", try Tensor([Float(0.1), 0.7, 0.2], shape: [1, 3]))]
        )
        await #expect { try await client.call(request) } throws: { ($0 as? Status)?.code == .notFound }
        try FileManager.default.createDirectory(atPath: models + "/cars", withIntermediateDirectories: true)
        try #"{"pipeline": {"postprocess": [{"op": "argmax", "input": "probabilities"}]}}"#.write(
            toFile: models + "/cars/config.json",
            atomically: true,
            encoding: .utf8
        )
        // a poll may see the directory before its config (served as a model without steps) and the config on a
        // later poll, so wait for the argmax step's answer; polled every 0.2 s, bounded at 30 s
        var labels: [Int64]?
        for _ in 0..<300 where labels != [1] {
            let answer = try? await client.call(request)
            labels = try answer?.tensors.first { $0.name == "label_id" }?.tensor.scalars(as: Int64.self)
            if labels != [1] { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(labels == [1], "\(service.log)")
        #expect(service.log.contains("pipelines read again"))
        await client.close()
    }

    @Test func aReloadTellsAddedRemovedAndChangedPipelinesApart() throws {
        let argmax = #"{"pipeline": {"postprocess": [{"op": "argmax", "input": "probabilities"}]}}"#
        let models = try Self.repository(config: argmax)
        defer { try? FileManager.default.removeItem(atPath: models) }
        try FileManager.default.createDirectory(atPath: models + "/cars", withIntermediateDirectories: true)
        try argmax.write(toFile: models + "/cars/config.json", atomically: true, encoding: .utf8)
        let service = try PipelineService.postprocess(root: models)
        #expect(try service.reload(root: models).isEmpty)

        try #"{"pipeline": {"postprocess": [{"op": "softmax", "input": "probabilities"}]}}"#.write(
            toFile: models + "/digits/config.json",
            atomically: true,
            encoding: .utf8
        )
        try FileManager.default.removeItem(atPath: models + "/cars")
        try FileManager.default.createDirectory(atPath: models + "/bikes", withIntermediateDirectories: true)
        let outcome = try service.reload(root: models)
        #expect(outcome.added == ["bikes"])
        #expect(outcome.removed == ["cars"])
        #expect(outcome.changed == ["digits"])
        #expect(service.models == ["bikes", "digits"])
        #expect(try service.reload(root: models).isEmpty)
    }

    @Test func aBrokenPipelineStopsTheServiceFromStarting() async throws {
        let models = try Self.repository(config: #"{"pipeline": {"postprocess": [{"op": "sharpen", "input": "x"}]}}"#)
        defer { try? FileManager.default.removeItem(atPath: models) }
        do {
            _ = try await ServiceProcess(
                "switchyard-postprocess",
                arguments: Self.arguments(models),
                timeout: .seconds(10)
            )
            Issue.record("the service started with a broken pipeline")
        } catch {
            #expect("\(error)".contains("digits"))
            #expect("\(error)".contains("sharpen"))
        }
    }
}
