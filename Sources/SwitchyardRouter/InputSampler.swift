import Foundation
import Metrics
import Synchronization
public import SwitchyardTensor

/// Samples the inputs and predicted classes of answered requests, for the monitor's drift detection.
///
/// The router offers every answered request; a fraction (``rate``) is kept, at most ``limit`` rows per model version
/// between two reports, so the cost on the request path is one random number for most requests and a copy of one
/// request's rows for the sampled ones. Rows over the limit are dropped and counted
/// (`switchyard_drift_samples_dropped_total`). The monitor reporter takes the rows (``drain()``) with each report.
public final class InputSampler: Sendable {
    struct Batch {
        var features: Int
        var inputs: [Float] = []
        var classes: [Int64] = []
        var rows: Int { self.classes.count }
    }

    private struct State {
        var rate = 0.0
        var limit = 256
        var batches: [String: Batch] = [:]
    }

    private let state = Mutex(State())
    private let dropped = Counter(label: "switchyard_drift_samples_dropped_total")

    /// Makes a sampler that keeps nothing until ``configure(rate:limit:)``.
    public init() {}

    /// Sets the fraction of requests sampled and the rows kept per model version between two reports.
    /// - Parameters:
    ///   - rate: 0 (off) ... 1 (every request).
    ///   - limit: rows per model version per report.
    public func configure(rate: Double, limit: Int) {
        self.state.withLock {
            $0.rate = min(max(rate, 0), 1)
            $0.limit = max(limit, 1)
        }
    }

    /// Whether sampling is on.
    public var isEnabled: Bool { self.state.withLock { $0.rate > 0 } }

    /// Offers an answered request: its first input tensor (rows × features, numeric) and the inference stage's
    /// outputs (a label tensor with one integer per row, or scores with the class as the row's largest value).
    /// - Parameters:
    ///   - model: the model name.
    ///   - version: the version that answered.
    ///   - inputs: the request's tensors as the client sent them.
    ///   - outputs: the inference stage's tensors.
    public func offer(model: String, version: String, inputs: [NamedTensor], outputs: [NamedTensor]) {
        let rate = self.state.withLock { $0.rate }
        guard rate > 0, rate >= 1 || Double.random(in: 0..<1) < rate else { return }
        guard let input = inputs.first?.tensor, let (rows, features, values) = Self.matrix(input), rows > 0,
            let classes = Self.classes(outputs, rows: rows)
        else { return }
        let key = model + "\u{1F}" + version
        let overflow = self.state.withLock { state -> Int in
            var batch = state.batches[key] ?? Batch(features: features)
            guard batch.features == features else { return rows }
            let room = max(0, state.limit - batch.rows)
            let taken = min(room, rows)
            batch.inputs += values.prefix(taken * features)
            batch.classes += classes.prefix(taken)
            state.batches[key] = batch
            return rows - taken
        }
        if overflow > 0 { self.dropped.increment(by: overflow) }
    }

    /// Takes the rows sampled since the last call, as tensors named `inputs/<model>/<version>` (f32, rows × features)
    /// and `classes/<model>/<version>` (i64, rows).
    public func drain() -> [NamedTensor] {
        let batches = self.state.withLock { state in
            defer { state.batches = [:] }
            return state.batches
        }
        var tensors: [NamedTensor] = []
        for (key, batch) in batches.sorted(by: { $0.key < $1.key }) where batch.rows > 0 {
            let name = key.replacingOccurrences(of: "\u{1F}", with: "/")
            guard let inputs = try? Tensor(batch.inputs, shape: [batch.rows, batch.features]),
                let classes = try? Tensor(batch.classes, shape: [batch.rows])
            else { continue }
            tensors += [NamedTensor("inputs/\(name)", inputs), NamedTensor("classes/\(name)", classes)]
        }
        return tensors
    }

    static func matrix(_ tensor: Tensor) -> (Int, Int, [Float])? {
        let dimensions = tensor.shape.dims
        guard let rows = dimensions.first, rows > 0 else { return nil }
        let features = dimensions.dropFirst().reduce(1, *)
        guard features > 0, features <= 4096 else { return nil }  // images are not profiled per pixel
        let values: [Float]?
        switch tensor.dtype {
        case .float32: values = try? tensor.scalars(as: Float.self)
        case .float64: values = (try? tensor.scalars(as: Double.self))?.map { Float($0) }
        case .uint8: values = (try? tensor.scalars(as: UInt8.self))?.map { Float($0) }
        case .int8: values = (try? tensor.scalars(as: Int8.self))?.map { Float($0) }
        case .int32: values = (try? tensor.scalars(as: Int32.self))?.map { Float($0) }
        case .int64: values = (try? tensor.scalars(as: Int64.self))?.map { Float($0) }
        default: values = nil
        }
        guard let values, values.count == rows * features else { return nil }
        return (rows, features, values)
    }

    static func classes(_ outputs: [NamedTensor], rows: Int) -> [Int64]? {
        for output in outputs where output.tensor.elementCount == rows {
            switch output.tensor.dtype {
            case .int64: return try? output.tensor.scalars(as: Int64.self)
            case .int32: return (try? output.tensor.scalars(as: Int32.self))?.map { Int64($0) }
            default: continue
            }
        }
        for output in outputs where output.tensor.dtype == .float32 && output.tensor.shape.dims.first == rows {
            guard let scores = try? output.tensor.scalars(as: Float.self), scores.count % rows == 0 else { continue }
            let width = scores.count / rows
            return (0..<rows).map { row in
                let slice = scores[(row * width)..<((row + 1) * width)]
                return Int64(slice.indices.max { slice[$0] < slice[$1] }! - row * width)
            }
        }
        return nil
    }
}
