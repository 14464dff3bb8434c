public import Foundation

/// One annotated hex test vector from `protocols/vectors/`.
public struct WireVector: Sendable, CustomStringConvertible {
    /// What decoding the vector must give.
    public enum Expectation: Sendable, Equatable {
        /// The frame decodes, renders as this summary, and re-encodes to the same bytes.
        case frame(summary: String)
        /// Decoding fails with the `WireError.Code` of this name.
        case error(code: String)
    }

    public var name: String
    public var bytes: [UInt8]
    public var expectation: Expectation
    /// The canonical encoding when it differs from `bytes` (may-ignore flags are dropped); `nil`: `bytes`.
    public var reencoded: [UInt8]?

    public var description: String { self.name }

    /// Parses the text of a `.vector` file: `@name`, `@expect`, `@frame`, `@reencoded` lines, then hex with `#`
    /// comments (wire-v1.md §9.1).
    /// - Parameter text: the file contents.
    public init(parsing text: String) throws {
        var name = ""
        var expect = ""
        var summary = ""
        var bytes: [UInt8] = []
        var reencoded: [UInt8]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("@name ") {
                name = String(line.dropFirst(6))
            } else if line.hasPrefix("@expect ") {
                expect = String(line.dropFirst(8))
            } else if line.hasPrefix("@frame ") {
                summary = String(line.dropFirst(7))
            } else if line.hasPrefix("@reencoded ") {
                reencoded = try Self.hex(line.dropFirst(11), in: name)
            } else {
                bytes += try Self.hex(line, in: name)
            }
        }
        self.name = name
        self.bytes = bytes
        self.reencoded = reencoded
        if expect == "ok" {
            self.expectation = .frame(summary: summary)
        } else if expect.hasPrefix("error ") {
            self.expectation = .error(code: String(expect.dropFirst(6)))
        } else {
            throw VectorError("vector \(name) has no valid @expect line")
        }
    }

    /// The bytes of one annotated hex line (text after `#` is a comment).
    static func hex(_ line: Substring, in name: String) throws -> [UInt8] {
        let hex = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return try hex.split(separator: " ").map { token in
            guard let byte = UInt8(token, radix: 16) else { throw VectorError("bad hex '\(token)' in \(name)") }
            return byte
        }
    }

    /// Every vector in a folder, sorted by name.
    /// - Parameter folder: a path relative to the package root, e.g. `protocols/vectors`.
    public static func all(in folder: String) -> [WireVector] {
        let directory = packageRoot().appendingPathComponent(folder)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".vector") }.sorted().compactMap { file in
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else {
                return nil
            }
            return try? WireVector(parsing: text)
        }
    }

    struct VectorError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The package root: the nearest ancestor of this source file that holds `Package.swift`.
public func packageRoot(file: StaticString = #filePath) -> URL {
    var url = URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        url.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}
