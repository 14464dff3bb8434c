import Foundation
import Logging
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The whole mesh as real processes on loopback: router → preprocess → inference (batched) → postprocess.
@Suite(.timeLimit(.minutes(2)))
struct MeshTests {
    final class Mesh: Sendable {
        let stages: [ServiceProcess]
        let router: ServiceProcess

        let inferenceInstances: [ServiceProcess]
        /// Every preprocess and postprocess instance (the first of each is in ``stages``).
        let preprocessInstances: [ServiceProcess]
        let postprocessInstances: [ServiceProcess]
        /// The arguments each stage was started with but its port, to start it again.
        let stageArguments: [String]

        init(
            models: String = packageRoot().appendingPathComponent("models").path,
            routerArguments: [String] = [],
            inferenceArguments: [String] = [],
            inferenceCount: Int = 1,
            pipelineCount: Int = 1,
            environment: [String: String] = [:],
            routerEnvironment: [String: String]? = nil
        ) async throws {
            let certificates = InferenceServiceTests.certificates
            let tls = [
                "--ca", certificates.caPath, "--cert", certificates.certificatePath("inference"), "--key",
                certificates.keyPath("inference"),
            ]
            self.stageArguments = ["--models", models] + tls
            var instances: [ServiceProcess] = []
            for _ in 0..<inferenceCount {
                instances.append(
                    try await ServiceProcess(
                        "switchyard-inference",
                        arguments: ["--port", "0", "--models", models] + tls + inferenceArguments,
                        environment: environment
                    )
                )
            }
            self.inferenceInstances = instances
            let inference = instances[0]
            var preprocess: [ServiceProcess] = []
            var postprocess: [ServiceProcess] = []
            for _ in 0..<max(1, pipelineCount) {
                preprocess.append(
                    try await ServiceProcess(
                        "switchyard-preprocess",
                        arguments: ["--port", "0", "--models", models] + tls,
                        environment: environment
                    )
                )
                postprocess.append(
                    try await ServiceProcess(
                        "switchyard-postprocess",
                        arguments: ["--port", "0", "--models", models] + tls,
                        environment: environment
                    )
                )
            }
            self.preprocessInstances = preprocess
            self.postprocessInstances = postprocess
            self.stages = [preprocess[0], inference, postprocess[0]]
            func list(_ processes: [ServiceProcess]) -> String {
                processes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
            }
            self.router = try await ServiceProcess(
                "switchyard-router",
                arguments: [
                    "--port", "0", "--models", models,
                    "--preprocess", list(preprocess), "--inference", list(instances), "--postprocess",
                    list(postprocess),
                ] + InferenceServiceTests.tls("router") + routerArguments,
                environment: routerEnvironment ?? environment
            )
        }

        func client() throws -> SwitchyardClient {
            let certificates = InferenceServiceTests.certificates
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            return try SwitchyardClient(
                host: "127.0.0.1",
                port: self.router.port,
                tls: TLSSettings(
                    caPath: certificates.caPath,
                    certificatePath: certificates.certificatePath("app"),
                    keyPath: certificates.keyPath("app")
                ),
                defaultDeadline: .seconds(10),
                logger: logger
            )
        }

        func stop() {
            self.router.kill()
            for stage in self.preprocessInstances + self.inferenceInstances + self.postprocessInstances { stage.kill() }
        }
    }

    @Test func theDigitsTestSplitThroughTheRouterMatchesTheReference() async throws {
        let mesh = try await Mesh()
        defer { mesh.stop() }
        let client = try mesh.client()
        let x = InferenceServiceTests.x
        let expected = try InferenceServiceTests.labels.scalars(as: Int64.self)
        let rows = x.shape[0]
        let predicted = try await withThrowingTaskGroup(of: (Int, Int64).self) { group in
            var results = [Int64](repeating: -1, count: rows)
            var next = 0
            func add() {
                let row = next
                next += 1
                group.addTask {
                    let result = try await client.infer(
                        model: "digits",
                        inputs: ["X": try x.rows(row..<(row + 1))],
                        routingKey: "user-\(row % 7)"
                    )
                    #expect(result.modelVersion == "1")
                    return (row, try result["label"]!.scalars(as: Int64.self)[0])
                }
            }
            for _ in 0..<min(32, rows) { add() }
            while let (row, label) = try await group.next() {
                results[row] = label
                if next < rows { add() }
            }
            return results
        }
        #expect(predicted == expected)  // every request answered once, each with its own row
        await client.close()
    }

    @Test func errorsFromAnyStageReachTheCallerWithTheirStatus() async throws {
        let mesh = try await Mesh()
        defer { mesh.stop() }
        let client = try mesh.client()
        let row = try InferenceServiceTests.x.rows(0..<1)
        await #expect { try await client.infer(model: "cars", inputs: ["X": row]) } throws: {
            ($0 as? InferenceError)?.code == .notFound
        }
        let narrow = try Tensor([Float](repeating: 0, count: 60), shape: [1, 60])
        await #expect {
            try await client.infer(model: "digits", inputs: ["X": narrow])
        } throws: { ($0 as? InferenceError)?.code == .invalidArgument && "\($0)".contains("f32[*,64]") }
        await #expect {
            try await client.infer(model: "digits", inputs: ["X": row], deadline: .microseconds(50))
        } throws: { ($0 as? InferenceError)?.code == .deadlineExceeded }
        // still serving
        let result = try await client.infer(model: "digits", inputs: ["X": row])
        #expect(result["label"] != nil)
        await client.close()
    }
}
