public import Foundation
import NIOConcurrencyHelpers

/// A service executable of this package running as a real process for an integration test.
///
/// It is started with `--port 0`; the port is read from its "listening" log line. Every wait is bounded,
/// and `deinit` kills the process if the test did not stop it.
public final class ServiceProcess: @unchecked Sendable {
    public let process: Process
    /// The port the service listens on.
    public private(set) var port = 0
    private let output = NIOLockedValueBox("")

    /// The directory with this package's built products (next to the running test bundle).
    public static var productsDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Starts `product` with `arguments` and waits until it listens.
    /// - Parameters:
    ///   - product: the executable's name, e.g. `switchyard-echo`.
    ///   - arguments: its arguments; include `--port 0`.
    ///   - timeout: how long to wait for the listening line.
    ///   - environment: variables set for it besides this process's (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`).
    /// - Throws: when the binary is missing, exits early or does not listen in time.
    public init(
        _ product: String,
        arguments: [String],
        timeout: Duration = .seconds(20),
        environment: [String: String] = [:]
    ) async throws {
        let path = Self.productsDirectory.appendingPathComponent(product).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ServiceProcessError("\(path) is not built; run `swift build --build-tests` first")
        }
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: path)
        self.process.arguments = arguments
        if !environment.isEmpty {
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        self.process.standardError = pipe
        self.process.standardOutput = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        }
        try self.process.run()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let text = self.output.withLockedValue { $0 }
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening") }),
                let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(line[range].split(separator: ":").last!)
            {
                self.port = port
                return
            }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        self.process.terminate()
        throw ServiceProcessError("\(product) did not start listening: \(self.log)")
    }

    /// The port in the first log line that contains `marker` (another listener of the process, e.g. the router's
    /// HTTP port: `http gateway up`), waiting for the line up to `timeout`.
    /// - Throws: when no such line appears in time.
    public func port(inLineContaining marker: String, timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let line = self.log.split(separator: "\n").first(where: { $0.contains(marker) }),
                let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(line[range].split(separator: ":").last!)
            {
                return port
            }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ServiceProcessError("no line with '\(marker)' and an address: \(self.log)")
    }

    /// Everything the process printed so far.
    public var log: String { self.output.withLockedValue { $0 } }

    /// Sends SIGTERM (graceful shutdown).
    public func terminate() { if self.process.isRunning { self.process.terminate() } }

    /// Sends SIGHUP (reload the settings and certificates).
    public func hangUp() { if self.process.isRunning { Foundation.kill(self.process.processIdentifier, SIGHUP) } }

    /// Sends SIGKILL.
    public func kill() { if self.process.isRunning { Foundation.kill(self.process.processIdentifier, SIGKILL) } }

    /// Freezes the process (SIGSTOP): its sockets stay open but nothing answers, like a hung instance.
    public func freeze() { if self.process.isRunning { Foundation.kill(self.process.processIdentifier, SIGSTOP) } }

    /// Lets a frozen process run again (SIGCONT).
    public func thaw() { if self.process.isRunning { Foundation.kill(self.process.processIdentifier, SIGCONT) } }

    /// Waits for the process to exit.
    /// - Returns: its exit status, or `nil` if it was still running after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while self.process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.process.isRunning ? nil : self.process.terminationStatus
    }

    deinit { self.kill() }
}

struct ServiceProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
