import ArgumentParser
import Foundation
import Logging
import SwitchyardRouting
import SwitchyardTransport
import SwitchyardWire

/// `yard ab`: A/B comparisons of two versions through the router.
struct ABCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ab",
        abstract: "Compare two versions of a model online: split or shadow traffic, agreement, accuracy from feedback.",
        subcommands: [Start.self, Status.self, Report.self, Stop.self, Feedback.self]
    )

    static func show(_ connection: RouterConnection, _ command: String, _ request: Request) async throws {
        let response = try await connection.send(command, request)
        let text = response[parameter: ParameterKey.report] ?? "{}"
        if connection.json {
            print(text)
            return
        }
        guard let report = try? JSONDecoder().decode(ExperimentReport.self, from: Data(text.utf8)) else {
            throw fail(command, "the router's answer is not a comparison report: \(text.prefix(200))")
        }
        print(Self.table(report))
    }

    static func table(_ report: ExperimentReport) -> String {
        func cell(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "-" }
        var lines = [
            "\(report.model): \(report.mode.rawValue) \(cell(report.percent, "%.0f"))% — champion \(report.champion.version), challenger \(report.challenger.version)"
        ]
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        func right(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        lines.append(
            [
                pad("ARM", 11), pad("VERSION", 8), right("REQUESTS", 8), right("ERRORS", 7), right("P50 MS", 8),
                right("P99 MS", 8),
                right("LABELLED", 10), " ACCURACY (95% CI)",
            ].joined(separator: " ")
        )
        for (name, arm) in [("champion", report.champion), ("challenger", report.challenger)] {
            let accuracy =
                arm.accuracy.map { String(format: "%.3f (%.3f–%.3f)", $0, arm.accuracyLow ?? 0, arm.accuracyHigh ?? 0) }
                ?? "-"
            lines.append(
                [
                    pad(name, 11), pad(arm.version, 8), right("\(arm.requests)", 8),
                    right(cell(arm.errorRate * 100, "%.1f%%"), 7),
                    right(cell(arm.p50Milliseconds, "%.2f"), 8), right(cell(arm.p99Milliseconds, "%.2f"), 8),
                    right("\(arm.labelled)", 10),
                    " " + accuracy,
                ].joined(separator: " ")
            )
        }
        lines.append(
            "agreement: \(cell(report.agreement.map { $0 * 100 }, "%.1f%%")) of \(report.compared) compared; mean |score difference| \(cell(report.meanAbsoluteScoreDifference, "%.4f"))"
        )
        lines.append("verdict: \(report.verdict)")
        if let reason = report.stopReason { lines.append("stopped: \(reason)") }
        return lines.joined(separator: "\n")
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start comparing CHALLENGER with CHAMPION.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "The version serving now.") var champion: String
        @Option(help: "The version to compare.") var challenger: String
        @Option(
            help:
                "split: the challenger serves a sticky share of users; shadow: it sees mirrored copies, its answers are dropped."
        )
        var mode = "split"
        @Option(
            help:
                "The challenger's share of users (split, default 50) or of requests mirrored (shadow, default 100), in percent."
        )
        var percent: Double?
        @Option(help: "Split: percent of the challenger's requests the champion also answers, for agreement.")
        var comparePercent: Double = 20
        @Option(help: "Split: on stops an arm whose error rate or accuracy is significantly worse (default on).")
        var guardrail: String?
        @Option(help: "The guardrail's error-rate allowance (default 0.01 = 1 point).")
        var guardrailMaxErrorRateIncrease: Double?
        @Option(help: "The guardrail's accuracy allowance (default 0.02 = 2 points).") var guardrailMaxAccuracyDrop:
            Double?

        func run() async throws {
            var parameters = [
                Parameter(ParameterKey.champion, self.champion), Parameter(ParameterKey.challenger, self.challenger),
                Parameter(ParameterKey.mode, self.mode),
                Parameter(ParameterKey.comparePercent, "\(self.comparePercent)"),
            ]
            if let percent { parameters.append(Parameter(ParameterKey.percent, "\(percent)")) }
            if let guardrail { parameters.append(Parameter(ParameterKey.guardrail, guardrail)) }
            if let value = self.guardrailMaxErrorRateIncrease {
                parameters.append(Parameter(ParameterKey.guardrailMaxErrorRateIncrease, "\(value)"))
            }
            if let value = self.guardrailMaxAccuracyDrop {
                parameters.append(Parameter(ParameterKey.guardrailMaxAccuracyDrop, "\(value)"))
            }
            try await ABCommand.show(
                self.connection, "ab start", Request(method: Method.abStart, model: self.model, parameters: parameters))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the comparison's arms and traffic so far (the same table as report).")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await ABCommand.show(self.connection, "ab status", Request(method: Method.abReport, model: self.model))
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the comparison so far, with the significance test.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await ABCommand.show(self.connection, "ab report", Request(method: Method.abReport, model: self.model))
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop comparing; all traffic to the champion. The report stays.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        func run() async throws {
            try await ABCommand.show(self.connection, "ab stop", Request(method: Method.abStop, model: self.model))
        }
    }

    struct Feedback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report true labels of earlier answers (their request.id): one, or a file of many in batches."
        )
        @OptionGroup var connection: RouterConnection
        @OptionGroup var labels: FeedbackOptions
        func run() async throws { try await self.labels.run(self.connection, "ab feedback") }
    }
}
