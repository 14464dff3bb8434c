import Foundation
import SwitchyardRuntime
import SwitchyardTesting
import SwitchyardTransport

#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the monitor's integration tests: free ports, HTTP, bounded waits, external programs.
enum Fixtures {
    /// One CA and a certificate per instance name (the names become the instances' identities at the monitor).
    static let certificates = try! CertificateFixture(
        names: [
            "monitor", "router", "preprocess", "inference", "postprocess", "echo", "probe:reporter", "app", "ops:admin",
            "readonly",
        ]
    )

    static func tls(_ name: String) -> [String] {
        [
            "--ca", Self.certificates.caPath, "--cert", Self.certificates.certificatePath(name), "--key",
            Self.certificates.keyPath(name),
        ]
    }

    /// A loopback port that was free a moment ago (for a process that must come back on the same port).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError("socket failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw FixtureError("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The dashboard's bearer token in the tests (``tokenFile`` holds it).
    static let token = "dashboard-token-0123456789-abcdefghijklmnop"

    /// A file of bearer tokens for `--http-tokens`, holding ``token``.
    static let tokenFile: String = {
        let path = Self.certificates.directory + "/dashboard.tokens"
        try! "# the tests' dashboard token\n\(Self.token)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// GETs a URL; `nil` when nothing answers. An `https://` URL is checked against the tests' CA, and sent with
    /// `token` as a bearer token and the client certificate `name`, when given.
    static func get(
        _ url: String,
        token: String? = Self.token,
        as name: String? = nil,
        timeout: Duration = .seconds(30)  // bounded, generous: Prometheus answers slowly on a machine busy with tests
    ) async -> (status: Int, body: Data)? {
        let tls = TLSSettings(
            caPath: Self.certificates.caPath,
            certificatePath: name.map(Self.certificates.certificatePath),
            keyPath: name.map(Self.certificates.keyPath)
        )
        let secure = url.hasPrefix("https://")
        let headers = secure ? token.map { [(name: "Authorization", value: "Bearer \($0)")] } ?? [] : []
        guard
            let answer = try? await HTTPClient.send(
                "GET",
                url,
                headers: headers,
                tls: secure ? tls : nil,
                timeout: timeout
            )
        else { return nil }
        return (answer.status, Data(answer.body))
    }

    /// GETs a URL (with ``token`` when it is `https://`) and decodes its JSON body.
    static func json(_ url: String) async -> Any? {
        guard let (status, body) = await Self.get(url), status == 200 else { return nil }
        return try? JSONSerialization.jsonObject(with: body)
    }

    /// Polls `body` until it returns a value or `timeout` passes.
    static func waitFor<T>(
        _ timeout: Duration,
        every interval: Duration = .milliseconds(250),
        _ body: () async -> T?
    ) async -> T? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let value = await body() { return value }
            try? await Task.sleep(for: interval)
        }
        return await body()
    }

    /// Finds a program on the PATH.
    static func which(_ names: [String]) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in names {
            for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// Runs a program to its end, killed after `timeout`; returns its status and output.
    static func run(
        _ path: String,
        _ arguments: [String],
        timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-run-\(UUID().uuidString).out"
        )
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer {
            try? handle.close()
            try? FileManager.default.removeItem(at: output)
        }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw FixtureError("\(path) did not finish within \(timeout)")
        }
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The URL an ``HTTPEndpoint`` logged (`http.url=...`) in a service's output.
    static func httpURL(in log: String) -> String? {
        guard let range = log.range(of: #"http\.url=http://127\.0\.0\.1:\d+/"#, options: .regularExpression) else {
            return nil
        }
        return String(log[range].dropFirst("http.url=".count))
    }

    /// A temporary folder.
    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-\(name)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
