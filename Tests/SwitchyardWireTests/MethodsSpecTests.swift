import Foundation
import SwitchyardTesting
import SwitchyardWire
import Testing

/// The method names and parameter keys in code are the ones `protocols/methods.md` specifies, no more, no fewer.
struct MethodsSpecTests {
    static let spec: String = {
        let path = packageRoot().appendingPathComponent("protocols/methods.md").path
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    /// The backquoted names in the first column of a table row, or in a `### ` heading.
    static func names(in line: Substring) -> [String] {
        let text: Substring
        if line.hasPrefix("### ") {
            text = line.dropFirst(4)
        } else if line.hasPrefix("| `") {
            text = line.dropFirst(2).prefix { $0 != "|" }
        } else {
            return []
        }
        return text.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    /// The section of the spec from `heading` to the next heading of the same level.
    static func section(_ heading: String) -> [Substring] {
        let lines = Self.spec.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == heading }) else { return [] }
        let level = heading.prefix { $0 == "#" } + " "
        let rest = lines[(start + 1)...]
        let end = rest.firstIndex { $0.hasPrefix(level) } ?? lines.endIndex
        return Array(lines[(start + 1)..<end])
    }

    @Test func everyMethodInTheSpecIsAConstantAndEveryConstantIsSpecified() throws {
        try #require(!Self.spec.isEmpty, "protocols/methods.md is missing")
        var specified = Set<String>()
        for line in Self.spec.split(separator: "\n") where line.hasPrefix("### ") {
            specified.formUnion(Self.names(in: line))
        }
        // the release methods are in a table (`| method | who | ...`), not under headings of their own
        let releases = Self.section("### Releases: `rollout.*`, `release.*`, `ab.*`")
        if let header = releases.firstIndex(where: { $0.hasPrefix("| method |") }) {
            for line in releases[(header + 1)...].prefix(while: { $0.hasPrefix("|") }) {
                specified.formUnion(Self.names(in: line))
            }
        }
        specified = specified.filter { !$0.hasSuffix("*") }
        #expect(Set(Method.all).count == Method.all.count, "a method is listed twice")
        #expect(
            Set(Method.all) == specified,
            """
            in code only: \(Set(Method.all).subtracting(specified)); \
            in the spec only: \(specified.subtracting(Method.all))
            """
        )
    }

    @Test func theIndexListsEveryMethod() throws {
        var indexed = Set<String>()
        for line in Self.section("## Index") where line.hasPrefix("| `") {
            indexed.formUnion(Self.names(in: line))
        }
        let missing = Set(Method.all).subtracting(indexed)
        #expect(indexed == Set(Method.all), "index only: \(indexed.subtracting(Method.all)); not indexed: \(missing)")
    }

    @Test func everyParameterKeyInTheSpecIsAConstantAndEveryConstantIsSpecified() throws {
        var specified = Set<String>()
        for line in Self.section("## Parameter keys") where line.hasPrefix("| `") {
            specified.formUnion(Self.names(in: line))
        }
        try #require(!specified.isEmpty, "protocols/methods.md has no parameter key table")
        #expect(Set(ParameterKey.all).count == ParameterKey.all.count, "a key is listed twice")
        #expect(
            Set(ParameterKey.all) == specified,
            """
            in code only: \(Set(ParameterKey.all).subtracting(specified)); \
            in the spec only: \(specified.subtracting(ParameterKey.all))
            """
        )
    }
}
