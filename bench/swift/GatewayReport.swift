import Foundation
import SwitchyardLoad

/// What `bench/run.sh` measured of the router's HTTP port: h2load and wrk outputs, the native wire baseline of the
/// same phase, the idle-connection memory and the JSON decoders. Read from the run's output folder.
struct GatewayResults {
    /// One load-tool run: its throughput, its latency, and whether every request succeeded.
    struct ToolRun {
        var requestsPerSecond: Double
        /// p50 for wrk (`--latency`), the mean for h2load (which prints no percentiles).
        var latencyMs: Double?
        var failures: Int
    }

    var native: LoadReport?
    var native1: LoadReport?
    var runs: [String: ToolRun] = [:]
    /// The router's CPU seconds over each run, and the runs' measured and warm-up seconds.
    var cpu: [String: Double] = [:]
    var seconds = (measured: 0.0, warmup: 0.0)
    var memory: [String: String] = [:]
    var json: [JSONBenchRow] = []

    init(directory: String) {
        func text(_ name: String) -> String? { try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8) }
        self.native = FileManager.default.contents(atPath: "\(directory)/gw-native.json").flatMap {
            try? LoadReport(json: $0)
        }
        self.native1 = FileManager.default.contents(atPath: "\(directory)/gw-native-1.json").flatMap {
            try? LoadReport(json: $0)
        }
        for line in (text("gw-cpu.txt") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == "seconds", let measured = Double(parts[1]), let warmup = Double(parts[2]) {
                self.seconds = (measured, warmup)
            } else if parts.count == 2, let value = Double(parts[1]) {
                self.cpu[String(parts[0])] = value
            }
        }
        for name in ["h2-binary", "h1-binary", "h2-json", "h1-json", "h1-binary-1", "h2-binary-1"] {
            guard let output = text("gw-\(name).txt") else { continue }
            self.runs[name] = name.hasPrefix("h2") ? Self.h2load(output) : Self.wrk(output)
        }
        for line in (text("gw-memory.txt") ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { self.memory[String(parts[0])] = String(parts[1]) }
        }
        if let data = FileManager.default.contents(atPath: "\(directory)/oip-json.json") {
            self.json = (try? JSONDecoder().decode([JSONBenchRow].self, from: data)) ?? []
        }
    }

    static func h2load(_ output: String) -> ToolRun? {
        guard let rate = Self.number(after: #"finished in [0-9.]+s, ([0-9.]+) req/s"#, in: output) else { return nil }
        let succeeded = Self.number(after: #"(\d+) succeeded"#, in: output) ?? 0
        let done = Self.number(after: #"(\d+) done"#, in: output) ?? 0
        let twoHundreds = Self.number(after: #"status codes: (\d+) 2xx"#, in: output) ?? 0
        var mean: Double?
        if let line = output.split(separator: "\n").first(where: { $0.contains("time for request:") }) {
            let fields = line.split(separator: " ").filter { !$0.isEmpty }
            if fields.count >= 6 { mean = Self.milliseconds(String(fields[5])) }  // min max mean sd ±sd
        }
        return ToolRun(requestsPerSecond: rate, latencyMs: mean, failures: Int(done - min(succeeded, twoHundreds)))
    }

    static func wrk(_ output: String) -> ToolRun? {
        guard let rate = Self.number(after: #"Requests/sec:\s+([0-9.]+)"#, in: output) else { return nil }
        var p50: Double?
        if let line = output.split(separator: "\n").first(where: {
            $0.trimmingCharacters(in: .whitespaces).hasPrefix("50%")
        }) {
            p50 = line.split(separator: " ").last.flatMap { Self.milliseconds(String($0)) }
        }
        let non2xx = Self.number(after: #"Non-2xx or 3xx responses: (\d+)"#, in: output) ?? 0
        var socketErrors = 0.0
        if let line = output.split(separator: "\n").first(where: { $0.contains("Socket errors:") }) {
            socketErrors = line.split(separator: " ").compactMap {
                Double($0.trimmingCharacters(in: .punctuationCharacters))
            }.reduce(0, +)
        }
        return ToolRun(requestsPerSecond: rate, latencyMs: p50, failures: Int(non2xx + socketErrors))
    }

    private static func number(after pattern: String, in text: String) -> Double? {
        guard let expression = try? NSRegularExpression(pattern: pattern),
            let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let range = Range(match.range(at: 1), in: text)
        else { return nil }
        return Double(text[range])
    }

    /// `123.45us`, `1.23ms`, `2.00s` in milliseconds.
    private static func milliseconds(_ text: String) -> Double? {
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }

    /// The ratio rows for the summary table and the section of RESULTS.md.
    func render() -> (ratios: [[String]], section: String) {
        guard let native = self.native, let native64 = native.steps.first(where: { $0.concurrency == 64 }) else {
            return ([], "")
        }
        let native1 = self.native1?.steps.first { $0.concurrency == 1 }
        func f(_ value: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }
        /// The router's CPU per request over a run at `rate` (h2load and yard load keep the rate in their warm-up).
        func cpuPerRequest(_ name: String, rate: Double, warmedUp: Bool) -> String {
            guard let seconds = self.cpu[name], rate > 0, self.seconds.measured > 0 else { return "" }
            let requests = rate * (self.seconds.measured + (warmedUp ? self.seconds.warmup : 0))
            return f(seconds / requests * 1e6, 1) + " µs"
        }
        var ratios: [[String]] = []
        let labels = [
            ("h2-binary", "HTTP/2 (h2load, 2 conn × 32 streams), binary tensors", 0.8),
            ("h1-binary", "HTTP/1.1 (wrk, 64 conn), binary tensors", 0.8),
            ("h2-json", "HTTP/2 (h2load, 2 conn × 32 streams), JSON tensors", 0.5),
            ("h1-json", "HTTP/1.1 (wrk, 64 conn), JSON tensors", 0.5),
        ]
        func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |\n" }
        var rows = row([
            "client", "in flight", "req/s", "latency", "failed", "vs native req/s", "target", "router CPU per request",
        ])
        rows += "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        rows += row([
            "native wire protocol (`yard load`, 2 conn)", "64", f(native64.throughput),
            "p50 \(f(native64.latencyMs.p50, 2)) ms", "\(native64.failed)", "1.00×", "",
            cpuPerRequest("native", rate: native64.throughput, warmedUp: true),
        ])
        for (key, name, target) in labels {
            guard let run = self.runs[key] else { continue }
            let ratio = run.requestsPerSecond / native64.throughput
            ratios.append([
                "gateway \(name) vs native wire, 64 in flight: req/s (target ≥ \(f(target, 1))×)",
                f(run.requestsPerSecond), f(native64.throughput), f(ratio, 2) + "×",
            ])
            let latency = run.latencyMs.map { (key.hasPrefix("h2") ? "mean " : "p50 ") + f($0, 2) + " ms" } ?? "?"
            let cpu = cpuPerRequest(key, rate: run.requestsPerSecond, warmedUp: key.hasPrefix("h2"))
            rows += row([
                name, "64", f(run.requestsPerSecond), latency, "\(run.failures)", f(ratio, 2) + "×",
                "≥ \(f(target, 1))×", cpu,
            ])
        }
        if let native1 {
            rows += row([
                "native wire protocol (`yard load`, 1 conn)", "1", f(native1.throughput),
                "p50 \(f(native1.latencyMs.p50, 3)) ms", "\(native1.failed)", "", "", "",
            ])
            for (key, name) in [
                ("h1-binary-1", "HTTP/1.1 (wrk, 1 conn), binary tensors"),
                ("h2-binary-1", "HTTP/2 (h2load, 1 stream), binary tensors"),
            ] {
                guard let run = self.runs[key], let latency = run.latencyMs else { continue }
                let kind = key.hasPrefix("h2") ? "mean" : "p50"
                rows += row([
                    name, "1", f(run.requestsPerSecond), "\(kind) \(f(latency, 3)) ms", "\(run.failures)", "", "", "",
                ])
                if kind == "p50" {
                    ratios.append([
                        "gateway \(name) vs native wire, 1 in flight: p50 (target ≤ native + 0.15 ms)",
                        f(latency, 3) + " ms", f(native1.latencyMs.p50, 3) + " ms",
                        String(format: "%+.3f ms", latency - native1.latencyMs.p50),
                    ])
                }
            }
        }
        var section = "## HTTP gateway (Open Inference Protocol) vs the wire protocol, same router, same model\n\n"
        section += """
            The router with batching on serves both its wire port and `--http-port` (TLS with a bearer token: h2load and
            wrk present no client certificate); one synth row (784 floats) per request. The native baseline ran in the
            same phase, just before the HTTP runs. h2load prints no percentiles: its latency is the mean. The router's
            CPU per request is its user + system time over the run (from /proc) divided by the requests it served,
            warm-up included: unlike throughput it does not move with the rest of the machine's load. Where that cost
            goes, and two router builds measured side by side (`bench/gateway.sh`): [RESULTS-gateway.md](RESULTS-gateway.md).


            """
        section += rows + "\n"
        if let before = self.memory["before"], let held = self.memory["held"], let after = self.memory["after"],
            let beforeKB = Double(before), let afterKB = Double(after)
        {
            let delta = (afterKB - beforeKB) / 1024
            let megabytes = delta * 1.048576
            ratios.append([
                "router memory for \(held) idle keep-alive HTTPS connections: MB (target ≤ 30 MB)",
                f(megabytes, 1) + " MB", "30 MB", f(megabytes / 30, 2) + "×",
            ])
            let each = f(delta * 1024 / max(Double(held) ?? 1, 1), 1)
            section += """
                Idle connections: a fresh router (no load yet) at \(f(beforeKB / 1024, 1)) MiB resident; with \(held)
                HTTP/1.1 keep-alive connections over TLS held open and idle (`switchyard-bench hold`, one request each)
                \(f(afterKB / 1024, 1)) MiB: **\(f(delta, 1)) MiB** for them, \(each) KiB each.


                """
        }
        if !self.json.isEmpty {
            section += """
                Decoding an infer body with float data as JSON, in one process (`switchyard-bench oip-json`; floats as
                tritonclient writes them, Python's repr of float32 values):


                """
            section += jsonMarkdown(self.json) + "\n\n"
        }
        return (ratios, section)
    }
}
