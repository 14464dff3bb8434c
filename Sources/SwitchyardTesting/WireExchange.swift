import Foundation
public import SwitchyardWire

/// One scripted exchange from `protocols/vectors/*.exchange`: a connection-level rule of the wire protocol as
/// the steps between the implementation under test and a scripted peer (wire-v1.md §9.2).
public struct WireExchange: Sendable, CustomStringConvertible {
    /// Which side the implementation under test plays.
    public enum Role: String, Sendable { case client, server }

    /// One line of the script.
    public enum Step: Sendable {
        /// The scripted peer sends these bytes (`text` is their text form, for messages).
        case send(text: String, bytes: [UInt8])
        /// The implementation sends a frame of this type whose listed fields match.
        case receive(type: String, fields: [FieldMatch])
        /// Client role: the application starts call `number`.
        case call(number: Int, method: String, deadline: Duration?, parameters: [Parameter])
        /// Client role: call `number` has completed with this status name (`ok`, `unavailable`, ...).
        case outcome(number: Int, status: String)
        /// The implementation closes the connection without sending anything more.
        case closed
    }

    /// A `field=value` (or `field^=value`, a prefix) of a `recv` step.
    public struct FieldMatch: Sendable, CustomStringConvertible {
        public var name: String
        public var value: String
        public var prefix: Bool

        /// Whether the text form `summary` of a frame has this field with this value.
        public func matches(_ summary: String) -> Bool {
            guard let actual = WireExchange.field(self.name, in: summary) else { return false }
            return self.prefix ? actual.hasPrefix(self.value) : actual == self.value
        }

        public var description: String { "\(self.name)\(self.prefix ? "^=" : "=")\(self.value)" }
    }

    public var name: String
    public var role: Role
    /// `@config` settings, e.g. `max_in_flight` → `1`.
    public var config: [String: String]
    /// The protocol error the implementation must find, or `nil` for `@expect ok`.
    public var expectedError: String?
    public var steps: [Step]

    public var description: String { self.name }

    /// Parses the text of an `.exchange` file.
    /// - Parameter text: the file contents.
    /// - Throws: when a line is not part of the format.
    public init(parsing text: String) throws {
        var name = ""
        var role: Role?
        var config: [String: String] = [:]
        var expect = ""
        var steps: [Step] = []
        var sending: (text: String, bytes: [UInt8])?
        func flush() {
            if let pending = sending { steps.append(.send(text: pending.text, bytes: pending.bytes)) }
            sending = nil
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let keyword = words.first else { continue }
            if let first = keyword.first, first.isHexDigit, keyword.count == 2, sending != nil {
                sending?.bytes += try WireVector.hex(line, in: name)
                continue
            }
            flush()
            let rest = line.dropFirst(keyword.count).drop { $0 == " " }
            switch keyword {
            case "@name": name = String(rest)
            case "@role":
                guard let parsed = Role(rawValue: String(rest)) else {
                    throw WireVector.VectorError("bad role in \(name)")
                }
                role = parsed
            case "@config":
                for pair in rest.split(separator: " ") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { throw WireVector.VectorError("bad @config in \(name)") }
                    config[String(parts[0])] = String(parts[1])
                }
            case "@expect": expect = String(rest)
            case "send": sending = (String(rest), [])
            case "recv":
                let fields =
                    try words.dropFirst(2).isEmpty ? [] : Self.fields(String(rest.dropFirst(words[1].count)), in: name)
                steps.append(.receive(type: String(words[1]), fields: fields))
            case "call":
                guard words.count >= 3, let number = Int(words[1]) else {
                    throw WireVector.VectorError("bad call in \(name)")
                }
                var deadline: Duration?
                var parameters: [Parameter] = []
                for pair in words.dropFirst(3) {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw WireVector.VectorError("bad call argument '\(pair)' in \(name)")
                    }
                    if parts[0] == "deadline_ms", let milliseconds = Int(parts[1]) {
                        deadline = .milliseconds(milliseconds)
                    } else {
                        parameters.append(Parameter(parts[0], parts[1]))
                    }
                }
                steps.append(
                    .call(number: number, method: String(words[2]), deadline: deadline, parameters: parameters)
                )
            case "outcome":
                guard words.count >= 3, let number = Int(words[1]) else {
                    throw WireVector.VectorError("bad outcome in \(name)")
                }
                steps.append(.outcome(number: number, status: words.dropFirst(2).joined(separator: " ")))
            case "closed": steps.append(.closed)
            default: throw WireVector.VectorError("unknown step '\(keyword)' in \(name)")
            }
        }
        flush()
        guard let role else { throw WireVector.VectorError("exchange \(name) has no @role") }
        self.name = name
        self.role = role
        self.config = config
        self.steps = steps
        if expect == "ok" {
            self.expectedError = nil
        } else if expect.hasPrefix("error ") {
            self.expectedError = String(expect.dropFirst(6))
        } else {
            throw WireVector.VectorError("exchange \(name) has no valid @expect line")
        }
    }

    /// The `field=value` list of a `recv` step; `message` runs to the end of the line.
    static func fields(_ text: String, in name: String) throws -> [FieldMatch] {
        var result: [FieldMatch] = []
        var rest = Substring(text).drop { $0 == " " }
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else { throw WireVector.VectorError("bad field in \(name)") }
            var key = rest[..<equals]
            let prefix = key.hasSuffix("^")
            if prefix { key = key.dropLast() }
            let valueStart = rest.index(after: equals)
            let valueEnd = key == "message" ? rest.endIndex : (rest[valueStart...].firstIndex(of: " ") ?? rest.endIndex)
            result.append(FieldMatch(name: String(key), value: String(rest[valueStart..<valueEnd]), prefix: prefix))
            rest = rest[valueEnd...].drop { $0 == " " }
        }
        return result
    }

    /// The value of `name` in a frame's text form: up to the next space, or to the end for `message`.
    public static func field(_ name: String, in summary: String) -> String? {
        guard let range = summary.range(of: " \(name)=") else { return nil }
        let rest = summary[range.upperBound...]
        return String(name == "message" ? rest : rest.prefix { $0 != " " })
    }

    /// Every exchange in a folder, sorted by name.
    /// - Parameter folder: a path relative to the package root, e.g. `protocols/vectors`.
    /// - Throws: when a file does not parse, so that a broken exchange fails the tests instead of vanishing.
    public static func all(in folder: String) throws -> [WireExchange] {
        let directory = packageRoot().appendingPathComponent(folder)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return try files.filter { $0.hasSuffix(".exchange") }.sorted().map { file in
            try WireExchange(parsing: String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8))
        }
    }
}
