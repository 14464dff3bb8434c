import Foundation
import SwitchyardEngine
import SwitchyardModelConfig
import SwitchyardTensor
import Testing

/// The repository: scanning, version policies, load/unload/reload while serving, configs.
struct ModelRepositoryTests {
    /// A repository with `versions` copies of the digits model and the given config text.
    private func makeRepository(versions: [Int], config: String?) throws -> String {
        let root = Fixtures.temporaryDirectory()
        let model = root + "/digits"
        for version in versions {
            try FileManager.default.createDirectory(atPath: "\(model)/\(version)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Fixtures.digitsModel, toPath: "\(model)/\(version)/model.onnx")
        }
        if let config { try config.write(toFile: model + "/config.json", atomically: true, encoding: .utf8) }
        try FileManager.default.createDirectory(atPath: model + "/not-a-version", withIntermediateDirectories: true)
        return root
    }

    private func sample() throws -> NamedTensor {
        NamedTensor("X", try NPY.read(Fixtures.digits("x_test.npy")).rows(0..<3))
    }

    @Test func latestPolicyLoadsTheHighestVersions() throws {
        let root = try self.makeRepository(versions: [1, 2, 3], config: #"{"version_policy": {"latest": 2}}"#)
        let repository = ModelRepository(root: root)
        let report = try repository.poll()
        #expect(report.loaded.sorted() == ["digits/2", "digits/3"])
        #expect(repository.status().map(\.version) == [2, 3])
        #expect(try repository.model("digits").version == 3)
        #expect(try repository.model("digits", version: 2).version == 2)
        #expect(throws: EngineError.self) { try repository.model("digits", version: 1) }
        #expect(try repository.model("digits").model.run([self.sample()])[0].tensor.shape == [3])
    }

    @Test func specificAndAllPolicies() throws {
        let specific = ModelRepository(
            root: try self.makeRepository(versions: [1, 2, 3], config: #"{"version_policy": {"specific": [1, 3, 9]}}"#)
        )
        try specific.poll()
        #expect(specific.status().map(\.version) == [1, 3])
        let all = ModelRepository(
            root: try self.makeRepository(versions: [1, 2, 3], config: #"{"version_policy": "all"}"#)
        )
        try all.poll()
        #expect(all.status().map(\.version) == [1, 2, 3])
        let defaults = ModelRepository(root: try self.makeRepository(versions: [1, 2], config: nil))
        try defaults.poll()
        #expect(defaults.status().map(\.version) == [2])
    }

    @Test func pollFollowsTheDisk() throws {
        let root = try self.makeRepository(versions: [1], config: nil)
        let repository = ModelRepository(root: root)
        #expect(try repository.poll().loaded == ["digits/1"])
        #expect(try repository.poll().loaded.isEmpty)  // nothing changed
        try FileManager.default.createDirectory(atPath: root + "/digits/2", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.digitsModel, toPath: root + "/digits/2/model.onnx")
        let report = try repository.poll()
        #expect(report.loaded == ["digits/2"])
        #expect(report.unloaded == ["digits/1"])
        #expect(try repository.model("digits").version == 2)
    }

    @Test func unloadAndExplicitLoad() throws {
        let repository = ModelRepository(root: try self.makeRepository(versions: [1, 2], config: nil))
        try repository.poll()
        try repository.load("digits", version: 1)
        #expect(repository.status().map(\.version) == [1, 2])
        try repository.unload("digits", version: 2)
        #expect(try repository.model("digits").version == 1)
        let error = try #require(throws: EngineError.self) { try repository.unload("digits", version: 2) }
        #expect(error.code == .notFound)
        #expect((try? repository.model("nope")) == nil)
    }

    @Test func failedReloadKeepsTheOldInstanceServing() throws {
        let root = try self.makeRepository(versions: [1], config: nil)
        let repository = ModelRepository(root: root)
        try repository.poll()
        let before = try repository.model("digits")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: root + "/digits/1/model.onnx"))
        let error = try #require(throws: EngineError.self) { try repository.reload("digits", version: 1) }
        #expect(error.code == .invalidModel)
        let after = try repository.model("digits")
        #expect(after.model === before.model)
        #expect(try after.model.run([self.sample()])[0].tensor.shape == [3])
    }

    @Test func brokenVersionFailsAloneWithItsReason() throws {
        let root = try self.makeRepository(versions: [1, 2], config: #"{"version_policy": "all"}"#)
        try Data().write(to: URL(fileURLWithPath: root + "/digits/2/model.onnx"))
        let repository = ModelRepository(root: root)
        let report = try repository.poll()
        #expect(report.loaded == ["digits/1"])
        #expect(report.failed.count == 1 && report.failed[0].contains("empty"))
        let status = repository.status()
        #expect(status.first { $0.version == 2 }.map { if case .failed = $0.state { true } else { false } } == true)
        let error = try #require(throws: EngineError.self) { try repository.model("digits", version: 2) }
        #expect(error.code == .unavailable)
    }

    @Test(arguments: [
        (#"{"max_batch": 4}"#, "unknown key 'max_batch'"),
        (#"{"max_batch_size": 0}"#, "max_batch_size"),
        (#"{"max_batch_size": true}"#, "max_batch_size"),
        (#"{"version_policy": {"newest": 1}}"#, "version_policy"),
        (#"{"inputs": [{"name": "X", "dtype": "f16x"}]}"#, "inputs[0].dtype"),
        (#"{"warmup": {"batch_sizes": [0]}}"#, "warmup.batch_sizes"),
        (#"{"dynamic_batching": {"preferred_batch_size": [0, 8]}}"#, "dynamic_batching.preferred_batch_size"),
        (#"{"dynamic_batching": {"max_queue_delay_us": 100}}"#, "unknown key 'dynamic_batching.max_queue_delay_us'"),
        (#"{"dynamic_batching": {"max_queue_size": -1}}"#, "dynamic_batching.max_queue_size"),
        ("not json", "not valid JSON"),
    ])
    func malformedConfigsNameTheKey(_ text: String, _ expected: String) throws {
        let repository = ModelRepository(root: try self.makeRepository(versions: [1], config: text))
        let report = try repository.poll()
        #expect(report.loaded.isEmpty)
        #expect(report.failed.count == 1)
        #expect(report.failed.first?.contains(expected) == true, "\(report.failed)")
    }

    @Test(arguments: [
        (#"{"inputs": [{"name": "X", "dtype": "i64"}]}"#, "'X' is f32"),
        (#"{"inputs": [{"name": "pixels"}]}"#, "'pixels' is not in the model"),
        (#"{"outputs": [{"name": "probabilities", "shape": [-1, 11]}]}"#, "'probabilities'"),
        (#"{"labels": ["a", "b"]}"#, "2 labels"),
    ])
    func configsThatDisagreeWithTheModel(_ text: String, _ expected: String) throws {
        let repository = ModelRepository(root: try self.makeRepository(versions: [1], config: text))
        let report = try repository.poll()
        #expect(report.failed.first?.contains(expected) == true, "\(report.failed)")
    }

    @Test func dynamicBatchingSettingsAreRead() throws {
        let config = try ModelConfig.decode(
            Data(
                #"{"dynamic_batching": {"preferred_batch_size": [8, 16], "max_queue_delay_microseconds": 200, "max_queue_size": 64}}"#
                    .utf8
            ),
            source: "config.json"
        )
        #expect(config.dynamicBatching.preferredBatchSizes == [8, 16])
        #expect(config.dynamicBatching.maxQueueDelayMicroseconds == 200)
        #expect(config.dynamicBatching.maxQueueSize == 64)
        #expect(
            try ModelConfig.decode(Data("{}".utf8), source: "config.json").dynamicBatching
                == ModelConfig.DynamicBatching()
        )
    }

    @Test func configLimitsTheBatchAndLabelsAreKept() throws {
        let repository = ModelRepository(
            root: try self.makeRepository(
                versions: [1],
                config:
                    #"{"max_batch_size": 2, "labels": ["0","1","2","3","4","5","6","7","8","9"], "warmup": {"batch_sizes": [1, 2, 8]}}"#
            )
        )
        try repository.poll()
        let loaded = try repository.model("digits")
        #expect(loaded.config.labels?.count == 10)
        #expect(loaded.model.maxBatchSize == 2)
        let error = try #require(throws: EngineError.self) { try loaded.model.run([self.sample()]) }
        #expect(error.message.contains("limit is 2"))
        #expect(loaded.model.cachedPlanCount >= 2)  // warm-up made the plans
    }

    @Test func bundledRepositoryLoads() throws {
        let repository = ModelRepository(root: Fixtures.path("models"))
        let report = try repository.poll()
        #expect(report.failed.isEmpty, "\(report.failed)")
        let digits = try repository.model("digits")
        #expect(digits.config.labels == (0..<10).map(String.init))
        #expect(digits.config.maxBatchSize == 256)
    }

    @Test func servingContinuesDuringReloads() async throws {
        let root = try self.makeRepository(versions: [1], config: nil)
        let repository = ModelRepository(root: root)
        try repository.poll()
        let input = try self.sample()
        let expected = try repository.model("digits").model.run([input])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<40 {
                        let outputs = try repository.model("digits").model.run([input])
                        #expect(outputs[0] == expected[0])
                        #expect(try maxDifference(outputs[1].tensor, expected[1].tensor) <= 1e-6)
                    }
                }
            }
            group.addTask {
                for _ in 0..<5 { try repository.reload("digits", version: 1) }
            }
            try await group.waitForAll()
        }
    }
}
