import ArgumentParser
import Foundation
import SwitchyardLoad

/// `switchyard-bench rates`: open-loop rates as fractions of a measured throughput, for a sweep up to and past
/// saturation.
struct Rates: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print rates (comma-separated) as fractions of a step's throughput in a yard load report.")
    @Option(help: "A yard load JSON report.") var from: String
    @Option(help: "The step whose throughput is the capacity (1-based; default: the last).") var step: Int?
    @Option(help: "Fractions of that throughput.") var fractions = "0.1,0.3,0.5,0.7,0.85,1.0,1.15"

    func run() throws {
        let report = try LoadReport(json: Data(contentsOf: URL(fileURLWithPath: self.from)))
        guard let capacity = (self.step.map { report.steps[$0 - 1] } ?? report.steps.last)?.throughput, capacity > 0
        else {
            throw ValidationError("\(self.from) has no step with answers")
        }
        let rates = self.fractions.split(separator: ",").compactMap { Double($0) }.map { fraction -> String in
            let rate = fraction * capacity
            let magnitude = pow(10, floor(log10(rate)) - 1)  // two significant digits
            return LoadFormat.number((rate / magnitude).rounded() * magnitude)
        }
        print(rates.joined(separator: ","))
    }
}

/// `switchyard-bench report`: bench/RESULTS.md and the latency-throughput chart from the JSON files `bench/run.sh`
/// wrote in one run.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write bench/RESULTS.md and the latency-vs-throughput SVG from one run's JSON files.")
    @Option(help: "The folder holding the run's files.") var directory = "bench/out"
    @Option(help: "The Markdown file to write.") var out = "bench/RESULTS.md"
    @Option(help: "The SVG chart to write (linked from the Markdown by its file name).") var plot =
        "bench/latency-throughput.svg"

    struct EngineRecord: Decodable {
        var model: String
        var batch: Int
        var engine_rows_per_s_p50: Double
        var engine_p50_us: Double
        var bare_rows_per_s_p50: Double
        var bare_p50_us: Double
    }

    func load(_ name: String) -> LoadReport? {
        guard let data = FileManager.default.contents(atPath: "\(self.directory)/\(name)") else { return nil }
        return try? LoadReport(json: data)
    }

    func text(_ name: String) -> String {
        (try? String(contentsOfFile: "\(self.directory)/\(name)", encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines) ?? ""
    }

    func run() throws {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let wire =
            FileManager.default.contents(atPath: "\(self.directory)/wire.json").flatMap {
                try? decoder.decode([WireRecord].self, from: $0)
            } ?? []
        let engine =
            FileManager.default.contents(atPath: "\(self.directory)/engine.json").flatMap {
                try? JSONDecoder().decode([EngineRecord].self, from: $0)
            } ?? []
        let (hopEcho, hopInference, inProcess) = (
            self.load("hop-echo.json"), self.load("hop-inference.json"), self.load("engine-inprocess.json")
        )
        let (meshOn, meshOff, sweepOn, sweepOff) = (
            self.load("mesh-on.json"), self.load("mesh-off.json"), self.load("sweep-on.json"),
            self.load("sweep-off.json")
        )

        func f(_ value: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }
        func ms(_ value: Double) -> String { LoadFormat.milliseconds(value) + " ms" }
        func closed(_ report: LoadReport?, _ concurrency: Int) -> StepResult? {
            report?.steps.first { $0.concurrency == concurrency }
        }

        var summary: [[String]] = []  // what, ours, baseline, ratio
        for record in wire where record.inFlight == 64 {
            summary.append([
                "wire echo vs bare TLS echo, \(record.connections) conn × 64 in flight: throughput",
                "\(f(record.oursRps)) req/s", "\(f(record.bareRps)) req/s", f(record.oursRps / record.bareRps, 2) + "×",
            ])
        }
        for record in wire where record.inFlight == 1 {
            summary.append([
                "wire echo vs bare TLS echo, \(record.connections) conn × 1 in flight: p50 latency",
                "\(f(record.oursP50Us, 1)) µs", "\(f(record.bareP50Us, 1)) µs",
                f(record.oursP50Us / record.bareP50Us, 2) + "×",
            ])
        }
        for record in engine where record.batch == 64 || record.batch == 1 {
            summary.append([
                "engine vs bare sgemm, \(record.model), batch \(record.batch): rows/s at p50",
                f(record.engine_rows_per_s_p50), f(record.bare_rows_per_s_p50),
                f(record.engine_rows_per_s_p50 / record.bare_rows_per_s_p50, 2) + "×",
            ])
        }
        let base = closed(inProcess, 1)
        if let on = closed(meshOn, 64), let base {
            summary.append([
                "mesh (4 hops, batching) at 64 in flight vs in-process engine one row at a time: rows/s",
                f(on.rowsPerS), f(base.rowsPerS), f(on.rowsPerS / base.rowsPerS, 2) + "×",
            ])
        }
        if let on = closed(meshOn, 64), let off = closed(meshOff, 64) {
            summary.append([
                "mesh batching on vs off, 64 in flight: rows/s", f(on.rowsPerS), f(off.rowsPerS),
                f(on.rowsPerS / off.rowsPerS, 2) + "×",
            ])
            summary.append([
                "mesh batching on vs off, 64 in flight: p99", ms(on.latencyMs.p99), ms(off.latencyMs.p99),
                f(on.latencyMs.p99 / off.latencyMs.p99, 2) + "×",
            ])
        }
        if let lone = closed(meshOn, 1), let base {
            summary.append([
                "mesh lone request (1 in flight) vs in-process engine: p50", ms(lone.latencyMs.p50),
                ms(base.latencyMs.p50),
                f(lone.latencyMs.p50 / base.latencyMs.p50, 1) + "×",
            ])
        }
        if let echo = closed(hopEcho, 1), let lone = closed(meshOn, 1) {
            summary.append([
                "one hop (echo service) vs the mesh's four hops, 1 in flight: p50", ms(echo.latencyMs.p50),
                ms(lone.latencyMs.p50),
                f(echo.latencyMs.p50 / lone.latencyMs.p50, 2) + "×",
            ])
        }
        if let direct = closed(hopInference, 64), let on = closed(meshOn, 64) {
            summary.append([
                "mesh vs inference service called directly, 64 in flight: rows/s", f(on.rowsPerS), f(direct.rowsPerS),
                f(on.rowsPerS / direct.rowsPerS, 2) + "×",
            ])
        }

        let gateway = GatewayResults(directory: self.directory).render()
        summary += gateway.ratios

        var md = "# Benchmark results\n\n"
        md +=
            "Written by `bench/run.sh` (one command; every number below comes from that one run). Each ratio compares two\n"
        md += "things measured in the same run on the same machine.\n\n"
        md += self.text("machine.txt").split(separator: "\n").map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        md += "## Ratios\n\n| comparison | ours | baseline | ratio |\n|---|---:|---:|---:|\n"
        md += summary.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n\n"

        // The chart: latency against throughput, batching on and off, open loop.
        var series: [LatencyPlot.Series] = []
        if let sweepOn { series.append(.init(name: "batching on", report: sweepOn)) }
        if let sweepOff { series.append(.init(name: "batching off", report: sweepOff)) }
        if !series.isEmpty {
            let chart = LatencyPlot(
                title: "Mesh (4 hops, synth 784-512-512-10): latency vs offered rate, open loop", series: series,
                xLabel: "offered rate (requests/s)")
            try chart.svg().write(toFile: self.plot, atomically: true, encoding: .utf8)
            md += "## Latency against throughput\n\n"
            md += "![latency against throughput](\(URL(fileURLWithPath: self.plot).lastPathComponent))\n\n"
            md +=
                "Open loop (`yard load --rate`): requests start on a fixed schedule and latency counts from the scheduled\n"
            md +=
                "start, so queueing past saturation shows (no coordinated omission). Rates are fractions of the closed-loop\n"
            md += "throughput at 64 in flight of the same router. Solid: p99; dashed: p50.\n\n"
            md +=
                "| router | offered /s | answered /s | p50 | p90 | p99 | p99.9 | failed | most behind schedule |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            for (name, report) in [("batching on", sweepOn), ("batching off", sweepOff)] {
                for step in report?.steps ?? [] {
                    let l = step.latencyMs
                    let failures = step.errors.map { "\($0.count) \($0.status)" }.joined(separator: ", ")
                    md +=
                        "| \(name) | \(LoadFormat.number(step.rate ?? 0)) | \(f(step.throughput)) | \(ms(l.p50)) | \(ms(l.p90)) | \(ms(l.p99)) | \(ms(l.p999)) | "
                        + "\(failures.isEmpty ? "0" : failures) | \(ms(step.maxSendLagMs ?? 0)) |\n"
                }
            }
            var messages: [String] = []
            for step in (sweepOn?.steps ?? []) + (sweepOff?.steps ?? []) {
                for error in step.errors where !messages.contains("\(error.status): \(error.example)") {
                    messages.append("\(error.status): \(error.example)")
                }
            }
            if !messages.isEmpty {
                md +=
                    "\nFailures, with the first message of each kind: "
                    + messages.map { "`\($0)`" }.joined(separator: "; ") + ".\n"
                md += "Latency percentiles count answered requests only; failures are listed beside them.\n"
            }
            md += "\n"
        }

        md += "## Closed loop, every target\n\n"
        md +=
            "| target | in flight | req/s | rows/s | p50 | p90 | p99 | p99.9 | max | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        let targets: [(String, LoadReport?)] = [
            ("echo service (one hop, 784 floats)", hopEcho),
            ("inference service directly (one hop, synth)", hopInference),
            ("engine in-process (synth, no network)", inProcess), ("mesh, batching on", meshOn),
            ("mesh, batching off", meshOff),
        ]
        for (name, report) in targets {
            for step in report?.steps ?? [] where step.mode == "closed" {
                let l = step.latencyMs
                md +=
                    "| \(name) | \(step.concurrency ?? 0) | \(f(step.throughput)) | \(f(step.rowsPerS)) | \(ms(l.p50)) | \(ms(l.p90)) | \(ms(l.p99)) | "
                    + "\(ms(l.p999)) | \(ms(l.max)) | \(step.failed) |\n"
            }
        }
        let memory = self.text("router-memory.txt")
        if !memory.isEmpty { md += "\n\(memory)\n" }
        md += "\n"
        md += gateway.section
        if !wire.isEmpty {
            md += "## Wire protocol vs bare TLS echo (in one process)\n\n"
            md +=
                "`switchyard-bench wire`: our echo RPC carrying 784 floats over mutual TLS 1.3 against a bare length-prefixed\n"
            md +=
                "TLS echo on the same NIO stack (the ceiling); CPU is the process's user + system time per request. Analysis of\n"
            md += "earlier runs: [RESULTS-wire.md](RESULTS-wire.md).\n\n"
            md +=
                "| connections | in flight | ours req/s | p50 µs | p99 µs | CPU µs/req | bare req/s | p50 µs | p99 µs | CPU µs/req | throughput ratio | p50 ratio |\n"
            md += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            for r in wire {
                md +=
                    "| \(r.connections) | \(r.inFlight) | \(f(r.oursRps)) | \(f(r.oursP50Us, 1)) | \(f(r.oursP99Us, 1)) | \(f(r.oursCpuUsPerRequest, 1)) | "
                    + "\(f(r.bareRps)) | \(f(r.bareP50Us, 1)) | \(f(r.bareP99Us, 1)) | \(f(r.bareCpuUsPerRequest, 1)) | \(f(r.oursRps / r.bareRps, 2)) | \(f(r.oursP50Us / r.bareP50Us, 2)) |\n"
            }
            md += "\n"
        }
        if !engine.isEmpty {
            md += "## Engine vs bare sgemm (1 OpenBLAS thread)\n\n"
            md +=
                "`switchyard-bench-engine`: `Model.run` against the model's GEMMs alone on preallocated buffers. The comparison with\n"
            md +=
                "onnxruntime (Python, outside this suite) and its analysis: [RESULTS-engine.md](RESULTS-engine.md).\n\n"
            md +=
                "| model | batch | engine rows/s at p50 | engine p50 µs | bare sgemm rows/s at p50 | bare p50 µs | engine / bare |\n|---|---:|---:|---:|---:|---:|---:|\n"
            for r in engine {
                md +=
                    "| \(r.model) | \(r.batch) | \(f(r.engine_rows_per_s_p50)) | \(f(r.engine_p50_us, 1)) | \(f(r.bare_rows_per_s_p50)) | \(f(r.bare_p50_us, 1)) | "
                    + "\(f(r.engine_rows_per_s_p50 / r.bare_rows_per_s_p50, 2)) |\n"
            }
            md += "\n"
        }
        md +=
            "## Commands\n\nExactly what ran, in order (paths relative to the repository; `$out` is `\(self.directory)`, `$bin` the release\n"
        md +=
            "build's products, `$work` a temporary folder with certificates and the synth model):\n\n```sh\n\(self.text("commands.txt"))\n```\n\n"
        md +=
            "The raw results of this run (`yard load --json` reports, schema in [docs/load-json.md](../docs/load-json.md)) stay in\n"
        md +=
            "`\(self.directory)/`. Earlier detailed write-ups: [RESULTS-wire.md](RESULTS-wire.md) (wire protocol, fuzzing),\n"
        md +=
            "[RESULTS-engine.md](RESULTS-engine.md) (engine vs onnxruntime), [RESULTS-mesh.md](RESULTS-mesh.md) (mesh, issue 4).\n"
        try md.write(toFile: self.out, atomically: true, encoding: .utf8)
        print("\(self.out): \(summary.count) ratios; \(series.isEmpty ? "no chart (no sweep results)" : self.plot)")
    }
}
