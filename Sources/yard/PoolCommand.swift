import ArgumentParser
import Foundation
import SwitchyardWire

/// `yard pool`: a running router's stage pools: list them, add, remove or drain an instance.
struct PoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract:
            "List a running router's stage pools; add, remove or drain an instance (changes need an admin certificate).",
        subcommands: [List.self, Add.self, Remove.self, Drain.self],
        defaultSubcommand: List.self
    )

    /// Sends a pool method and prints the pools it answers with: JSON with `--json`, else a line per instance.
    static func call(_ connection: RouterConnection, _ command: String, _ request: Request) async throws {
        let response = try await connection.send(command, request)
        let text = response[parameter: ParameterKey.pools] ?? "{}"
        if connection.json {
            print(text)
            return
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let stages = object["stages"] as? [[String: Any]]
        else { throw fail(command, "the router's answer is not a pool list: \(text.prefix(200))") }
        print("stage        instance                        state      in flight  weight  ejections")
        for stage in stages {
            let name = stage["stage"] as? String ?? "?"
            let sources = (stage["sources"] as? [String] ?? []).joined(separator: ",")
            for instance in stage["instances"] as? [[String: Any]] ?? [] {
                let id = instance["id"] as? String ?? "?"
                let state = instance["state"] as? String ?? "?"
                let inFlight = instance["in_flight"] as? Int ?? 0
                let weight = instance["weight"] as? Double ?? 1
                let ejections = instance["ejections"] as? Int ?? 0
                print(
                    name.padding(toLength: 12, withPad: " ", startingAt: 0) + " "
                        + id.padding(toLength: 31, withPad: " ", startingAt: 0) + " "
                        + state.padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                        + String(inFlight).padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                        + String(format: "%.2f", weight).padding(toLength: 7, withPad: " ", startingAt: 0) + " "
                        + String(ejections)
                )
            }
            print("  \(name) sources: \(sources.isEmpty ? "-" : sources)")
            if let error = stage["resolution_error"] as? String { print("  \(name) cannot resolve now: \(error)") }
        }
    }

    /// The stage and instance a change names.
    struct Target: ParsableArguments {
        @Option(help: "The stage: preprocess, inference or postprocess.") var stage: String
        @Option(help: "The instance, HOST:PORT (as pool list names it).") var instance: String

        func request(_ method: String) -> Request {
            Request(
                method: method,
                parameters: [
                    Parameter(ParameterKey.stage, self.stage), Parameter(ParameterKey.instance, self.instance),
                ]
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show each stage's sources and instances (state, load, slow-start weight)."
        )
        @OptionGroup var connection: RouterConnection

        func run() async throws {
            try await PoolCommand.call(self.connection, "pool list", Request(method: Method.poolList))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add an instance: health-checked first, then a share rising over the slow-start window."
        )
        @OptionGroup var connection: RouterConnection
        @OptionGroup var target: Target

        func run() async throws {
            try await PoolCommand.call(self.connection, "pool add", self.target.request(Method.poolAdd))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Drain an instance and take it out of its pool when its requests finish."
        )
        @OptionGroup var connection: RouterConnection
        @OptionGroup var target: Target

        func run() async throws {
            try await PoolCommand.call(self.connection, "pool remove", self.target.request(Method.poolRemove))
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drain",
            abstract: "Stop new requests to an instance; those in flight finish."
        )
        @OptionGroup var connection: RouterConnection
        @OptionGroup var target: Target

        func run() async throws {
            try await PoolCommand.call(self.connection, "pool drain", self.target.request(Method.poolDrain))
        }
    }
}

/// `yard admin`: administration every service answers.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Administer any Switchyard service.",
        subcommands: [Reload.self]
    )

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-read a service's config file and certificates, as SIGHUP does (needs an admin certificate).",
            discussion:
                "New connections get the new certificates; open ones keep theirs. A config or certificate that does not load is refused and the running one stays."
        )
        @Option(help: "The service, as HOST:PORT.") var target = "127.0.0.1:7400"
        @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
        @Option(help: "Admin client certificate (PEM, OU=admin).") var cert = "ops/certs/out/ops.pem"
        @Option(help: "Client private key (PEM).") var key = "ops/certs/out/ops.key"

        func run() async throws {
            guard Echo.split(self.target) != nil else { throw ValidationError("--target must be HOST:PORT") }
            var connection = try RouterConnection.parse(
                ["--router", self.target, "--ca", self.ca, "--cert", self.cert, "--key", self.key]
            )
            connection.json = false
            let response = try await connection.send("admin reload", Request(method: Method.adminReload))
            let restart = response.parameters.filter { $0.key == ParameterKey.restart }.map(\.value)
            print("\(self.target): \(response[parameter: ParameterKey.status] ?? "reloaded")")
            if !restart.isEmpty {
                print("changed, but kept until a restart: \(restart.joined(separator: ", "))")
            }
        }
    }
}
