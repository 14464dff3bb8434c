import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SwitchyardEngine
import SwitchyardLoad
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// `yard load`: the load-test client. Closed loop (requests in flight) or open loop (arrival rate, latency from
/// the scheduled send), single steps or sweeps, against the router or any one service.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a Switchyard router or service: closed or open loop, sweeps, percentiles, JSON and CSV.",
        discussion: """
            Closed loop (--concurrency N[,N...]) keeps N requests in flight; latency counts from each send. Open loop
            (--rate R[,R...]) starts requests on a fixed schedule whatever the answers do; latency counts from the
            scheduled send, so a stalled server cannot hide (no coordinated omission). Each step warms up for
            --warmup (not counted), then measures for --duration or --requests. Requests carry rows of --input
            (a .npy file, cycled) or of seeded random rows of --shape. --validate compares the answers with expected
            outputs (true labels give the accuracy). Exit status 1 when a measured request failed or a step got no
            answer; the report is printed and written either way.
            Examples:
              yard load --target 127.0.0.1:7400 --model digits --input x_test.npy --concurrency 1,4,16,64
              yard load --target 127.0.0.1:7400 --model digits --input x_test.npy --rate 500,1000,2000 --duration 5s
              yard load --target 127.0.0.1:7401 --method echo --shape 784 --concurrency 64 --connections 4
            """
    )

    @Option(help: "The service, as HOST:PORT: the router, or one stage for per-hop numbers.") var target =
        "127.0.0.1:7400"
    @Option(help: "Run this .onnx model in this process instead of calling --target (the no-network baseline).")
    var engine: String?
    @Option(help: "The model's name.") var model = ""
    @Option(help: "A pinned model version (default: the router's choice).") var modelVersion = ""
    @Option(help: "The method called (default: infer with --model, echo without).") var method: String?
    @Option(help: "A .npy file whose rows are sent, cycled (first dimension = rows).") var input: String?
    @Option(help: "Instead of --input: the shape of one row (e.g. 784 or 28,28) of seeded random f32 in [0, 1).")
    var shape: String?
    @Option(help: "The input tensor's name.") var inputName = "X"
    @Option(help: "Rows per request.") var rowsPerRequest = 1
    @Option(help: "Routing keys drawn from this many users (user-0 ...); 0 sends none.") var users = 0
    @Option(help: "Closed loop: requests in flight, or a comma-separated sweep (1,4,16,64).") var concurrency: String?
    @Option(help: "Open loop: requests per second, or a comma-separated sweep (100,200,500).") var rate: String?
    @Option(help: "Measured time per step (e.g. 10s, 500ms, 2m); default 10s unless --requests is given.") var duration:
        String?
    @Option(help: "Measured requests per step, instead of --duration.") var requests: Int?
    @Option(help: "Warm-up per step, not counted (e.g. 1s, 0).") var warmup = "1s"
    @Option(help: "Deadline of each request (e.g. 5s, 200ms).") var timeout = "5s"
    @Option(help: "Connections to the target.") var connections = 1
    @Option(
        help:
            "Event-loop threads of the load client. With 1 the senders run on the loop of their connections, so the client takes less of the machine it measures."
    ) var eventLoops = 1
    @Option(help: "Open loop: most requests in flight; past it sends fall behind schedule (and latency shows it).")
    var maxInFlight = 4096
    @Option(
        name: .customLong("validate"),
        help: "A .npy of expected outputs per input row: class ids (integers) or values (floats)."
    )
    var expectedFile: String?
    @Option(help: "The output compared with --validate (default: the first).") var outputName: String?
    @Option(help: "Largest difference allowed when --validate holds floats.") var tolerance: Float = 1e-4
    @Option(
        help: """
            A .npy of true labels, one per input row: each answer's label goes back to the router as feedback under \
            its request.id (rollout and A/B accuracy).
            """
    )
    var feedback: String?
    @Option(help: "Write request_id,row for every answer (CSV), to send late labels with `yard rollout feedback`.")
    var idsOut: String?
    @Option(help: "Write the report as JSON (schema: docs/load-json.md).") var json: String?
    @Option(help: "Write one CSV line per step.") var csv: String?
    @Option(help: "Write one CSV line per request: sent_unix_s,latency_ms,code,measured (to count every request).")
    var requestLog: String?
    @Option(help: "Write an SVG chart of latency against throughput over the steps.") var plot: String?
    @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
    @Option(help: "Client certificate (PEM).") var cert = "ops/certs/out/client.pem"
    @Option(help: "Client private key (PEM).") var key = "ops/certs/out/client.key"
    @Option(
        help:
            "Retries of a failed request within its deadline: requests the server never processed (no connection, a draining server's GOAWAY), idempotent ones answered 'unavailable', and idempotent overload refusals with a 'retry after' hint, not before it (within a budget of about a tenth of the load); 0 for none. Each step reports how many."
    ) var retries = 3
    @Flag(
        help:
            "Client-side adaptive throttling (Google SRE book, 'Handling Overload'): refuse requests locally with probability max(0, (requests - K*accepts) / (requests + 1)) over a recent window; they count as 'throttled'."
    ) var throttle = false
    @Option(help: "With --throttle: K, the requests sent per one the server accepts.") var throttleMultiplier = 2.0
    @Option(help: "With --throttle: the window the counts cover (e.g. 30s).") var throttleWindow = "30s"

    func validate() throws {
        if self.engine == nil {
            guard Echo.split(self.target) != nil else {
                throw ValidationError("--target must be HOST:PORT, got '\(self.target)'")
            }
        }
        guard (self.input == nil) != (self.shape == nil) else {
            throw ValidationError("give either --input FILE.npy or --shape")
        }
        guard self.concurrency == nil || self.rate == nil else {
            throw ValidationError("give --concurrency or --rate, not both")
        }
        guard self.duration == nil || self.requests == nil else {
            throw ValidationError("give --duration or --requests, not both")
        }
        guard (1...65_536).contains(self.rowsPerRequest) else {
            throw ValidationError("--rows-per-request must be 1...65536, got \(self.rowsPerRequest)")
        }
        guard (0...1_000_000_000).contains(self.users) else {
            throw ValidationError("--users must be 0...1000000000, got \(self.users)")
        }
        guard (1...64).contains(self.eventLoops) else {
            throw ValidationError("--event-loops must be 1...64, got \(self.eventLoops)")
        }
        guard (0...10).contains(self.retries) else {
            throw ValidationError("--retries must be 0...10, got \(self.retries)")
        }
        guard self.throttleMultiplier.isFinite, (1...100).contains(self.throttleMultiplier) else {
            throw ValidationError("--throttle-multiplier must be 1...100, got \(self.throttleMultiplier)")
        }
        let window = try Self.duration(self.throttleWindow, "--throttle-window")
        guard window >= .milliseconds(100), window <= .seconds(3600) else {
            throw ValidationError("--throttle-window must be 100ms...1h, got \(self.throttleWindow)")
        }
        guard (1...64).contains(self.connections) else {
            throw ValidationError("--connections must be 1...64, got \(self.connections)")
        }
        if self.feedback != nil || self.idsOut != nil {
            guard self.engine == nil, self.rowsPerRequest == 1 else {
                throw ValidationError(
                    "--feedback and --ids-out need a router --target and one row per request (a label per answer)"
                )
            }
        }
        _ = try self.steps()
        _ = try self.settings()
        if let shape { _ = try Self.rowShape(shape) }
    }

    /// The steps of the run: the sweep in the order given.
    func steps() throws -> [LoadStep] {
        func numbers(_ text: String, _ flag: String) throws -> [Double] {
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map {
                Double($0.trimmingCharacters(in: .whitespaces))
            }
            guard !values.isEmpty, values.count <= 100, values.allSatisfy({ $0 != nil }) else {
                throw ValidationError("\(flag) must be a number or a comma-separated list of numbers, got '\(text)'")
            }
            return values.map { $0! }
        }
        var steps: [LoadStep]
        if let rate {
            steps = try numbers(rate, "--rate").map { LoadStep.open(rate: $0) }
        } else {
            let values = try numbers(self.concurrency ?? "1", "--concurrency")
            guard values.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e9 }) else {
                throw ValidationError("--concurrency takes whole numbers, got '\(self.concurrency!)'")
            }
            steps = values.map { LoadStep.closed(concurrency: Int($0)) }
        }
        for step in steps {
            do { try step.validate() } catch { throw ValidationError("\(error)") }
        }
        return steps
    }

    func settings() throws -> LoadSettings {
        var settings = LoadSettings()
        if let requests {
            settings.requests = requests
        } else {
            settings.duration = try Self.duration(self.duration ?? "10s", "--duration")
        }
        settings.warmup = try Self.duration(self.warmup, "--warmup")
        settings.timeout = try Self.duration(self.timeout, "--timeout")
        settings.maxInFlight = self.maxInFlight
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        return settings
    }

    /// `10s`, `500ms`, `2m`, `1.5` (seconds), `0`.
    static func duration(_ text: String, _ flag: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text.trimmingCharacters(in: .whitespaces))
        var scale = 1.0
        for (suffix, factor) in units where number.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale <= 86_400 else {
            throw ValidationError("\(flag) must be a duration such as 10s, 500ms or 2m, got '\(text)'")
        }
        return .seconds(value * scale)
    }

    static func rowShape(_ text: String) throws -> [Int] {
        let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }), dims.reduce(1, { $0 * $1! }) <= 16_777_216 else {
            throw ValidationError(
                "--shape must be positive dimensions of one row, e.g. 784 or 28,28 (at most 16M values), got '\(text)'"
            )
        }
        return dims.map { $0! }
    }

    func run() async throws {
        let steps = try self.steps()
        let settings = try self.settings()
        let rows: Tensor
        let check: OutputCheck?
        let source: RequestSource
        do {
            rows = try self.readRows()
            check = try self.readExpected(rowCount: rows.shape[0])
            let method = self.method ?? (self.model.isEmpty ? Method.echo : Method.infer)
            source = try RequestSource(
                method: method,
                model: self.model,
                version: self.modelVersion,
                inputName: self.inputName,
                rows: rows,
                rowsPerRequest: self.rowsPerRequest,
                users: self.users
            )
        } catch let error as EngineError {
            throw fail("load", error.message)
        } catch {
            throw fail("load", "\(error)")
        }
        let labels: [Int64]?
        do {
            labels = try self.feedback.map { try FeedbackBatch.labels($0) }
        } catch {
            throw fail("load", "\(error)")
        }
        if let labels, labels.count != rows.shape[0] {
            throw fail("load", "\(self.feedback!) has \(labels.count) labels for \(rows.shape[0]) input rows")
        }
        let (target, address, close) = try await self.connect()
        let log: RequestLog?
        do {
            log = try self.requestLog.map { try RequestLog(path: $0) }
        } catch {
            throw fail("load", "cannot write the request log \(self.requestLog ?? ""): \(error)")
        }
        defer { log?.close() }
        let stream = try labels.map { FeedbackStream(labels: $0, client: try self.feedbackClient()) }
        let feeding = stream.map { stream in Task { await stream.run() } }
        let answered = self.idsOut.map { _ in AnsweredIDs() }
        var observer: (@Sendable (Int, Response) -> Void)?
        if stream != nil || answered != nil {
            observer = { row, response in
                stream?.observe(firstRow: row, response: response)
                if let answered, let id = response[parameter: ParameterKey.requestID] { answered.add(id, row: row) }
            }
        }
        let generator = try LoadGenerator(
            target: target,
            source: source,
            settings: settings,
            check: check,
            observer: observer,
            requestLog: log
        )
        let started = Date()
        let machine = LoadReport.Machine.current()
        let live = isatty(STDOUT_FILENO) == 1
        var results: [StepResult] = []
        for step in steps {
            let progress: (@Sendable (LoadGenerator.Progress) -> Void)? =
                live ? { @Sendable progress in Self.show(progress) } : nil
            let result = try await generator.run(step, progress: progress)
            if live { print("\r\u{1B}[K", terminator: "") }
            results.append(result)
        }
        if let feeding, let stream {
            feeding.cancel()
            await feeding.value
            await stream.close()
        }
        await close()
        let report = LoadReport(
            started: started,
            command: CommandLine.arguments,
            target: .init(
                address: address,
                method: source.method,
                model: self.model,
                version: self.modelVersion,
                connections: self.connections
            ),
            input: .init(
                source: self.input ?? "synthetic",
                name: self.inputName,
                dtype: rows.dtype.name,
                shape: rows.shape.dims,
                rowsPerRequest: self.rowsPerRequest,
                users: self.users
            ),
            settings: .init(settings, validate: self.expectedFile),
            machine: machine,
            steps: results
        )
        let what = self.model.isEmpty ? source.method : "\(self.model) (\(source.method))"
        let bound =
            settings.requests.map { "\($0) requests" } ?? LoadFormat.number(LoadFormat.seconds(settings.duration!))
            + " s"
        let route = self.engine.map { "in this process (\($0))" } ?? "via \(address), \(self.connections) connection(s)"
        print(
            "\(what) \(route); \(rows.shape[0]) input rows, \(self.rowsPerRequest) per request; "
                + "each step \(bound) after \(LoadFormat.number(LoadFormat.seconds(settings.warmup))) s warm-up"
        )
        print("latency: closed loop from the send, open loop from the scheduled send")
        print(report.table(), terminator: "")
        if let stream { print(stream.summary) }
        do {
            if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
            if let idsOut, let answered {
                try answered.csv.write(toFile: idsOut, atomically: true, encoding: .utf8)
            }
            if let csv { try report.csv().write(toFile: csv, atomically: true, encoding: .utf8) }
            if let plot {
                let chart = LatencyPlot(
                    title: "\(what) via \(address)",
                    series: [.init(name: self.model.isEmpty ? source.method : self.model, report: report)]
                )
                try chart.svg().write(toFile: plot, atomically: true, encoding: .utf8)
            }
        } catch {
            throw fail("load", "cannot write the report: \(error.localizedDescription)")
        }
        if results.contains(where: { $0.failed > 0 || $0.ok == 0 }) { throw ExitCode.failure }
    }

    private static func show(_ progress: LoadGenerator.Progress) {
        let phase = progress.warmingUp ? "warming up" : "measuring"
        let line =
            "\r\u{1B}[K\(progress.step): \(phase), \(LoadFormat.number(LoadFormat.seconds(progress.elapsed).rounded())) s, "
            + "\(progress.answered) answered, \(progress.failed) failed, \(LoadFormat.rate(progress.recentRate)) req/s"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    private func readRows() throws -> Tensor {
        if let input { return try NPY.read(input) }
        let dims = try Self.rowShape(self.shape!)
        let perRow = dims.reduce(1, *)
        let count = max(1, min(1024, 16_777_216 / perRow))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let values = (0..<(count * perRow)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        return try Tensor(values, shape: Shape([count] + dims))
    }

    private func readExpected(rowCount: Int) throws -> OutputCheck? {
        guard let validate = self.expectedFile else { return nil }
        let expected = try NPY.read(validate)
        guard expected.shape.rank >= 1, expected.shape[0] == rowCount else {
            throw LoadError(
                .invalidInput,
                "\(validate) has shape \(expected.shape); it needs one entry per input row (\(rowCount))"
            )
        }
        switch expected.dtype {
        case .int64, .int32, .uint8, .int8:
            guard expected.elementCount == rowCount else {
                throw LoadError(.invalidInput, "\(validate): class ids need one per row, got shape \(expected.shape)")
            }
            return try OutputCheck(
                expected: .classIDs(try expected.converted(to: .int64).scalars(as: Int64.self)),
                outputName: self.outputName,
                rowCount: rowCount
            )
        case .float32, .float64:
            let values = try expected.converted(to: .float32).scalars(as: Float.self)
            return try OutputCheck(
                expected: .values(values, width: values.count / rowCount, tolerance: self.tolerance),
                outputName: self.outputName,
                rowCount: rowCount
            )
        default:
            throw LoadError(.invalidInput, "\(validate): cannot compare outputs with \(expected.dtype) values")
        }
    }

    /// A connection of its own for feedback, so that labels never queue behind the measured requests.
    private func feedbackClient() throws -> WireClient {
        let (host, port) = Echo.split(self.target)!
        var configuration = WireClientConfiguration(
            host: host,
            port: port,
            tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key)
        )
        configuration.identity = "yard-load-feedback"
        do {
            return try WireClient(configuration: configuration)
        } catch {
            throw fail("load", "\(error)")
        }
    }

    /// Opens the target now, so that an unreachable service or a TLS failure is one clear error before the run.
    private func connect() async throws -> (any LoadTarget, String, @Sendable () async -> Void) {
        if let engine {
            do {
                let model = try Model(contentsOf: resolveModelPath(engine))
                return (InProcessEngine(model: model), "in-process:\(engine)", {})
            } catch {
                throw fail("load", error.message)
            }
        }
        let (host, port) = Echo.split(self.target)!
        var configuration = WireClientConfiguration(
            host: host,
            port: port,
            tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key)
        )
        configuration.connections = self.connections
        configuration.identity = "yard-load"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.eventLoops)
        let client: WireClient
        do {
            client = try WireClient(configuration: configuration, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw fail("load", "\(error)")
        }
        let close: @Sendable () async -> Void = {
            await client.close()
            try? await group.shutdownGracefully()
        }
        do {
            try await client.connect()
        } catch {
            await close()
            throw fail("load", "cannot reach \(self.target): \(error)")
        }
        let retry = CallRetryPolicy.defaults { $0.maxRetries = self.retries }
        let throttling = AdaptiveThrottling.defaults {
            $0.multiplier = self.throttleMultiplier
            $0.window = (try? Self.duration(self.throttleWindow, "--throttle-window")) ?? $0.window
        }
        let target = WireTarget(
            client: client,
            eventLoop: self.eventLoops == 1 ? group.next() : nil,
            retry: retry,
            throttle: self.throttle ? AdaptiveThrottle(settings: throttling) : nil
        )
        return (target, self.target, close)
    }
}

/// The model called in this process, one request at a time per task: the no-network baseline.
struct InProcessEngine: LoadTarget {
    let model: Model

    func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        do {
            return Response(tensors: try self.model.run(request.tensors))
        } catch {
            throw Status(.invalidArgument, error.message)
        }
    }
}
