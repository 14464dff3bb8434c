// Runs the ONNX backend node tests (written by tools/onnx_node_tests.py) through the engine.
//
//   switchyard-node-tests DIR [--expect FILE] [--write-passing FILE] [--report FILE] [--timeout S] [--filter TEXT]
//
// Each case runs in a child process of this program, one child serving many cases in turn, so that a crash
// or a hang is that case's failure: the parent restarts a child for the cases after it. The exit status is
// 1 when a case in the --expect list does not pass, or when any case crashes or hangs.
import Foundation
import SwitchyardEngine
import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#endif

/// One case's outcome.
enum Status: String {
    case pass, fail, skip, crash, hang
}

/// ONNX element types the engine has a `DType` for; cases with others are skipped (not counted).
let engineTypes: Set<Int> = Set(
    [DType.float32, .uint8, .int8, .int32, .int64, .bool, .float16, .float64, .bytes, .bfloat16].map {
        Int($0.rawValue)
    })

// MARK: Child: run cases named on stdin

func runChild(_ root: String) {
    func emit(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }
    while let line = readLine() {
        let name = line.trimmingCharacters(in: .whitespaces)
        if name.isEmpty { continue }
        emit("BEGIN \(name)")
        let (status, message) = runCase(root + "/" + name)
        let oneLine = message.replacingOccurrences(of: "\n", with: " ")
        emit("RESULT \(name) \(status.rawValue) \(oneLine)")
    }
}

func runCase(_ directory: String) -> (Status, String) {
    let files = FileManager.default
    if let reason = files.contents(atPath: directory + "/skip") {
        return (.skip, String(decoding: reason, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
    let sets = ((try? files.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("test_data_set_") }
        .sorted()
    guard !sets.isEmpty else { return (.skip, "no data sets") }
    // Types first: a case whose tensors the engine has no type for is not counted.
    for set in sets {
        let folder = directory + "/" + set
        for file in ((try? files.contentsOfDirectory(atPath: folder)) ?? []) where file.hasSuffix(".pb") {
            guard let data = files.contents(atPath: folder + "/" + file),
                let code = TensorProtoFile.elementTypeCode([UInt8](data))
            else { return (.fail, "\(set)/\(file) is not a tensor") }
            if !engineTypes.contains(code) { return (.skip, "element type \(code) in \(set)/\(file)") }
        }
    }
    let model: Model
    do {
        model = try Model(contentsOf: directory + "/model.onnx")
    } catch {
        return (.fail, "load: \(error.message)")
    }
    for set in sets {
        let folder = directory + "/" + set
        do {
            var inputs: [NamedTensor] = []
            for (index, info) in model.inputs.enumerated() {
                let tensor = try TensorProtoFile.read(folder + "/input_\(index).pb").tensor
                inputs.append(NamedTensor(info.name, tensor))
            }
            let outputs = try model.run(inputs)
            for (index, output) in outputs.enumerated() {
                let expected = try TensorProtoFile.read(folder + "/output_\(index).pb").tensor
                if let difference = compare(output.tensor, expected) {
                    return (.fail, "\(set) output \(index) '\(output.name)': \(difference)")
                }
            }
        } catch {
            return (.fail, "\(set): \(error.message)")
        }
    }
    return (.pass, "")
}

/// `nil` when `actual` matches `expected` as the ONNX backend tests compare (rtol 1e-3, atol 1e-7), else why not.
func compare(_ actual: Tensor, _ expected: Tensor) -> String? {
    guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype), expected \(expected.dtype)" }
    guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
    func close(_ a: [Double], _ b: [Double]) -> String? {
        for (index, (x, y)) in zip(a, b).enumerated() {
            if x.isNaN || y.isNaN {
                if x.isNaN != y.isNaN { return "element \(index) is \(x), expected \(y)" }
                continue
            }
            if x == y { continue }
            if abs(x - y) > 1e-7 + 1e-3 * abs(y) { return "element \(index) is \(x), expected \(y)" }
        }
        return nil
    }
    switch expected.dtype {
    case .float32:
        guard let a = try? actual.scalars(as: Float.self), let b = try? expected.scalars(as: Float.self) else {
            return "unreadable"
        }
        return close(a.map(Double.init), b.map(Double.init))
    case .float64:
        guard let a = try? actual.scalars(as: Double.self), let b = try? expected.scalars(as: Double.self) else {
            return "unreadable"
        }
        return close(a, b)
    case .float16, .bfloat16:
        func widened(_ tensor: Tensor) -> [Double] {
            tensor.data.withUnsafeBytes { raw in
                (0..<tensor.elementCount).map { index in
                    let bits = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                    return tensor.dtype == .float16
                        ? Double(Float(Float16(bitPattern: bits))) : Double(Float(bitPattern: UInt32(bits) << 16))
                }
            }
        }
        return close(widened(actual), widened(expected))
    default:
        return actual.data == expected.data ? nil : "values differ"
    }
}

// MARK: Parent: children, timeouts, the summary

struct Options {
    var root = ""
    var expect: String?
    var writePassing: String?
    var report: String?
    var timeout = 20.0
    var filter: String?
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--expect": options.expect = arguments.popFirst()
        case "--write-passing": options.writePassing = arguments.popFirst()
        case "--report": options.report = arguments.popFirst()
        case "--timeout": options.timeout = Double(arguments.popFirst() ?? "") ?? options.timeout
        case "--filter": options.filter = arguments.popFirst()
        default: options.root = argument
        }
    }
    guard !options.root.isEmpty else {
        FileHandle.standardError.write(Data("usage: switchyard-node-tests DIR [--expect FILE] ...\n".utf8))
        exit(2)
    }
    return options
}

/// A child running cases; lines come from its stdout.
final class Child {
    let process = Process()
    let output = Pipe()
    var buffer: [UInt8] = []

    init(root: String, cases: [String]) throws {
        self.process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        self.process.arguments = ["--child", root]
        let input = Pipe()
        self.process.standardInput = input
        self.process.standardOutput = self.output
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        let list = Data((cases.joined(separator: "\n") + "\n").utf8)
        DispatchQueue.global().async {
            input.fileHandleForWriting.write(list)
            try? input.fileHandleForWriting.close()
        }
    }

    /// The next line, `nil` at end of output, or `.timeout` when none comes within `seconds`.
    func line(within seconds: Double) -> Result<String?, TimeoutError> {
        let descriptor = self.output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let newline = self.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: self.buffer[..<newline], as: UTF8.self)
                self.buffer.removeSubrange(...newline)
                return .success(line)
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return .failure(TimeoutError()) }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000) + 1)
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let got = read(descriptor, &chunk, chunk.count)
            if got < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if got <= 0 { return .success(nil) }
            self.buffer += chunk[0..<got]
        }
    }

    func stop() {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
    }
}

struct TimeoutError: Error {}

func runParent(_ options: Options) -> Int32 {
    let index = (try? String(contentsOfFile: options.root + "/index.txt", encoding: .utf8)) ?? ""
    var cases = index.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
    if let filter = options.filter { cases = cases.filter { $0.contains(filter) } }
    guard !cases.isEmpty else {
        print("no node tests in \(options.root) (run tools/onnx_node_tests.py first)")
        return 2
    }
    var results: [String: (Status, String)] = [:]
    var remaining = cases[...]
    while !remaining.isEmpty {
        let child: Child
        do { child = try Child(root: options.root, cases: Array(remaining)) } catch {
            print("cannot start a child: \(error)")
            return 2
        }
        var current: String? = nil
        childLoop: while true {
            switch child.line(within: current == nil ? 60 : options.timeout) {
            case .failure:
                if let current { results[current] = (.hang, "no result within \(options.timeout) s") }
                break childLoop
            case .success(nil):
                if let current { results[current] = (.crash, "the process died (status \(child.process.isRunning ? 0 : child.process.terminationStatus))") }
                break childLoop
            case .success(let line?):
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                if parts.first == "BEGIN", parts.count >= 2 {
                    current = parts[1]
                } else if parts.first == "RESULT", parts.count >= 3 {
                    results[parts[1]] = (Status(rawValue: parts[2]) ?? .fail, parts.count > 3 ? parts[3] : "")
                    current = nil
                }
            }
        }
        child.stop()
        if let current, results[current] == nil { results[current] = (.crash, "the process stopped") }
        remaining = remaining.drop { results[$0] != nil }
        if current == nil && !remaining.isEmpty {
            // The child ended between cases without a result for the next: count it as a crash of that case.
            results[remaining.first!] = (.crash, "the process stopped before the case")
            remaining = remaining.dropFirst()
        }
    }

    var counts: [Status: Int] = [:]
    for name in cases { counts[results[name]!.0, default: 0] += 1 }
    let counted = cases.count - counts[.skip, default: 0]
    let passed = counts[.pass, default: 0]
    let rate = counted == 0 ? 0 : Double(passed) / Double(counted) * 100
    var report = "# ONNX node tests\n\n"
    report += "| case | status | detail |\n|---|---|---|\n"
    for name in cases {
        let (status, message) = results[name]!
        if status != .pass { report += "| \(name) | \(status.rawValue) | \(message.replacingOccurrences(of: "|", with: "\\|")) |\n" }
    }
    if let path = options.report { try? report.write(toFile: path, atomically: true, encoding: .utf8) }
    if let path = options.writePassing {
        let header =
            "# ONNX backend node tests the engine must pass (CI fails otherwise): \(index.split(separator: "\n").first ?? "")\n"
            + "# Regenerate after making more pass: bash ops/node-tests.sh --write-passing \(path)\n"
        let list = header + cases.filter { results[$0]!.0 == .pass }.joined(separator: "\n") + "\n"
        try? list.write(toFile: path, atomically: true, encoding: .utf8)
    }

    var failedExpectations: [String] = []
    if let path = options.expect {
        let expected = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for name in expected where options.filter == nil || name.contains(options.filter!) {
            if let (status, message) = results[name] {
                if status != .pass { failedExpectations.append("\(name): \(status.rawValue) \(message)") }
            } else {
                failedExpectations.append("\(name): not among the generated cases")
            }
        }
    }
    let broken = cases.filter { [.crash, .hang].contains(results[$0]!.0) }
    for name in broken { print("\(results[name]!.0.rawValue.uppercased()) \(name): \(results[name]!.1)") }
    for line in failedExpectations { print("EXPECTED TO PASS \(line)") }
    print(
        "node tests: \(passed) of \(counted) with supported types pass (\(String(format: "%.1f", rate))%); "
            + "\(counts[.fail, default: 0]) fail, \(counts[.crash, default: 0]) crash, \(counts[.hang, default: 0]) hang, "
            + "\(counts[.skip, default: 0]) skipped for types")
    return broken.isEmpty && failedExpectations.isEmpty ? 0 : 1
}

if CommandLine.arguments.count >= 3 && CommandLine.arguments[1] == "--child" {
    runChild(CommandLine.arguments[2])
} else {
    exit(runParent(parseOptions()))
}
