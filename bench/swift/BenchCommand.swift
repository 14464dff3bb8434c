import ArgumentParser
import Foundation
import SwitchyardTransport

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-bench",
        abstract: "Switchyard benchmarks, each against a ceiling measured in the same run.",
        subcommands: [Wire.self, Codec.self, Report.self, Rates.self]
    )

    struct Codec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encode and decode cost of one echo request frame.")
        @Option(help: "Frames to encode and decode.") var iterations = 200_000

        func run() throws {
            let result = try runCodecBench(iterations: self.iterations)
            print(String(format: "frame of %d bytes: encode %.0f ns, decode %.0f ns (payload copy included)", result.bytes, result.encode, result.decode))
        }
    }

    struct Wire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Echo RPC of a 784-float tensor over our protocol vs a bare length-prefixed TLS echo."
        )
        @Option(help: "Measured seconds per round.") var seconds = 2
        @Option(help: "Warm-up seconds per round (not counted).") var warmup = 1.0
        @Option(help: "Rounds per configuration, alternating bare and ours.") var rounds = 3
        @Option(help: "Write the result table (Markdown) to this file.") var markdown: String?
        @Option(help: "Write the results as JSON to this file (read by `switchyard-bench report`).") var json: String?
        @Option(help: "Run only this configuration, as CONNECTIONS:IN_FLIGHT (e.g. 1:64).") var only: String?
        @Flag(help: "Run the echo handler on the global executor instead of the connection's event loop.") var globalExecutor = false

        func run() async throws {
            let results = try await runWireBench(seconds: self.seconds, warmupSeconds: self.warmup, rounds: self.rounds, placement: self.globalExecutor ? .globalExecutor : .eventLoop,
                only: self.only.map { value in
                    let parts = value.split(separator: ":").compactMap { Int($0) }
                    return [(parts.first ?? 1, parts.last ?? 1)]
                })
            let table = wireMarkdown(results, command: CommandLine.arguments.joined(separator: " "))
            print(table)
            if let markdown { try table.write(toFile: markdown, atomically: true, encoding: .utf8) }
            if let json { try wireJSON(results).write(to: URL(fileURLWithPath: json)) }
        }
    }
}
