public import Foundation

/// A load run: where it went, with what, on which machine, and each step's result. This is the JSON of
/// `yard load --json FILE`, documented in `docs/load-json.md`; ``schema`` names its version.
public struct LoadReport: Codable, Sendable, Hashable {
    /// The schema this build writes.
    public static let currentSchema = "switchyard.load/1"

    public var schema: String
    /// When the run started, ISO 8601 in UTC.
    public var started: String
    /// The command line that ran.
    public var command: [String]
    public var target: Target
    public var input: Input
    public var settings: Settings
    public var machine: Machine
    public var steps: [StepResult]

    /// Where requests went.
    public struct Target: Codable, Sendable, Hashable {
        /// `HOST:PORT`, or `in-process:PATH` for the engine baseline.
        public var address: String
        public var method: String
        public var model: String
        /// The pinned version, or empty for the router's choice.
        public var version: String
        public var connections: Int

        /// Makes a target description.
        public init(address: String, method: String, model: String, version: String, connections: Int) {
            (self.address, self.method, self.model, self.version, self.connections) = (
                address, method, model, version, connections
            )
        }
    }

    /// What requests carried.
    public struct Input: Codable, Sendable, Hashable {
        /// The .npy file, or `synthetic` for `--shape`.
        public var source: String
        /// The input tensor's name.
        public var name: String
        public var dtype: String
        /// The shape of all rows, first dimension the row count.
        public var shape: [Int]
        public var rowsPerRequest: Int
        /// Distinct routing keys; 0 for none.
        public var users: Int

        /// Makes an input description.
        public init(source: String, name: String, dtype: String, shape: [Int], rowsPerRequest: Int, users: Int) {
            (self.source, self.name, self.dtype, self.shape, self.rowsPerRequest, self.users) = (
                source, name, dtype, shape, rowsPerRequest, users
            )
        }
    }

    /// How each step was bounded.
    public struct Settings: Codable, Sendable, Hashable {
        /// Measured seconds per step, when time bounds the steps.
        public var durationS: Double?
        /// Measured requests per step, when a count bounds the steps.
        public var requests: Int?
        public var warmupS: Double
        public var timeoutMs: Double
        public var maxInFlight: Int
        /// The file the answers were compared with, if any.
        public var validate: String?

        /// Makes a settings record from the generator's settings.
        public init(_ settings: LoadSettings, validate: String?) {
            self.durationS = settings.duration.map(LoadFormat.seconds)
            self.requests = settings.requests
            self.warmupS = LoadFormat.seconds(settings.warmup)
            self.timeoutMs = LoadFormat.seconds(settings.timeout) * 1000
            self.maxInFlight = settings.maxInFlight
            self.validate = validate
        }
    }

    /// The machine the client ran on.
    public struct Machine: Codable, Sendable, Hashable {
        public var host: String
        public var cpus: Int
        public var os: String
        /// 1, 5 and 15-minute load averages when the run started (empty where unknown).
        public var loadAverage: [Double]

        /// This machine, now.
        public static func current() -> Machine {
            let info = ProcessInfo.processInfo
            let loads =
                (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
                .split(separator: " ").prefix(3).compactMap { Double($0) } ?? []
            return Machine(
                host: info.hostName,
                cpus: info.activeProcessorCount,
                os: info.operatingSystemVersionString,
                loadAverage: loads
            )
        }
    }

    /// Makes a report.
    public init(
        started: Date,
        command: [String],
        target: Target,
        input: Input,
        settings: Settings,
        machine: Machine,
        steps: [StepResult]
    ) {
        self.schema = Self.currentSchema
        self.started = ISO8601DateFormatter().string(from: started)
        self.command = command
        self.target = target
        self.input = input
        self.settings = settings
        self.machine = machine
        self.steps = steps
    }

    /// The report as pretty-printed JSON with snake_case keys.
    /// - Throws: when encoding fails (it does not for reports made by this library).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a report written by ``json()``.
    /// - Parameter data: the JSON.
    /// - Throws: ``LoadError`` with `invalidReport` when it is not a report of a known schema.
    public init(json data: Data) throws(LoadError) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            self = try decoder.decode(LoadReport.self, from: data)
        } catch {
            throw LoadError(.invalidReport, "not a yard load report: \(error)")
        }
        guard self.schema == Self.currentSchema else {
            throw LoadError(
                .invalidReport,
                "unknown report schema '\(self.schema)' (this build reads \(Self.currentSchema))"
            )
        }
    }

    /// One CSV line per step, with a header line.
    public func csv() -> String {
        var text =
            "step,mode,concurrency,rate,elapsed_s,sent,ok,failed,throughput_rps,rows_per_s,"
            + "p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms,service_p99_ms,max_send_lag_ms,mismatched_rows,errors\n"
        for (index, step) in self.steps.enumerated() {
            let l = step.latencyMs
            let errors = step.errors.map { "\($0.source == "server" ? "" : "\($0.source) ")\($0.status):\($0.count)" }
                .joined(separator: ";")
            let fields: [String] = [
                "\(index + 1)", step.mode, step.concurrency.map(String.init) ?? "",
                step.rate.map(LoadFormat.number) ?? "",
                String(format: "%.3f", step.elapsedS), "\(step.sent)", "\(step.ok)", "\(step.failed)",
                String(format: "%.1f", step.throughput), String(format: "%.1f", step.rowsPerS),
                String(format: "%.3f", l.p50), String(format: "%.3f", l.p90), String(format: "%.3f", l.p99),
                String(format: "%.3f", l.p999), String(format: "%.3f", l.max), String(format: "%.3f", l.mean),
                step.serviceTimeMs.map { String(format: "%.3f", $0.p99) } ?? "",
                step.maxSendLagMs.map { String(format: "%.3f", $0) } ?? "",
                step.validation.map { "\($0.mismatchedRows)" } ?? "", "\"\(errors)\"",
            ]
            text += fields.joined(separator: ",") + "\n"
        }
        return text
    }

    /// The final table people read: one line per step, then failures, validation and versions.
    public func table() -> String {
        var lines: [String] = []
        let header = ["step", "req/s", "rows/s", "ok", "failed", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"]
        var rows: [[String]] = []
        for step in self.steps {
            let l = step.latencyMs
            rows.append([
                step.label, LoadFormat.rate(step.throughput), LoadFormat.rate(step.rowsPerS), "\(step.ok)",
                "\(step.failed)",
                LoadFormat.milliseconds(l.p50), LoadFormat.milliseconds(l.p90), LoadFormat.milliseconds(l.p99),
                LoadFormat.milliseconds(l.p999), LoadFormat.milliseconds(l.max),
            ])
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        lines.append(line(header))
        lines += rows.map(line)
        for step in self.steps {
            if let service = step.serviceTimeMs {
                var note =
                    "\(step.label): from the actual send p50 \(LoadFormat.milliseconds(service.p50)) ms, "
                    + "p99 \(LoadFormat.milliseconds(service.p99)) ms; sends fell behind schedule by up to "
                    + "\(LoadFormat.milliseconds(step.maxSendLagMs ?? 0)) ms"
                if step.stoppedBehind == true { note += "; stopped early: sends fell too far behind" }
                lines.append(note)
            }
            if let retries = step.retries, retries > 0 {
                lines.append("\(step.label): \(retries) request(s) sent again after a retryable failure")
            }
            for error in step.errors {
                let who =
                    switch error.source {
                    case "client": "refused by this client: "
                    case "throttled": "throttled by this client: "
                    default: ""
                    }
                lines.append("\(step.label): \(error.count) × \(who)\(error.status) (\(error.example))")
            }
            if let validation = step.validation {
                var note =
                    "\(step.label): \(validation.checkedRows - validation.mismatchedRows) of \(validation.checkedRows) rows "
                    + "match the expected outputs (\(String(format: "%.4f", validation.matchRate)))"
                if let first = validation.firstMismatch { note += "; first difference: \(first)" }
                lines.append(note)
            }
            if step.versions.count > 1 || (step.versions.first.map { $0.count != step.ok } ?? false) {
                lines.append(
                    "\(step.label): versions "
                        + step.versions.map {
                            "\($0.version) × \($0.count) (p50 \(LoadFormat.milliseconds($0.latencyMs?.p50 ?? 0)) ms, "
                                + "p99 \(LoadFormat.milliseconds($0.latencyMs?.p99 ?? 0)) ms)"
                        }.joined(separator: ", ")
                )
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
