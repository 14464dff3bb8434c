import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardLoad
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization

enum Fixtures {
    static let certificates: CertificateFixture = { try! CertificateFixture(names: ["server", "client"]) }()
    static let foreign: CertificateFixture = { try! CertificateFixture(names: ["client"]) }()

    static var serverTLS: TLSSettings {
        TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("server"),
            keyPath: certificates.keyPath("server")
        )
    }
    static var clientTLS: TLSSettings {
        TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("client"),
            keyPath: certificates.keyPath("client")
        )
    }

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func digits(_ name: String) -> String {
        packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/\(name)").path
    }

    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-load-\(UUID().uuidString)")
            .path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `count` rows of `width` floats, row r filled with r.
    static func rows(_ count: Int, width: Int = 4) throws -> Tensor {
        try Tensor((0..<(count * width)).map { Float($0 / width) }, shape: [count, width])
    }

    /// Runs `body` against an in-process server on a loopback port.
    static func withServer<T: Sendable>(
        _ service: any WireService,
        _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let server = WireServer(
            configuration: WireServerConfiguration(tls: serverTLS, identity: "test-server"),
            service: service,
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress().port!
            do {
                let result = try await body(port)
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
                return result
            } catch {
                tasks.cancelAll()
                throw error
            }
        }
    }

    static func client(port: Int, connections: Int = 1) throws -> WireClient {
        var configuration = WireClientConfiguration(host: "127.0.0.1", port: port, tls: clientTLS)
        configuration.connections = connections
        return try WireClient(configuration: configuration, logger: logger)
    }
}

/// A target in memory: answers each request with its own tensors (and a version), or fails the ones `fails` picks.
struct MemoryTarget: LoadTarget {
    let calls = Counter()
    var fails: @Sendable (Int) -> Status? = { _ in nil }

    func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        let number = self.calls.next()
        if let status = self.fails(number) { throw status }
        return Response(parameters: [Parameter("model.version", "1")], tensors: request.tensors)
    }
}

/// Answers one request in three; of the others, refuses one like a client at its limit, sheds one like a server.
struct RefusingTarget: LoadTarget {
    let calls = Counter()

    func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        switch self.calls.next() % 3 {
        case 0: throw TransportError(.clientLimit, "every connection is at the server's in-flight limit")
        case 1: throw Status(.resourceExhausted, "the queue is full")
        default: return Response(tensors: request.tensors)
        }
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        self.value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
    var count: Int { self.value.withLock { $0 } }
}

/// What a `yard` process did.
struct YardRun {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Runs the `yard` binary beside the test bundle, killed if it outlives `timeout`.
    static func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> YardRun {
        let path = ServiceProcess.productsDirectory.appendingPathComponent("yard").path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw CocoaError(.fileNoSuchFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot()
        let directory = Fixtures.temporaryDirectory()
        let out = directory + "/stdout"
        let err = directory + "/stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return YardRun(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        )
    }
}
