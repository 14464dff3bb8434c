import Foundation

/// A metric's kind, from the `# TYPE` line of the Prometheus text format.
public enum MetricType: String, Codable, Sendable {
    case counter, gauge, histogram, summary, untyped
}

/// One label of a series.
public struct Label: Hashable, Codable, Sendable, Comparable {
    /// The label's name.
    public var name: String
    /// The label's value.
    public var value: String

    /// Makes a label.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public static func < (lhs: Label, rhs: Label) -> Bool { (lhs.name, lhs.value) < (rhs.name, rhs.value) }
}

/// A series' identity: metric name and labels (sorted by name).
public struct SeriesKey: Hashable, Codable, Sendable, Comparable {
    /// The sample's name (`switchyard_requests_total`, `..._bucket`).
    public var name: String
    /// The labels, sorted.
    public private(set) var labels: [Label]

    /// Makes a key; the labels are sorted.
    public init(name: String, labels: [Label]) {
        self.name = name
        self.labels = labels.sorted()
    }

    /// The value of the label `name`.
    public subscript(label name: String) -> String? { self.labels.first { $0.name == name }?.value }

    /// This key with `name` set to `value`.
    public func with(_ name: String, _ value: String) -> SeriesKey {
        SeriesKey(name: self.name, labels: self.labels.filter { $0.name != name } + [Label(name, value)])
    }

    /// This key without the label `name`.
    public func without(_ name: String) -> SeriesKey {
        SeriesKey(name: self.name, labels: self.labels.filter { $0.name != name })
    }

    public static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        if lhs.name != rhs.name { return lhs.name < rhs.name }
        return lhs.labels.lexicographicallyPrecedes(rhs.labels)
    }
}

/// The Prometheus text exposition format (version 0.0.4): parsing what instances report, rendering what the
/// monitor serves.
public enum Exposition {
    /// One parsed sample.
    public struct Sample: Sendable, Equatable {
        /// The series.
        public var key: SeriesKey
        /// The value.
        public var value: Double
    }

    /// What a text holds: its samples and the type of each metric family.
    public struct Parsed: Sendable {
        /// The samples, in order.
        public var samples: [Sample] = []
        /// The metric family types by family name.
        public var types: [String: MetricType] = [:]

        /// The type of a sample's family (`x_bucket`, `x_sum`, `x_count` belong to histogram `x`).
        public func type(of name: String) -> MetricType {
            if let type = self.types[name] { return type }
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                if let type = self.types[String(name.dropLast(suffix.count))] { return type }
            }
            return .untyped
        }
    }

    /// Parses a text; lines that do not parse are skipped and counted.
    /// - Parameter text: the exposition.
    /// - Returns: the samples and types, and how many lines were skipped.
    public static func parse(_ text: String) -> (Parsed, skipped: Int) {
        var parsed = Parsed()
        var skipped = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3)
                if words.count >= 4, words[1] == "TYPE" {
                    parsed.types[String(words[2])] =
                        MetricType(rawValue: String(words[3]).trimmingCharacters(in: .whitespaces)) ?? .untyped
                }
                continue
            }
            if let sample = Self.sample(line) {
                parsed.samples.append(sample)
            } else {
                skipped += 1
            }
        }
        return (parsed, skipped)
    }

    static func sample(_ line: Substring) -> Sample? {
        var labels: [Label] = []
        let name: Substring
        var rest: Substring
        if let brace = line.firstIndex(of: "{") {
            name = line[..<brace]
            rest = line[line.index(after: brace)...]
            while true {
                rest = rest.trimmingPrefix(while: { $0 == " " || $0 == "," })
                if rest.first == "}" {
                    rest = rest.dropFirst()
                    break
                }
                guard let equals = rest.firstIndex(of: "=") else { return nil }
                let labelName = rest[..<equals].trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = ""
                var escaped = false
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character == "n" ? "\n" : character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
                labels.append(Label(labelName, value))
            }
        } else {
            guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
            name = line[..<space]
            rest = line[space...]
        }
        let fields = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard !name.isEmpty, let first = fields.first, let value = Self.number(first) else { return nil }
        return Sample(key: SeriesKey(name: String(name), labels: labels), value: value)
    }

    static func number(_ text: Substring) -> Double? {
        switch text {
        case "+Inf", "Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }

    /// Renders families in the text format, each with its `# HELP` and `# TYPE` lines.
    /// - Parameter families: family name, type and samples.
    /// - Returns: the text.
    public static func render(_ families: [(name: String, type: MetricType, samples: [Sample])]) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(MetricHelp.text(for: family.name))\n"
            text += "# TYPE \(family.name) \(family.type.rawValue)\n"
            for sample in family.samples {
                text += sample.key.name
                if !sample.key.labels.isEmpty {
                    text +=
                        "{" + sample.key.labels.map { "\($0.name)=\"\(Self.escape($0.value))\"" }.joined(separator: ",")
                        + "}"
                }
                text += " \(Self.format(sample.value))\n"
            }
        }
        return text
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A value as Prometheus writes it (`+Inf`, integers without a fraction).
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// The family a sample name belongs to, given its type (`x_bucket` of histogram `x` → `x`).
    public static func family(of name: String, type: MetricType) -> String {
        guard type == .histogram || type == .summary else { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            return String(name.dropLast(suffix.count))
        }
        return name
    }
}
