// switchyard-bench-engine: the engine against bare cblas_sgemm calls of the same shapes, in one run.
//
//   swift build -c release --product switchyard-bench-engine
//   .build/release/switchyard-bench-engine --threads 1 [--seconds 1.5] [--batches 1,8,64,256] [--json out.json]
//   .build/release/switchyard-bench-engine --threads 1 --model resnet18.onnx [--batches 1,8] [--json out.json]
//     (the JSON has p50, mean and min latency, and CPU ms per run: process CPU time over the runs, steadier on a
//     shared host)
//     [--matmul onednn|openblas]   (where MatMul/Gemm with constant weights run)
//     [--split yes|no]   (data-dependent graphs: plan the nodes before the first data-dependent one, or run all eagerly)
//     [--conv onednn|im2col]   (where 2-D convolutions run: oneDNN, the default, or im2col over OpenBLAS)
//
// Preloaded with bench/malloc-count.c (LD_PRELOAD=malloc-count.so), --model also reports heap allocations per
// `Model.run` over 1000 calls (`allocations_per_run` in the JSON): a count that does not depend on the host's load.
//
// With --model, any ONNX file is timed on random inputs made the way tools/bench_models.py makes them for
// onnxruntime (floats in [-1, 1]; integer inputs 1 when their name says mask, else ids below 100).
// For each model and batch size it measures the engine's `Model.run` (input validation, plan lookup,
// kernels, output copy) and, as the ceiling, the model's GEMMs alone on preallocated buffers.
import COpenBLAS
import Foundation
import SwitchyardEngine
import SwitchyardTensor

struct Options {
    var threads = 1
    var seconds = 1.5
    var batches = [1, 8, 64, 256]
    var digits = "models/digits/1/model.onnx"
    var json: String? = nil
    var models = ["synth", "digits"]
    var skipBare = false
    var model: String? = nil
    var oneDNNConvolution = true
    var oneDNNMatMul = true
    var planStaticPrefix = true
    var channelsLast = true

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            let value = iterator.next() ?? ""
            switch argument {
            case "--threads": self.threads = Int(value) ?? 1
            case "--seconds": self.seconds = Double(value) ?? 1.5
            case "--batches": self.batches = value.split(separator: ",").compactMap { Int($0) }
            case "--digits": self.digits = value
            case "--json": self.json = value
            case "--models": self.models = value.split(separator: ",").map(String.init)
            case "--skip-bare": self.skipBare = value == "yes"
            case "--model": self.model = value
            case "--conv": self.oneDNNConvolution = value != "im2col"
            case "--matmul": self.oneDNNMatMul = value != "openblas"
            case "--split": self.planStaticPrefix = value != "no"
            case "--layout": self.channelsLast = value != "nchw"
            default:
                FileHandle.standardError.write(Data("unknown option \(argument)\n".utf8))
                exit(2)
            }
        }
    }
}

/// One GEMM of a model: C[M,N] = A[M,K] · op(B), with B stored transposed when `transB`.
struct Layer {
    var k: Int
    var n: Int
    var transB: Bool
}

struct Measurement {
    var iterations: Int
    var seconds: Double
    var latencies: [Double]  // seconds per call
    /// CPU seconds the process used while measuring (all threads): steadier than wall time on a shared host.
    var cpuSeconds: Double = 0

    var meanLatency: Double { self.seconds / Double(self.iterations) }
    func percentile(_ p: Double) -> Double {
        let sorted = self.latencies.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }
}

/// Calls `body` until `seconds` have passed (at least 20 times) after a short warm-up.
func measure(seconds: Double, _ body: () throws -> Void) rethrows -> Measurement {
    let clock = ContinuousClock()
    let warmUntil = clock.now + .milliseconds(200)
    while clock.now < warmUntil { try body() }
    var latencies: [Double] = []
    latencies.reserveCapacity(100_000)
    func processCPU() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }
    // One monotonic clock read per call, in nanoseconds: the harness's own cost per call (two ContinuousClock reads
    // and Duration's 128-bit arithmetic were ~0.1 µs) is counted in the CPU time per run, and it is not the engine's.
    func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
    let cpuStart = processCPU()
    let start = clock.now
    let first = nanoseconds()
    let end = first + UInt64(seconds * 1e9)
    var before = first
    while before < end || latencies.count < 20 {
        try body()
        let after = nanoseconds()
        latencies.append(Double(after - before) * 1e-9)
        before = after
    }
    let total = clock.now - start
    return Measurement(
        iterations: latencies.count,
        seconds: Double(total.components.seconds) + Double(total.components.attoseconds) * 1e-18, latencies: latencies,
        cpuSeconds: processCPU() - cpuStart)
}

/// The same GEMMs the model does, on buffers allocated once.
func bareGemm(_ layers: [Layer], batch: Int, seconds: Double) -> Measurement {
    var generator = SystemRandomNumberGenerator()
    let widest = layers.map { max($0.k, $0.n) }.max()!
    var activations = [[Float]](repeating: [], count: layers.count + 1)
    activations[0] = (0..<(batch * layers[0].k)).map { _ in Float.random(in: -1...1, using: &generator) }
    for (index, layer) in layers.enumerated() { activations[index + 1] = [Float](repeating: 0, count: batch * layer.n) }
    let weights = layers.map { layer in
        (0..<(layer.k * layer.n)).map { _ in Float.random(in: -0.05...0.05, using: &generator) }
    }
    _ = widest
    return measure(seconds: seconds) {
        for (index, layer) in layers.enumerated() {
            activations[index].withUnsafeBufferPointer { a in
                weights[index].withUnsafeBufferPointer { b in
                    activations[index + 1].withUnsafeMutableBufferPointer { c in
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, layer.transB ? CblasTrans : CblasNoTrans, Int32(batch),
                            Int32(layer.n), Int32(layer.k), 1, a.baseAddress, Int32(layer.k), b.baseAddress,
                            Int32(layer.transB ? layer.k : layer.n), 0, c.baseAddress, Int32(layer.n))
                    }
                }
            }
        }
    }
}

func engine(_ model: Model, batch: Int, seconds: Double) throws -> Measurement {
    let input = model.inputs[0]
    let features = input.dims.dropFirst().map { $0! }.reduce(1, *)
    var generator = SystemRandomNumberGenerator()
    let values = (0..<(batch * features)).map { _ in Float.random(in: 0...16, using: &generator) }
    let tensor = NamedTensor(input.name, try Tensor(values, shape: Shape([batch] + input.dims.dropFirst().map { $0! })))
    _ = try model.run([tensor])
    return try measure(seconds: seconds) { _ = try model.run([tensor]) }
}

/// Random inputs for any model: dynamic dimensions past the batch become 128 (a sequence) unless declared.
func inputs(for model: Model, batch: Int) throws -> [NamedTensor] {
    var generator = SystemRandomNumberGenerator()
    return try model.inputs.map { input in
        // A first dimension the model fixes (an image without a batch axis) stays as declared.
        let dims = input.dims.enumerated().map { $0.offset == 0 ? ($0.element ?? batch) : ($0.element ?? 128) }
        let count = dims.reduce(1, *)
        let tensor: Tensor
        switch input.dtype {
        case .int64:
            let mask = input.name.lowercased().contains("mask")
            tensor = try Tensor((0..<count).map { _ in mask ? Int64(1) : Int64.random(in: 0..<100, using: &generator) }, shape: Shape(dims))
        default:
            tensor = try Tensor((0..<count).map { _ in Float.random(in: -1...1, using: &generator) }, shape: Shape(dims))
        }
        return NamedTensor(input.name, tensor)
    }
}

let options = Options(CommandLine.arguments)
BLAS.setThreadCount(options.threads)
/// This process's resident memory in bytes (Linux /proc/self/statm).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

/// Heap allocations per call of `body` over `calls` calls, when bench/malloc-count.c is preloaded; else `nil`.
func allocationsPerCall(calls: Int = 1000, _ body: () throws -> Void) rethrows -> Double? {
    typealias Counter = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> Void
    guard let symbol = dlsym(nil, "sy_malloc_count") else { return nil }
    let counter = unsafeBitCast(symbol, to: Counter.self)
    var (before, after, bytes) = (UInt64(0), UInt64(0), UInt64(0))
    counter(&before, &bytes)
    for _ in 0..<calls { try body() }
    counter(&after, &bytes)
    return Double(after - before) / Double(calls)
}

if let path = options.model {
    let model = try Model(
        contentsOf: path,
        options: .defaults {
            $0.oneDNNConvolution = options.oneDNNConvolution
            $0.oneDNNMatMul = options.oneDNNMatMul
            $0.planStaticPrefix = options.planStaticPrefix
            $0.channelsLast = options.channelsLast
        })
    var records: [[String: Any]] = []
    print(
        "OpenBLAS: \(BLAS.configuration); threads: \(BLAS.threadCount); convolutions: "
            + (options.oneDNNConvolution ? BLAS.convolutions : "im2col over OpenBLAS") + "; GEMMs with constant weights: "
            + (options.oneDNNMatMul ? "oneDNN matmul" : "OpenBLAS") + "; images between convolutions: "
            + (options.channelsLast && options.oneDNNConvolution ? "channels-last" : "NCHW"))
    _ = try model.run(try inputs(for: model, batch: 1))
    let weights = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    print("resident after load and one batch-1 run: \(residentBytes() >> 20) MiB; model file \(weights >> 20) MiB")
    print("| model | batch | engine p50 ms | engine p90 ms | engine mean ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for batch in options.batches {
        let feeds = try inputs(for: model, batch: batch)
        _ = try model.run(feeds)
        let result = try measure(seconds: options.seconds) { _ = try model.run(feeds) }
        let allocations = try allocationsPerCall { _ = try model.run(feeds) }
        let name = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
        print(
            "| \(name) | \(batch) | \(String(format: "%.2f", result.percentile(0.5) * 1e3)) | \(String(format: "%.2f", result.percentile(0.9) * 1e3)) | \(String(format: "%.2f", result.meanLatency * 1e3)) |"
        )
        records.append([
            "model": name, "batch": batch, "threads": options.threads, "engine_p50_ms": result.percentile(0.5) * 1e3,
            "engine_mean_ms": result.meanLatency * 1e3, "engine_min_ms": (result.latencies.min() ?? 0) * 1e3,
            "engine_cpu_ms": result.cpuSeconds / Double(result.iterations) * 1e3, "iterations": result.iterations,
        ])
        if let allocations {
            print("heap allocations per run at batch \(batch): \(String(format: "%.2f", allocations))")
            records[records.count - 1]["allocations_per_run"] = allocations
        }
    }
    if let json = options.json {
        try JSONSerialization.data(withJSONObject: records, options: [.prettyPrinted, .sortedKeys]).write(
            to: URL(fileURLWithPath: json))
    }
    exit(0)
}
let synthLayers = [784, 512, 512, 10]
let mlpOptions = ModelOptions.defaults { $0.oneDNNMatMul = options.oneDNNMatMul }
let synth = try Model(
    bytes: try ModelSynthesizer(layers: synthLayers, seed: 1).serialized(), source: "synth 784-512-512-10",
    options: mlpOptions)
let digits = try Model(contentsOf: options.digits, options: mlpOptions)
let models: [(name: String, model: Model, layers: [Layer])] = [
    // The engine stores Gemm(transB=1) weights as [K,N] at load; the ceiling uses that faster layout too.
    (
        "synth 784-512-512-10", synth,
        zip(synthLayers, synthLayers.dropFirst()).map { Layer(k: $0, n: $1, transB: false) }
    ),
    (
        "digits 64-128-64-10", digits,
        [
            Layer(k: 64, n: 128, transB: false), Layer(k: 128, n: 64, transB: false),
            Layer(k: 64, n: 10, transB: false),
        ]
    ),
]

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

print(
    "OpenBLAS: \(BLAS.configuration); threads: \(BLAS.threadCount); \(ProcessInfo.processInfo.activeProcessorCount) CPUs"
)
print("OpenBLAS core: \(BLAS.coreSelection)")
print("")
print(
    "| model | batch | engine rows/s | engine rows/s at p50 | engine p50 µs | engine p99 µs | bare sgemm rows/s at p50 | bare p50 µs | engine / bare (p50) |"
)
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
var records: [[String: Any]] = []
for entry in models where options.models.contains(where: { entry.name.hasPrefix($0) }) {
    for batch in options.batches {
        let ours = try engine(entry.model, batch: batch, seconds: options.seconds)
        let ceiling = options.skipBare ? ours : bareGemm(entry.layers, batch: batch, seconds: options.seconds)
        // Mean throughput suffers from anything else running on the machine; the p50-based rate
        // (batch / median latency) is the steadier figure on a shared machine. Both are reported.
        let oursRate = Double(batch) / ours.meanLatency
        let oursMedianRate = Double(batch) / ours.percentile(0.5)
        let ceilingMedianRate = Double(batch) / ceiling.percentile(0.5)
        print(
            "| \(entry.name) | \(batch) | \(format(oursRate, 0)) | \(format(oursMedianRate, 0)) | \(format(ours.percentile(0.5) * 1e6)) | \(format(ours.percentile(0.99) * 1e6)) | \(format(ceilingMedianRate, 0)) | \(format(ceiling.percentile(0.5) * 1e6)) | \(format(oursMedianRate / ceilingMedianRate, 3)) |"
        )
        records.append([
            "model": entry.name, "batch": batch, "threads": options.threads, "engine_rows_per_s": oursRate,
            "engine_rows_per_s_p50": oursMedianRate, "engine_p50_us": ours.percentile(0.5) * 1e6,
            "engine_p99_us": ours.percentile(0.99) * 1e6, "bare_rows_per_s_p50": ceilingMedianRate,
            "bare_p50_us": ceiling.percentile(0.5) * 1e6, "blas_core": BLAS.coreSelection.core,
            "blas_library_core": BLAS.coreSelection.libraryCore,
        ])
    }
}
if let path = options.json {
    let data = try JSONSerialization.data(withJSONObject: records, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
}
