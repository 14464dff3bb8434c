import Foundation
import Logging
import SwitchyardEngine
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// `switchyard-inference` as a real process serving the bundled digits model.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct InferenceServiceTests {
    static let certificates = try! CertificateFixture(names: ["inference", "router", "app", "ops:admin", "readonly"])
    static let root = packageRoot()
    static let x = try! NPY.read(root.appendingPathComponent("Tests/Fixtures/engine/digits/x_test.npy").path)
    static let labels = try! NPY.read(root.appendingPathComponent("Tests/Fixtures/engine/digits/ort_label.npy").path)

    static func start() async throws -> ServiceProcess {
        try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--port", "0", "--models", root.appendingPathComponent("models").path, "--ca", certificates.caPath,
                "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
            ]
        )
    }

    /// `--ca`, `--cert` and `--key` of the certificate `name`.
    static func tls(_ name: String) -> [String] {
        [
            "--ca", certificates.caPath, "--cert", certificates.certificatePath(name), "--key",
            certificates.keyPath(name),
        ]
    }

    /// A client of the service; the router's certificate by default, the one caller of a stage's methods.
    static func client(_ service: ServiceProcess, as name: String = "router") throws -> WireClient {
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath(name),
            keyPath: certificates.keyPath(name)
        )
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: service.port, tls: tls),
            logger: logger
        )
    }

    static func infer(_ rows: Tensor, version: String = "") -> Request {
        Request(method: "infer", model: "digits", version: version, tensors: [NamedTensor("X", rows)])
    }

    /// Exporter-style zoo models (a BERT-like encoder with two int64 inputs and dynamic sequence length, a GPT-like
    /// decoder, an LSTM classifier) served from a repository, against onnxruntime's outputs.
    @Test func servesZooModels() async throws {
        let repository = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-zoo-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: repository) }
        let zoo = Self.root.appendingPathComponent("Tests/Fixtures/engine/zoo")
        let cases: [(name: String, inputs: [String])] = [
            ("bert_encoder", ["input_ids", "attention_mask"]), ("gpt_decoder", ["input_ids"]),
            ("lstm_classifier", ["x"]),
        ]
        for entry in cases {
            let folder = repository.appendingPathComponent("\(entry.name)/1")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: zoo.appendingPathComponent("\(entry.name)/model.onnx"),
                to: folder.appendingPathComponent("model.onnx")
            )
        }
        let service = try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--port", "0", "--models", repository.path, "--ca", Self.certificates.caPath,
                "--cert", Self.certificates.certificatePath("inference"), "--key",
                Self.certificates.keyPath("inference"),
            ]
        )
        defer { service.kill() }
        let client = try Self.client(service)
        for entry in cases {
            let folder = zoo.appendingPathComponent(entry.name)
            let tensors = try entry.inputs.enumerated().map { index, name in
                NamedTensor(name, try NPY.read(folder.appendingPathComponent("input_\(index).npy").path))
            }
            let response = try await client.call(
                Request(method: "infer", model: entry.name, tensors: tensors),
                deadline: .now.advanced(by: .seconds(20))
            )
            let expected = try NPY.read(folder.appendingPathComponent("output_0.npy").path).scalars(as: Float.self)
            let actual = try #require(response.tensors.first?.tensor).scalars(as: Float.self)
            let scale = expected.map { abs($0) }.max() ?? 1
            #expect(zip(actual, expected).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "\(entry.name)")
        }
        await client.close()
    }

    @Test func servesTheDigitsModelWithTheReferencePredictions() async throws {
        let service = try await Self.start()
        defer { service.kill() }
        let client = try Self.client(service)
        #expect(try await client.call(Request(method: "health"))[parameter: "status"] == "serving")
        let rows = Self.x.shape[0]
        var predicted: [Int64] = []
        for start in stride(from: 0, to: rows, by: 200) {  // the model's max_batch_size is 256
            let chunk = try Self.x.rows(start..<min(rows, start + 200))
            let response = try await client.call(Self.infer(chunk), deadline: .now.advanced(by: .seconds(10)))
            #expect(response[parameter: "model.version"] == "1")
            let label = try #require(response.tensors.first { $0.name == "label" }?.tensor)
            #expect(label.shape == [chunk.shape[0]])
            predicted += try label.scalars(as: Int64.self)
        }
        #expect(predicted == (try Self.labels.scalars(as: Int64.self)))
        await #expect { try await client.call(Self.infer(Self.x)) } throws: {
            ($0 as? Status)?.code == .invalidArgument && ($0 as? Status)?.message.contains("256") == true
        }
        // one row at a time gives the same answers
        for row in 0..<5 {
            let one = try await client.call(Self.infer(try Self.x.rows(row..<(row + 1)), version: "1"))
            #expect(
                try one.tensors.first { $0.name == "label" }?.tensor.scalars(as: Int64.self) == [
                    Self.labels.scalars(as: Int64.self)[row]
                ]
            )
        }
        await client.close()
    }

    @Test func badRequestsGetClearErrorsAndTheServiceStaysHealthy() async throws {
        let service = try await Self.start()
        defer { service.kill() }
        let client = try Self.client(service)
        func expect(_ request: Request, _ code: Status.Code, mentioning text: String) async {
            do {
                _ = try await client.call(request)
                Issue.record("expected \(code)")
            } catch let status as Status {
                #expect(status.code == code, "\(status)")
                #expect(status.message.contains(text), "\(status.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        let narrow = try Tensor([Float](repeating: 0, count: 63), shape: [1, 63])
        await expect(Self.infer(narrow), .invalidArgument, mentioning: "64")
        let doubles = try Tensor([Double](repeating: 0, count: 64), shape: [1, 64])
        await expect(Self.infer(doubles), .invalidArgument, mentioning: "f")
        await expect(
            Request(method: "infer", model: "nope", tensors: [NamedTensor("X", try Self.x.rows(0..<1))]),
            .notFound,
            mentioning: "nope"
        )
        await expect(Self.infer(try Self.x.rows(0..<1), version: "9"), .notFound, mentioning: "9")
        await expect(Self.infer(try Self.x.rows(0..<1), version: "latest"), .invalidArgument, mentioning: "number")
        await expect(Request(method: "train", model: "digits"), .notFound, mentioning: "train")
        let nan = try Tensor([Float](repeating: .nan, count: 64), shape: [1, 64])
        _ = try await client.call(Self.infer(nan))  // NaN inputs are computed, not refused or crashed on
        #expect(try await client.call(Request(method: "health"))[parameter: "status"] == "serving")
        await client.close()
    }

    @Test func modelAdministrationNeedsAnAdminCertificate() async throws {
        let service = try await Self.start()
        defer { service.kill() }
        let router = try Self.client(service)
        let admin = try Self.client(service, as: "ops")
        let refused = await #expect(throws: Status.self) {
            try await router.call(Request(method: "model.unload", model: "digits", version: "1"))
        }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.contains("CN=router") == true, "\(refused?.message ?? "")")
        _ = try await admin.call(Request(method: "model.unload", model: "digits", version: "1"))
        await #expect { try await router.call(Self.infer(try Self.x.rows(0..<1))) } throws: {
            ($0 as? Status)?.code == .notFound
        }
        _ = try await admin.call(
            Request(method: "model.load", model: "digits", version: "1"),
            deadline: .now.advanced(by: .seconds(20))
        )
        #expect(try await router.call(Request(method: "model.list"))[parameter: "digits/1"] == "ready")
        _ = try await router.call(Self.infer(try Self.x.rows(0..<1)))
        await router.close()
        await admin.close()
    }

    /// The config file maps more identities to roles and changes who may call a method.
    @Test func theConfigGivesRolesToIdentitiesAndSetsWhoMayCallAMethod() async throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-\(UUID().uuidString).yaml"
        )
        try """
        roles:
          router: [cn:app]
        allow:
          infer: [readonly]
        """.write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let service = try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--config", config.path, "--port", "0", "--models", Self.root.appendingPathComponent("models").path,
            ]
                + Self.tls("inference")
        )
        defer { service.kill() }
        let app = try Self.client(service, as: "app")
        #expect(try await app.call(Request(method: "model.list"))[parameter: "digits/1"] == "ready")
        let router = try Self.client(service)
        await #expect { try await router.call(Self.infer(try Self.x.rows(0..<1))) } throws: {
            ($0 as? Status)?.code == .permissionDenied && ($0 as? Status)?.message.contains("admin, readonly") == true
        }
        let readonly = try Self.client(service, as: "readonly")
        #expect(!(try await readonly.call(Self.infer(try Self.x.rows(0..<1)))).tensors.isEmpty)
        for client in [app, router, readonly] { await client.close() }
    }

    /// Only routers call a stage: an app's certificate going around the router (and its rollouts) is refused, on a
    /// connection that stays usable, and the service stays healthy.
    @Test func anAppCertificateCallingInferenceDirectlyIsRefused() async throws {
        let service = try await Self.start()
        defer { service.kill() }
        let app = try Self.client(service, as: "app")
        let refused = await #expect(throws: Status.self) { try await app.call(Self.infer(try Self.x.rows(0..<1))) }
        #expect(refused?.code == .permissionDenied)
        let message = refused?.message ?? ""
        #expect(message.contains("CN=app") && message.contains("'infer' on inference"), "\(message)")
        #expect(try await app.call(Request(method: "health"))[parameter: "status"] == "serving")
        await #expect { try await app.call(Request(method: "model.list")) } throws: {
            ($0 as? Status)?.code == .permissionDenied
        }
        await app.close()
        let router = try Self.client(service)
        let answer = try await router.call(Self.infer(try Self.x.rows(0..<1)))
        #expect(!answer.tensors.isEmpty)
        await router.close()
    }
}
