import Foundation
import Yams

/// An alert rule from the monitor's rules file: fire when a metric crosses a threshold for a while.
///
/// ```yaml
/// rules:
///   - name: ModelInputDrift
///     metric: switchyard_drift_psi_mean     # any series the monitor holds
///     match: {model: digits}                # optional label matchers
///     op: ">"                               # >, >=, <, <=
///     threshold: 0.2
///     for: 10s                              # how long it must hold before firing (s, m, h; default 0)
///     rate: 60s                             # optional: per-second rate of a counter over this window
///     sum_by: [model, version]              # optional: sum the matching series per these labels
///     severity: warning
///     summary: inputs of the model drifted from its training profile
/// ```
/// Without `sum_by`, every matching series is its own alert (with that series' labels).
public struct AlertRule: Sendable, Equatable, Codable {
    /// How the value is compared with the threshold.
    public enum Comparison: String, Sendable, Codable {
        case above = ">"
        case atLeast = ">="
        case below = "<"
        case atMost = "<="

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .above: value > threshold
            case .atLeast: value >= threshold
            case .below: value < threshold
            case .atMost: value <= threshold
            }
        }
    }

    /// The rule's name (the alert's name).
    public var name: String
    /// The series name.
    public var metric: String
    /// Label values a series must have.
    public var match: [String: String] = [:]
    /// The comparison.
    public var comparison: Comparison = .above
    /// The threshold.
    public var threshold: Double
    /// How long the condition must hold, in seconds, before the alert fires.
    public var holdFor: Double = 0
    /// When set, the value is the per-second rate of the counter over this many seconds.
    public var rate: Double?
    /// When set, matching series are summed per these labels.
    public var sumBy: [String]?
    /// `warning`, `critical`, ...
    public var severity: String = "warning"
    /// A sentence for people.
    public var summary: String = ""

    /// Makes a rule.
    public init(name: String, metric: String, threshold: Double) {
        self.name = name
        self.metric = metric
        self.threshold = threshold
    }

    /// Reads the rules of a rules file.
    /// - Parameter text: the YAML text.
    /// - Throws: `DriftError`-style `AlertRuleError` naming the rule and key that cannot be used.
    public static func parse(yaml text: String) throws -> [AlertRule] {
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw AlertRuleError("the rules file is not valid YAML: \(error)")
        }
        guard let mapping = root as? [String: Any] else {
            throw AlertRuleError("the rules file must be a mapping with 'rules:'")
        }
        for key in mapping.keys where key != "rules" { throw AlertRuleError("unknown key '\(key)' in the rules file") }
        guard let list = mapping["rules"] as? [Any] else { throw AlertRuleError("'rules' must be a list") }
        var names: Set<String> = []
        return try list.enumerated().map { index, item in
            guard let fields = item as? [String: Any] else {
                throw AlertRuleError("rule \(index + 1) must be a mapping")
            }
            let where_ = "rule \((fields["name"] as? String).map { "'\($0)'" } ?? "\(index + 1)")"
            let known: Set<String> = [
                "name", "metric", "match", "op", "threshold", "for", "rate", "sum_by", "severity", "summary",
            ]
            for key in fields.keys where !known.contains(key) {
                throw AlertRuleError("\(where_): unknown key '\(key)'")
            }
            guard let name = fields["name"] as? String, !name.isEmpty else {
                throw AlertRuleError("\(where_): 'name' is required")
            }
            guard names.insert(name).inserted else { throw AlertRuleError("\(where_): the name is used twice") }
            guard let metric = fields["metric"] as? String, !metric.isEmpty else {
                throw AlertRuleError("\(where_): 'metric' is required")
            }
            guard let threshold = Self.number(fields["threshold"]) else {
                throw AlertRuleError("\(where_): 'threshold' must be a number")
            }
            var rule = AlertRule(name: name, metric: metric, threshold: threshold)
            if let match = fields["match"] {
                guard let labels = match as? [String: Any] else {
                    throw AlertRuleError("\(where_): 'match' must map label names to values")
                }
                rule.match = labels.mapValues { "\($0)" }
            }
            if let op = fields["op"] {
                guard let comparison = Comparison(rawValue: "\(op)") else {
                    throw AlertRuleError("\(where_): 'op' must be >, >=, < or <=")
                }
                rule.comparison = comparison
            }
            if let value = fields["for"] {
                guard let seconds = Self.seconds(value), seconds >= 0 else {
                    throw AlertRuleError("\(where_): 'for' must be a duration like 30s or 5m")
                }
                rule.holdFor = seconds
            }
            if let value = fields["rate"] {
                guard let seconds = Self.seconds(value), seconds > 0 else {
                    throw AlertRuleError("\(where_): 'rate' must be a duration like 60s")
                }
                rule.rate = seconds
            }
            if let value = fields["sum_by"] {
                guard let labels = value as? [Any] else {
                    throw AlertRuleError("\(where_): 'sum_by' must be a list of label names")
                }
                rule.sumBy = labels.map { "\($0)" }
            }
            if let severity = fields["severity"] { rule.severity = "\(severity)" }
            if let summary = fields["summary"] { rule.summary = "\(summary)" }
            return rule
        }
    }

    static func number(_ value: Any?) -> Double? {
        switch value {
        case let number as Int: Double(number)
        case let number as Double: number
        case let text as String: Double(text)
        default: nil
        }
    }

    static func seconds(_ value: Any) -> Double? {
        if let number = Self.number(value) { return number }
        guard let text = value as? String, let unit = text.last, let amount = Double(text.dropLast()) else {
            return nil
        }
        switch unit {
        case "s": return amount
        case "m": return amount * 60
        case "h": return amount * 3600
        default: return nil
        }
    }
}

/// A rules file that cannot be used.
public struct AlertRuleError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the rule and key.
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// An alert changing state, as logged, shown and POSTed to the webhook.
public struct AlertEvent: Codable, Sendable, Equatable {
    /// `firing` or `resolved`.
    public var status: String
    /// The rule's name.
    public var alert: String
    /// The series' (or group's) labels.
    public var labels: [String: String]
    /// The value when the state changed.
    public var value: Double
    /// The rule's threshold and comparison, e.g. `> 0.2`.
    public var condition: String
    /// The rule's severity.
    public var severity: String
    /// The rule's summary.
    public var summary: String
    /// When the condition started to hold, seconds since the epoch.
    public var since: Double
    /// When the state changed.
    public var at: Double
}

/// An alert whose condition holds now: pending until it has held for the rule's `for`, then firing.
public struct ActiveAlert: Codable, Sendable, Equatable {
    /// The rule's name.
    public var alert: String
    /// The labels.
    public var labels: [String: String]
    /// The latest value.
    public var value: Double
    /// Since when the condition holds.
    public var since: Double
    /// Whether it is firing (else pending).
    public var firing: Bool
    /// The rule's severity.
    public var severity: String
    /// The rule's summary.
    public var summary: String
    /// The condition, e.g. `> 0.2`.
    public var condition: String
}
