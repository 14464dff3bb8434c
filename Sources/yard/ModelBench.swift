import ArgumentParser
import Foundation
import SwitchyardEngine
import SwitchyardTensor

/// `yard model bench`: a model's in-process latency and throughput on seeded random inputs.
struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a model in this process: rows/s and latency per batch size, on seeded random inputs.",
        discussion: """
            Each batch size runs 0.2 s of warm-up, then back-to-back calls for --seconds. Dynamic dimensions other \
            than the batch take --dim (default 1). Rates are batch / median latency (steady on a shared machine) \
            and batch × calls / time. The OpenBLAS core in use is printed first.
            """
    )

    @Argument(help: "The .onnx model file (or a repository model directory).")
    var path: String

    @Option(name: .long, help: "Batch sizes, comma-separated.")
    var batch = "1,64"

    @Option(name: .long, help: "Seconds to measure each batch size.")
    var seconds = 2.0

    @Option(name: .long, help: "OpenBLAS threads.")
    var threads = 1

    @Option(name: .long, help: "The size of dynamic dimensions other than the batch.")
    var dim = 1

    @Option(name: .long, help: "Write the measurements as JSON to this file.")
    var json: String?

    func validate() throws {
        guard self.seconds > 0 && self.seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be 1...256") }
        guard self.batches.count > 0, self.batches.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) else {
            throw ValidationError("--batch must be comma-separated sizes from 1 to 1048576")
        }
    }

    private var batches: [Int] {
        self.batch.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    func run() throws {
        try runReportingErrors("model bench") {
            BLAS.setThreadCount(self.threads)
            let path = resolveModelPath(self.path)
            let model = try Model(contentsOf: path)
            print("\(path): OpenBLAS core \(BLAS.coreSelection), \(self.threads) thread(s)")
            print("| batch | rows/s at p50 | rows/s | p50 µs | p99 µs | calls |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: |")
            var records: [[String: Any]] = []
            var generator = SplitMix(seed: 1)
            for batch in self.batches {
                let inputs = try model.inputs.map { input in
                    NamedTensor(input.name, try Self.random(input, batch: batch, dim: self.dim, &generator))
                }
                let (latencies, total) = try Self.measure(seconds: self.seconds) { _ = try model.run(inputs) }
                let sorted = latencies.sorted()
                let p50 = sorted[sorted.count / 2]
                let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * 0.99 + 0.5))]
                let rate = Double(batch * latencies.count) / total
                print(
                    String(
                        format: "| %d | %.0f | %.0f | %.1f | %.1f | %d |",
                        batch,
                        Double(batch) / p50,
                        rate,
                        p50 * 1e6,
                        p99 * 1e6,
                        latencies.count
                    )
                )
                records.append([
                    "batch": batch, "rows_per_s_p50": Double(batch) / p50, "rows_per_s": rate, "p50_us": p50 * 1e6,
                    "p99_us": p99 * 1e6, "threads": self.threads, "blas_core": BLAS.coreSelection.core,
                ])
            }
            if let json = self.json {
                let data = try JSONSerialization.data(withJSONObject: records, options: [.prettyPrinted, .sortedKeys])
                do {
                    try data.write(to: URL(fileURLWithPath: json))
                } catch {
                    throw EngineError(.io, "\(json): cannot write: \(error)")
                }
            }
        }
    }

    /// Calls `body` for `seconds` (at least 20 times) after 0.2 s of warm-up; returns each call's seconds and the
    /// total.
    static func measure(seconds: Double, _ body: () throws -> Void) rethrows -> ([Double], Double) {
        let clock = ContinuousClock()
        let warm = clock.now + .milliseconds(200)
        while clock.now < warm { try body() }
        var latencies: [Double] = []
        let start = clock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        while clock.now < end || latencies.count < 20 {
            let before = clock.now
            try body()
            latencies.append(Self.seconds(clock.now - before))
        }
        return (latencies, Self.seconds(clock.now - start))
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// Standard normal floats, small integers, random bools.
    static func random(_ input: TensorInfo, batch: Int, dim: Int, _ generator: inout SplitMix) throws -> Tensor {
        let dims = input.dims.enumerated().map { $0.element ?? ($0.offset == 0 ? batch : dim) }
        let count = dims.reduce(1, *)
        switch input.dtype {
        case .float32:
            return try Tensor((0..<count).map { _ in Float(generator.normal()) }, shape: Shape(dims))
        case .float64:
            return try Tensor((0..<count).map { _ in generator.normal() }, shape: Shape(dims))
        case .int64:
            return try Tensor((0..<count).map { _ in Int64(generator.next() % 4) }, shape: Shape(dims))
        case .int32:
            return try Tensor((0..<count).map { _ in Int32(generator.next() % 4) }, shape: Shape(dims))
        case .uint8, .int8, .bool:
            let bytes = (0..<count).map { _ in
                UInt8(truncatingIfNeeded: generator.next() % (input.dtype == .bool ? 2 : 256))
            }
            return try Tensor(dtype: input.dtype, shape: Shape(dims), data: ByteView(bytes))
        default:
            throw EngineError(
                .invalidInput,
                "input '\(input.name)' is \(input.dtype); bench makes no random \(input.dtype)"
            )
        }
    }
}

/// A small seeded generator (SplitMix64) so runs see the same inputs.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Box–Muller.
    mutating func normal() -> Double {
        let u = max(Double(self.next() >> 11) * 0x1p-53, 1e-300)
        let v = Double(self.next() >> 11) * 0x1p-53
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
