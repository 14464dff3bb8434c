/// What one step measured: counts, rates, latency percentiles, failures by status and validation.
///
/// Field names and units are the JSON schema of `yard load --json` (see `docs/load-json.md`).
public struct StepResult: Codable, Sendable, Hashable {
    /// `closed` or `open`.
    public var mode: String
    /// Closed loop: requests in flight.
    public var concurrency: Int?
    /// Open loop: the offered rate, requests per second.
    public var rate: Double?
    /// From the start of measurement to the last measured answer, in seconds.
    public var elapsedS: Double
    /// Measured requests sent.
    public var sent: Int
    /// Measured requests answered with a result.
    public var ok: Int
    /// Measured requests that failed, by status.
    public var errors: [ErrorCount]
    /// Requests sent again after a failure the client's retry policy allows (warm-up included); a retried request
    /// counts once, by its last attempt. `nil` in reports written before retries existed.
    public var retries: Int? = nil
    /// Answered requests per second.
    public var throughput: Double
    /// Rows per second in answered requests.
    public var rowsPerS: Double
    /// Latency of answered requests: closed loop from the send, open loop from the scheduled send.
    public var latencyMs: LatencySummary
    /// Open loop: latency from the actual send (what a closed-loop client would report).
    public var serviceTimeMs: LatencySummary?
    /// Open loop: the most a send fell behind its schedule, in milliseconds.
    public var maxSendLagMs: Double?
    /// Open loop: true when the step stopped early because sends fell too far behind (see `max_lag`).
    public var stoppedBehind: Bool?
    /// Model versions that answered (the `model.version` response parameter), with counts and latency.
    public var versions: [VersionCount]
    /// Comparison with the expected outputs, when the run validates.
    public var validation: Validation?
    /// The latency histogram of answered requests as `[value_us, count]` pairs (HdrHistogram, 3 significant
    /// digits; a value stands for its equivalence range); percentiles of merged steps or runs come from these.
    public var latencyHistogramUs: [[UInt64]]

    /// Failed requests of one status.
    public struct ErrorCount: Codable, Sendable, Hashable {
        /// The status name, e.g. `deadline exceeded`.
        public var status: String
        /// The status code number.
        public var code: Int
        /// `client` when this client refused or lost the request itself (its own in-flight limit, no connection, a
        /// lost connection), `throttled` when its adaptive throttle refused it unsent, `server` when a service
        /// answered with the status.
        public var source: String
        public var count: Int
        /// The first message seen with this status.
        public var example: String

        /// Makes a count.
        /// - Parameters:
        ///   - status: the status name.
        ///   - code: its number.
        ///   - source: `client`, `throttled` or `server`.
        ///   - count: how many.
        ///   - example: the first message.
        public init(status: String, code: Int, source: String = "server", count: Int, example: String) {
            self.status = status
            self.code = code
            self.source = source
            self.count = count
            self.example = example
        }

        private enum CodingKeys: String, CodingKey { case status, code, source, count, example }

        /// Reads a count; reports written before `source` existed count every error as the server's.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.status = try container.decode(String.self, forKey: .status)
            self.code = try container.decode(Int.self, forKey: .code)
            self.source = try container.decodeIfPresent(String.self, forKey: .source) ?? "server"
            self.count = try container.decode(Int.self, forKey: .count)
            self.example = try container.decode(String.self, forKey: .example)
        }
    }

    /// Answers of one model version (per arm of a canary or A/B split), with their latency.
    public struct VersionCount: Codable, Sendable, Hashable {
        public var version: String
        public var count: Int
        /// Absent in reports written before it was added.
        public var latencyMs: LatencySummary?
    }

    /// Rows compared with the expected outputs.
    public struct Validation: Codable, Sendable, Hashable {
        public var checkedRows: Int
        public var mismatchedRows: Int
        /// The first difference, e.g. `row 12: expected 3, got 8`.
        public var firstMismatch: String?
        /// The share of checked rows that matched (accuracy, when the expected outputs are true labels).
        public var matchRate: Double {
            self.checkedRows == 0 ? 0 : Double(self.checkedRows - self.mismatchedRows) / Double(self.checkedRows)
        }
    }

    /// Failed requests, all statuses.
    public var failed: Int { self.errors.reduce(0) { $0 + $1.count } }

    /// The step as users name it: `closed 16` or `open 500/s`.
    public var label: String {
        if let concurrency { return "closed \(concurrency)" }
        return "open \(LoadFormat.number(self.rate ?? 0))/s"
    }
}

/// Latency percentiles in milliseconds.
public struct LatencySummary: Codable, Sendable, Hashable {
    public var count: Int
    public var min: Double
    public var mean: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    /// An empty summary (no answers).
    public static let empty = LatencySummary(count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0)
}
