import ArgumentParser
import Foundation
import NIOSSL
import SwitchyardTransport

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-bench",
        abstract: "Switchyard benchmarks, each against a ceiling measured in the same run.",
        subcommands: [Wire.self, Codec.self, OIPJSON.self, Hold.self, Report.self, Rates.self]
    )

    struct Codec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encode and decode cost of one echo request frame.")
        @Option(help: "Frames to encode and decode.") var iterations = 200_000

        func run() throws {
            let result = try runCodecBench(iterations: self.iterations)
            print(String(format: "frame of %d bytes: encode %.0f ns, decode %.0f ns (payload copy included)", result.bytes, result.encode, result.decode))
        }
    }

    struct OIPJSON: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "oip-json",
            abstract: "Decoding an OIP infer body with float data: the gateway's decoder vs Foundation's JSONDecoder and JSONSerialization."
        )
        @Option(help: "Floats in the tensor, comma-separated sizes.") var floats = "784,100000"
        @Option(help: "Bodies decoded per round (scaled down for large tensors).") var iterations = 2000
        @Option(help: "Rounds; the best is kept.") var rounds = 3
        @Option(help: "Write the results as JSON to this file (read by `switchyard-bench report`).") var json: String?

        func run() throws {
            var rows: [JSONBenchRow] = []
            for size in self.floats.split(separator: ",").compactMap({ Int($0) }) {
                rows += try runJSONBench(floats: size, iterations: max(3, self.iterations * 784 / max(size, 784)), rounds: self.rounds)
            }
            print(jsonMarkdown(rows))
            if let json { try JSONEncoder().encode(rows).write(to: URL(fileURLWithPath: json)) }
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open HTTP/1.1 keep-alive connections to a gateway, one request each, and hold them idle."
        )
        @Option(help: "The gateway, HOST:PORT.") var target: String
        @Option(help: "Connections to open.") var count = 1000
        @Flag(help: "Connect over TLS (the server's certificate is not checked: a load tool).") var tls = false
        @Option(help: "A bearer token to send.") var token: String?
        @Option(help: "Seconds to hold them after the last one answered.") var seconds = 5.0

        func run() async throws {
            guard let colon = self.target.lastIndex(of: ":"), let port = Int(self.target[self.target.index(after: colon)...]) else {
                throw ValidationError("--target must be HOST:PORT")
            }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            configuration.applicationProtocols = ["http/1.1"]
            let context = self.tls ? try NIOSSLContext(configuration: configuration) : nil
            let held = try await HeldConnections.open(
                host: String(self.target[..<colon]), port: port, count: self.count, tls: context, token: self.token)
            FileHandle.standardOutput.write(Data("holding \(held.open) connections\n".utf8))  // unbuffered: a script waits for it
            try await Task.sleep(for: .seconds(self.seconds))
            print("still open after \(self.seconds) s: \(held.open)")
            await held.close()
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
