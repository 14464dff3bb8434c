import Foundation
import SwitchyardEngine
import SwitchyardONNX
public import SwitchyardTensor

/// The range of values an activation takes on calibration data, after the chosen method clipped outliers.
public struct ActivationRange: Sendable, Codable, Equatable {
    /// The low end (at most 0 once quantized).
    public var low: Float
    /// The high end.
    public var high: Float

    /// Makes a range.
    /// - Parameters:
    ///   - low: the low end.
    ///   - high: the high end.
    public init(low: Float, high: Float) {
        self.low = low
        self.high = high
    }
}

/// Measures activations on calibration data by running the model in the engine with the wanted intermediate
/// values added as graph outputs.
public enum Calibrator {
    /// Histogram resolution for the percentile and entropy methods.
    static let bins = 2048

    /// Ranges of `tensors` over `data` (rows of the model's single input).
    /// - Parameters:
    ///   - model: the float model.
    ///   - tensors: value names to measure.
    ///   - data: calibration rows; the first dimension is the batch.
    ///   - method: min-max, percentile or entropy.
    ///   - percentile: for the percentile method.
    /// - Throws: `CompressionError.engine` when the engine cannot run the model on the data.
    public static func ranges(
        _ model: ONNXModel,
        tensors: [String],
        data: Tensor,
        method: QuantizationOptions.CalibrationMethod,
        percentile: Double = 99.99
    ) throws(CompressionError) -> [String: ActivationRange] {
        guard !tensors.isEmpty else { return [:] }
        let runner = try ActivationRunner(model, tensors: tensors)
        var low = [Float](repeating: .infinity, count: tensors.count)
        var high = [Float](repeating: -.infinity, count: tensors.count)
        try runner.forEachBatch(data) { index, values in
            for value in values where value.isFinite {
                low[index] = min(low[index], value)
                high[index] = max(high[index], value)
            }
        }
        for index in tensors.indices where low[index] > high[index] { (low[index], high[index]) = (0, 0) }
        var result: [String: ActivationRange] = [:]
        if method == .minMax {
            for (index, name) in tensors.enumerated() {
                result[name] = ActivationRange(low: low[index], high: high[index])
            }
            return result
        }
        // Second pass: a histogram of each tensor's values over its [low, high], and of |x| over [0, max |x|].
        var histograms = tensors.indices.map { _ in [Double](repeating: 0, count: Self.bins) }
        var absolute = tensors.indices.map { _ in [Double](repeating: 0, count: Self.bins) }
        try runner.forEachBatch(data) { index, values in
            let (lo, hi) = (low[index], high[index])
            let width = (hi - lo) / Float(Self.bins)
            let top = max(abs(lo), abs(hi))
            for value in values where value.isFinite {
                if width > 0 { histograms[index][min(Int((value - lo) / width), Self.bins - 1)] += 1 }
                if top > 0 { absolute[index][min(Int(abs(value) / top * Float(Self.bins)), Self.bins - 1)] += 1 }
            }
        }
        for (index, name) in tensors.enumerated() {
            let (lo, hi) = (low[index], high[index])
            switch method {
            case .percentile:
                let width = (hi - lo) / Float(Self.bins)
                let (first, last) = Self.percentileBins(histograms[index], percentile: percentile)
                result[name] = ActivationRange(
                    low: width > 0 ? lo + Float(first) * width : lo,
                    high: width > 0 ? lo + Float(last + 1) * width : hi
                )
            case .entropy:
                let top = max(abs(lo), abs(hi))
                let threshold = top > 0 ? Float(Self.entropyThreshold(absolute[index])) * top / Float(Self.bins) : 0
                result[name] = ActivationRange(low: max(lo, -threshold), high: min(hi, threshold))
            case .minMax:
                result[name] = ActivationRange(low: lo, high: hi)
            }
        }
        return result
    }

    /// The first and last bins inside the central `percentile` of the mass at each end.
    static func percentileBins(_ histogram: [Double], percentile: Double) -> (Int, Int) {
        let total = histogram.reduce(0, +)
        guard total > 0 else { return (0, histogram.count - 1) }
        let tail = total * (100 - percentile) / 100
        var seen = 0.0
        var first = 0
        while first < histogram.count - 1 && seen + histogram[first] <= tail {
            seen += histogram[first]
            first += 1
        }
        seen = 0
        var last = histogram.count - 1
        while last > first && seen + histogram[last] <= tail {
            seen += histogram[last]
            last -= 1
        }
        return (first, last)
    }

    /// The number of |x| histogram bins to keep, chosen (as TensorRT does) to minimise the KL divergence between the
    /// clipped distribution and its 128-level quantization.
    static func entropyThreshold(_ histogram: [Double]) -> Int {
        let levels = 128
        let count = histogram.count
        guard histogram.reduce(0, +) > 0 else { return count }
        var best = count
        var bestDivergence = Double.infinity
        for keep in stride(from: levels, through: count, by: 16) {
            var reference = Array(histogram[0..<keep])
            reference[keep - 1] += histogram[keep...].reduce(0, +)
            // Quantize the kept bins into `levels` groups, spreading each group's mass over its non-empty bins.
            var candidate = [Double](repeating: 0, count: keep)
            let perLevel = Double(keep) / Double(levels)
            for level in 0..<levels {
                let start = Int((Double(level) * perLevel).rounded(.down))
                let end = level == levels - 1 ? keep : Int((Double(level + 1) * perLevel).rounded(.down))
                guard end > start else { continue }
                var mass = 0.0
                var nonEmpty = 0
                for bin in start..<end where histogram[bin] > 0 {
                    mass += histogram[bin]
                    nonEmpty += 1
                }
                guard nonEmpty > 0 else { continue }
                for bin in start..<end where histogram[bin] > 0 { candidate[bin] = mass / Double(nonEmpty) }
            }
            let p = reference.reduce(0, +)
            let q = candidate.reduce(0, +)
            guard p > 0, q > 0 else { continue }
            var divergence = 0.0
            for bin in 0..<keep where reference[bin] > 0 {
                let pi = reference[bin] / p
                let qi = max(candidate[bin] / q, 1e-12)
                divergence += pi * log(pi / qi)
            }
            if divergence < bestDivergence {
                bestDivergence = divergence
                best = keep
            }
        }
        return best
    }
}

/// Runs a model with intermediate values exposed as outputs, batch by batch.
struct ActivationRunner {
    let model: Model
    let tensors: [String]
    let input: String

    init(_ onnx: ONNXModel, tensors: [String]) throws(CompressionError) {
        var proto = onnx.proto
        let existing = Set(proto.graph.output.map(\.name))
        for name in tensors where !existing.contains(name) {
            var info = Onnx_ValueInfoProto()
            info.name = name
            info.type.tensorType.elemType = 1
            proto.graph.output.append(info)
        }
        let augmented = ONNXModel(proto: proto, source: onnx.source)
        do {
            self.model = try Model(bytes: try augmented.serialized(), source: onnx.source)
        } catch let error as EngineError {
            throw CompressionError(
                .engine,
                "\(onnx.source): the engine cannot load the model: \(error.message)",
                cause: error
            )
        } catch {
            throw CompressionError(.engine, "\(onnx.source): \(error)", cause: error)
        }
        guard self.model.inputs.count == 1 else {
            throw CompressionError(
                .unsupportedModel,
                "\(onnx.source): models with \(self.model.inputs.count) inputs are not supported (one is)"
            )
        }
        self.input = self.model.inputs[0].name
        self.tensors = tensors
    }

    /// Calls `body(tensorIndex, values)` for each measured tensor of each batch of 64 rows.
    func forEachBatch(_ data: Tensor, _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws(CompressionError) {
        let rows = data.shape[0]
        var start = 0
        while start < rows {
            let end = min(start + 64, rows)
            do {
                let batch = try data.rows(start..<end)
                let outputs = try self.model.run([NamedTensor(self.input, batch)], outputNames: self.tensors)
                for (index, output) in outputs.enumerated() {
                    guard output.tensor.dtype == .float32 else { continue }
                    let values = try output.tensor.scalars(as: Float.self)
                    values.withUnsafeBufferPointer { body(index, $0) }
                }
            } catch let error as EngineError {
                throw CompressionError(.engine, "calibration run failed: \(error.message)", cause: error)
            } catch {
                throw CompressionError(.invalidData, "calibration data: \(error)", cause: error)
            }
            start = end
        }
    }
}
