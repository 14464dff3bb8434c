import ArgumentParser
import Foundation
import SwitchyardRouter
import SwitchyardWire

/// `yard batching`: read or change a model's dynamic-batching limits on a running router.
struct BatchingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batching",
        abstract: "Show or change a model's batching limits on a running router (until it restarts).",
        subcommands: [Show.self, Change.self]
    )

    /// Prints the `batching` answer: JSON with `--json`, else one line per limit.
    static func show(_ connection: RouterConnection, _ command: String, _ request: Request) async throws {
        let response = try await connection.send(command, request)
        let text = response[parameter: ParameterKey.batching] ?? "{}"
        if connection.json {
            print(text)
            return
        }
        guard let status = try? JSONDecoder().decode(BatchingStatus.self, from: Data(text.utf8)) else {
            throw fail(command, "the router's answer is not a batching status: \(text.prefix(200))")
        }
        let preferred = status.preferredBatchSizes.map(String.init).joined(separator: ",")
        print(
            """
            model                  \(status.model)
            max batch size         \(status.maxBatchSize)
            max queue delay        \(status.maxQueueDelayMicroseconds) µs
            max queue size         \(status.maxQueueSize)
            max queue time         \(status.maxQueueTimeMicroseconds.map { "\($0) µs" } ?? "none")
            saturated queue time   \(status.saturatedQueueTimeMicroseconds.map { "\($0) µs" } ?? "off")
            preferred batch sizes  \(preferred.isEmpty ? "-" : preferred)
            batches in flight      \(status.maxBatchesInFlight) per stage instance
            """
        )
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a model's limits.")
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String

        func run() async throws {
            try await BatchingCommand.show(
                self.connection,
                "batching status",
                Request(method: Method.batchingStatus, model: self.model)
            )
        }
    }

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change a model's limits on every stage (needs an admin certificate)."
        )
        @OptionGroup var connection: RouterConnection
        @Option(help: "The model.") var model: String
        @Option(help: "Largest batch, in rows.") var maxBatchSize: Int?
        @Option(help: "Longest a queued request waits for company while a stage is busy, in microseconds.")
        var maxQueueDelayUs: Int?
        @Option(help: "Requests queued per stage before new ones are shed.") var maxQueueSize: Int?
        @Option(help: "Longest predicted queueing a request is admitted with, in microseconds (0: no limit).")
        var maxQueueTimeUs: Int?
        @Option(
            help:
                "Longest predicted queueing admitted while a stage is overloaded, in microseconds (0: off; on by default)."
        )
        var saturatedQueueTimeUs: Int?
        @Option(help: "Batch sizes sent at once while a stage is busy, e.g. 8,16,32 (\"\" for none).")
        var preferredBatchSizes: String?
        @Option(help: "Batches in flight to each stage instance.") var maxBatchesInFlight: Int?

        func validate() throws {
            let given: [Any?] = [
                self.maxBatchSize, self.maxQueueDelayUs, self.maxQueueSize, self.maxQueueTimeUs,
                self.saturatedQueueTimeUs, self.preferredBatchSizes, self.maxBatchesInFlight,
            ]
            guard given.contains(where: { $0 != nil }) else {
                throw ValidationError("name at least one limit to change")
            }
        }

        func run() async throws {
            var parameters: [Parameter] = []
            if let value = self.maxBatchSize { parameters.append(Parameter(ParameterKey.maxBatchSize, "\(value)")) }
            if let value = self.maxQueueDelayUs {
                parameters.append(Parameter(ParameterKey.maxQueueDelayMicroseconds, "\(value)"))
            }
            if let value = self.maxQueueSize { parameters.append(Parameter(ParameterKey.maxQueueSize, "\(value)")) }
            if let value = self.maxQueueTimeUs {
                parameters.append(Parameter(ParameterKey.maxQueueTimeMicroseconds, "\(value)"))
            }
            if let value = self.saturatedQueueTimeUs {
                parameters.append(Parameter(ParameterKey.saturatedQueueTimeMicroseconds, "\(value)"))
            }
            if let value = self.preferredBatchSizes {
                parameters.append(Parameter(ParameterKey.preferredBatchSizes, value))
            }
            if let value = self.maxBatchesInFlight {
                parameters.append(Parameter(ParameterKey.maxBatchesInFlight, "\(value)"))
            }
            try await BatchingCommand.show(
                self.connection,
                "batching set",
                Request(method: Method.batchingSet, model: self.model, parameters: parameters)
            )
        }
    }
}
