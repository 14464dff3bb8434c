import Foundation
import Synchronization

/// Why a command a test drives could not run or finish.
public struct CommandRunError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a command with a bounded time and returns its exit status and output (standard output and error).
/// - Parameters:
///   - executable: the program's path.
///   - arguments: its arguments.
///   - environment: extra environment variables.
///   - directory: the working directory (default: this process's).
///   - timeout: how long it may run; past it, it is terminated and this throws.
/// - Throws: `CommandRunError` when it does not finish in time, or the error of starting it.
public func runCommand(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
    timeout: Duration = .seconds(30)
) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let output = Mutex(Data())
    pipe.fileHandleForReading.readabilityHandler = { handle in
        let data = handle.availableData
        output.withLock { $0.append(data) }
    }
    try process.run()
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    if process.isRunning {
        process.terminate()
        throw CommandRunError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    pipe.fileHandleForReading.readabilityHandler = nil
    let rest = pipe.fileHandleForReading.readDataToEndOfFile()
    return (process.terminationStatus, String(decoding: output.withLock { $0 } + rest, as: UTF8.self))
}

/// The path of a tool the tests drive, or a clear failure (CI installs it: `ops/setup.sh --test`).
/// - Throws: `CommandRunError` naming the missing tool.
public func installedTool(_ name: String) throws -> String {
    for directory in ["/usr/bin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
        return "\(directory)/\(name)"
    }
    throw CommandRunError("\(name) is not installed; ops/setup.sh --test installs it")
}

/// The Python the tests drive (`SWITCHYARD_PYTHON`, set by `ops/test.sh` from `ops/python-env.sh`).
/// - Throws: `CommandRunError` when it is not set: the test fails and says how to run it.
public func testPython() throws -> String {
    guard let python = ProcessInfo.processInfo.environment["SWITCHYARD_PYTHON"], !python.isEmpty else {
        throw CommandRunError(
            "SWITCHYARD_PYTHON is not set; run ops/test.sh, "
                + "or export SWITCHYARD_PYTHON=$(bash ops/python-env.sh | tail -1)"
        )
    }
    return python
}
