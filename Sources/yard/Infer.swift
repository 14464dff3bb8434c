import ArgumentParser
import Foundation
import SwitchyardClient
import SwitchyardEngine
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire

/// `yard infer`: sends the rows of a .npy file to a router (or an inference service) and reports what came back:
/// accuracy against labels, agreement with the engine run offline, throughput and latency.
struct Infer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send the rows of a .npy file through a Switchyard router and report accuracy and latency."
    )

    @Option(help: "The router, as HOST:PORT.") var target = "127.0.0.1:7400"
    @Option(help: "The model's name.") var model: String
    @Option(help: "The input .npy file (batch = first dimension), or random:ROWS,COLUMNS for seeded f32 rows in [0, 1).") var input: String
    @Option(help: "The model input's name.") var inputName = "X"
    @Option(help: "The output holding predicted class ids (or scores [batch, classes], whose argmax is taken).") var outputName = "label"
    @Option(help: "A .npy of true class ids, to report accuracy.") var labels: String?
    @Option(help: "A .onnx file to run offline on the same rows and compare predictions with.") var offline: String?
    @Flag(help: "Also time the --offline model in this process one row at a time (the no-network baseline).") var baseline = false
    @Flag(help: "End with one machine-readable line: result key=value ...") var summary = false
    @Option(help: "Rows per request.") var rowsPerRequest = 1
    @Option(help: "Requests in flight at once.") var concurrency = 16
    @Option(help: "Deadline of each request, in milliseconds.") var timeoutMs = 2000
    @Option(help: "CA certificate (PEM).") var ca = "ops/certs/out/ca.pem"
    @Option(help: "Client certificate (PEM).") var cert = "ops/certs/out/client.pem"
    @Option(help: "Client private key (PEM).") var key = "ops/certs/out/client.key"

    func validate() throws {
        guard Echo.split(self.target) != nil else { throw ValidationError("--target must be HOST:PORT, got '\(self.target)'") }
        guard (1...65536).contains(self.rowsPerRequest) else { throw ValidationError("--rows-per-request must be 1...65536") }
        guard (1...4096).contains(self.concurrency) else { throw ValidationError("--concurrency must be 1...4096") }
        guard self.timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
    }

    func run() async throws {
        let rows: Tensor
        var truth: [Int64]?
        do {
            rows = try Self.rows(self.input)
            if let labels { truth = try NPY.read(labels).converted(to: .int64).scalars(as: Int64.self) }
        } catch {
            throw fail("infer", "\(error)")
        }
        guard rows.shape.rank >= 1, rows.shape[0] > 0 else { throw fail("infer", "\(self.input) holds no rows") }
        let count = rows.shape[0]
        if let truth, truth.count != count { throw fail("infer", "\(self.labels!) has \(truth.count) labels for \(count) rows") }
        let (host, port) = Echo.split(self.target)!
        let client: SwitchyardClient
        do {
            client = try SwitchyardClient(host: host, port: port, tls: TLSSettings(caPath: self.ca, certificatePath: self.cert, keyPath: self.key),
                                          connections: 2, identity: "yard-infer")
            try await client.connect()
        } catch {
            throw fail("infer", "cannot reach \(self.target): \(error)")
        }
        let batches = stride(from: 0, to: count, by: self.rowsPerRequest).map { $0..<min(count, $0 + self.rowsPerRequest) }
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = Duration.milliseconds(self.timeoutMs)
        let (predicted, latencies, failures) = await withTaskGroup(of: (Range<Int>, Result<[Int64], InferenceError>, Duration).self) { group in
            var predicted = [Int64?](repeating: nil, count: count)
            var latencies: [Duration] = []
            var failures: [String: Int] = [:]
            var next = 0
            func add() {
                let range = batches[next]
                next += 1
                group.addTask {
                    let sent = clock.now
                    do {
                        let slice = try rows.rows(range)
                        let result = try await client.infer(model: self.model, inputs: [self.inputName: slice], deadline: deadline)
                        guard let output = result[self.outputName] else {
                            throw InferenceError(status: .init(.internalError, "no output '\(self.outputName)' in the answer"))
                        }
                        return (range, .success(try Self.classIDs(output)), sent.duration(to: clock.now))
                    } catch let error as InferenceError {
                        return (range, .failure(error), sent.duration(to: clock.now))
                    } catch {
                        return (range, .failure(InferenceError(status: .init(.internalError, "\(error)"))), sent.duration(to: clock.now))
                    }
                }
            }
            for _ in 0..<min(self.concurrency, batches.count) { add() }
            while let (range, result, latency) = await group.next() {
                switch result {
                case .success(let ids) where ids.count == range.count:
                    for (offset, id) in ids.enumerated() { predicted[range.lowerBound + offset] = id }
                    latencies.append(latency)
                case .success:
                    failures["wrong row count", default: 0] += 1
                case .failure(let error):
                    failures["\(error.code)", default: 0] += 1
                }
                if next < batches.count { add() }
            }
            return (predicted, latencies.sorted(), failures)
        }
        let seconds = Self.seconds(started.duration(to: clock.now))
        await client.close()
        let answered = predicted.compactMap { $0 }.count
        print("\(self.model) via \(self.target): \(batches.count) requests of \(self.rowsPerRequest) row(s), \(latencies.count) ok, \(failures.values.reduce(0, +)) failed; \(self.concurrency) in flight")
        if let truth {
            let correct = zip(predicted, truth).filter { $0.0 == $0.1 }.count
            print(String(format: "accuracy %.4f (%d of %d rows)", Double(correct) / Double(count), correct, count))
        }
        var baselineRate: Double?
        if let offline {
            do {
                let model = try Model(contentsOf: offline)
                var local: [Int64] = []
                for start in stride(from: 0, to: count, by: 256) {
                    let outputs = try model.run([NamedTensor(self.inputName, try rows.rows(start..<min(count, start + 256)))], outputNames: [self.outputName])
                    local += try Self.classIDs(outputs[0].tensor)
                }
                let agree = zip(predicted, local).filter { $0.0 == $0.1 }.count
                var line = "offline engine: \(agree) of \(count) predictions identical"
                if let truth {
                    let correct = zip(local, truth).filter { $0.0 == $0.1 }.count
                    line += String(format: ", offline accuracy %.4f", Double(correct) / Double(count))
                }
                print(line)
                if self.baseline {
                    let one = [NamedTensor(self.inputName, try rows.rows(0..<1))]
                    for _ in 0..<20 { _ = try model.run(one) }  // warm
                    let began = clock.now
                    for row in 0..<count { _ = try model.run([NamedTensor(self.inputName, try rows.rows(row..<(row + 1)))]) }
                    baselineRate = Double(count) / Self.seconds(began.duration(to: clock.now))
                    print(String(format: "in-process engine, one row at a time: %.0f rows/s", baselineRate!))
                }
            } catch {
                throw fail("infer", "offline run of \(offline) failed: \(error)")
            }
        }
        if !latencies.isEmpty {
            func ms(_ d: Duration) -> String { String(format: "%.3f ms", Self.seconds(d) * 1000) }
            func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            print(String(format: "throughput %.0f rows/s; latency p50 %@ p99 %@ max %@", Double(answered) / seconds,
                         ms(percentile(0.5)), ms(percentile(0.99)), ms(latencies.last!)))
        }
        for (status, n) in failures.sorted(by: { $0.key < $1.key }) { print("  \(n) × \(status)") }
        if self.summary {
            func ms(_ p: Double) -> String {
                latencies.isEmpty ? "nan" : String(format: "%.3f", Self.seconds(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) * 1000)
            }
            var line = String(format: "result rows_per_s=%.1f p50_ms=%@ p99_ms=%@ ok=%d failed=%d", Double(answered) / seconds, ms(0.5), ms(0.99),
                              latencies.count, failures.values.reduce(0, +))
            if let baselineRate { line += String(format: " baseline_rows_per_s=%.1f", baselineRate) }
            print(line)
        }
        if !failures.isEmpty { throw ExitCode.failure }
    }

    /// The rows of a .npy file, or seeded random f32 rows for `random:ROWS,COLUMNS`.
    static func rows(_ input: String) throws -> Tensor {
        guard input.hasPrefix("random:") else { return try NPY.read(input) }
        let parts = input.dropFirst(7).split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2, (1...1_000_000).contains(parts[0]), (1...1_000_000).contains(parts[1]), parts[0] * parts[1] <= 100_000_000 else {
            throw ValidationError("--input random:ROWS,COLUMNS needs two positive numbers (at most 100M values), got '\(input)'")
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let values = (0..<(parts[0] * parts[1])).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
        return try Tensor(values, shape: [parts[0], parts[1]])
    }

    /// Class ids from an output: ids as they are, or the argmax of each row of scores.
    static func classIDs(_ output: Tensor) throws -> [Int64] {
        guard output.dtype == .float32, output.shape.rank == 2 else { return try output.converted(to: .int64).scalars(as: Int64.self) }
        let scores = try output.scalars(as: Float.self)
        let classes = output.shape[1]
        return (0..<output.shape[0]).map { row in
            var best = 0
            for column in 0..<classes where scores[row * classes + column] > scores[row * classes + best] { best = column }
            return Int64(best)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
