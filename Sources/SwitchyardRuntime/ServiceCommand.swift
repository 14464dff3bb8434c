public import ArgumentParser
import Foundation
import NIOCore
import Yams

/// A service's command line, with settings also read from a YAML file and the environment.
///
/// `--config FILE` names a YAML mapping whose keys are the command's option names (`max-batch-size: 64`, or
/// `max_batch_size`; a list repeats the option, and a mapping gives one `KEY=V1,V2` value per entry);
/// `SWITCHYARD_<SERVICE>_<OPTION>` environment variables (`SWITCHYARD_ROUTER_PORT=7400`) come next; options on the
/// command line win over both. The file and the environment become ordinary options before
/// parsing, so every value is validated the same way and an unknown key is refused with its name.
public protocol ServiceCommand: AsyncParsableCommand {
    /// The service's short name, for environment variables (`router` reads `SWITCHYARD_ROUTER_*`) and logs.
    static var serviceName: String { get }
    /// The port the service listens on when `--port` is not given.
    static var defaultPort: Int { get }
    /// Where it listens, TLS, limits, threads, monitoring.
    var server: ServerOptions { get }
}

extension ServiceCommand {
    /// Parses the command line with the config file and environment, runs the command, exits.
    public static func main() async {
        MetricsExport.bootstrap()  // before the command makes its services: a metric made earlier records nothing
        do {
            let arguments = try SettingsSources.arguments(
                commandLine: Array(CommandLine.arguments.dropFirst()),
                service: Self.serviceName,
                environment: ProcessInfo.processInfo.environment
            )
            var command = try Self.parseAsRoot(arguments)
            if let service = command as? any ServiceCommand, let loops = service.server.eventLoops {
                NIOSingletons.groupLoopCountSuggestion = loops  // before anything starts the shared event loops
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Self.exit(withError: error)
        }
    }
}

/// Turns a config file and environment variables into command-line options.
public enum SettingsSources {
    /// The options to parse: the config file's, then the environment's, then the command line's (last wins).
    /// - Parameters:
    ///   - commandLine: the arguments after the program name; `--config FILE` is taken out of them.
    ///   - service: the service's short name, for `SWITCHYARD_<SERVICE>_*` variables.
    ///   - environment: the process environment.
    /// - Throws: `ValidationError` naming the file or key that cannot be used.
    public static func arguments(
        commandLine: [String],
        service: String,
        environment: [String: String]
    ) throws -> [String] {
        var rest: [String] = []
        var file: String?
        var index = 0
        while index < commandLine.count {
            let argument = commandLine[index]
            if argument == "--config" {
                guard index + 1 < commandLine.count else { throw ValidationError("--config needs a file") }
                file = commandLine[index + 1]
                index += 2
            } else if argument.hasPrefix("--config=") {
                file = String(argument.dropFirst("--config=".count))
                index += 1
            } else {
                rest.append(argument)
                index += 1
            }
        }
        var result: [String] = []
        if let file { result += try Self.fromFile(file) }
        let prefix = "SWITCHYARD_\(service.uppercased())_"
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where key.hasPrefix(prefix) {
            let name = key.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-")
            result += Self.option(name, value)
        }
        return result + rest
    }

    static func fromFile(_ path: String) throws -> [String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ValidationError("\(path) is not valid YAML: \(error)")
        }
        guard let root else { return [] }
        guard let mapping = root as? [String: Any] else {
            throw ValidationError("\(path) must be a mapping of option names to values")
        }
        var result: [String] = []
        for (key, value) in mapping.sorted(by: { $0.key < $1.key }) {
            let name = key.replacingOccurrences(of: "_", with: "-")
            switch value {
            case let flag as Bool:
                if flag { result.append("--\(name)") }
            case let number as Int:
                result += Self.option(name, String(number))
            case let number as Double:
                result += Self.option(name, String(number))
            case let text as String:
                result += Self.option(name, text)
            case let list as [Any]:  // a repeatable option: one value each
                for item in list { result += ["--\(name)", try Self.scalar(item, key: key, path: path)] }
            case let table as [String: Any]:  // a repeatable KEY=VALUES option (roles, allow): a list joins with commas
                for (entry, value) in table.sorted(by: { $0.key < $1.key }) {
                    let values = try ((value as? [Any]) ?? [value]).map { try Self.scalar($0, key: key, path: path) }
                    result += ["--\(name)", "\(entry)=\(values.joined(separator: ","))"]
                }
            default:
                throw ValidationError(
                    "\(path): '\(key)' must be a value (text, number or true/false), a list of values or a mapping"
                )
            }
        }
        return result
    }

    private static func scalar(_ value: Any, key: String, path: String) throws -> String {
        switch value {
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        default: throw ValidationError("\(path): '\(key)' holds something that is not a text or a number")
        }
    }

    private static func option(_ name: String, _ value: String) -> [String] {
        switch value.lowercased() {
        case "true": ["--\(name)"]
        case "false": []
        default: ["--\(name)", value]
        }
    }
}
