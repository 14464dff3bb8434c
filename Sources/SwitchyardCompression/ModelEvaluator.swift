import Foundation
public import SwitchyardEngine
public import SwitchyardTensor

/// Rows to judge a model on: inputs, and true labels when there are any.
public struct EvaluationData: Sendable {
    /// The model's single input, rows along the first dimension.
    public var inputs: Tensor
    /// One true class per row, or `nil` (then models are compared with the original, top-1 agreement).
    public var labels: [Int]?

    /// Makes a data set.
    /// - Parameters:
    ///   - inputs: the input rows.
    ///   - labels: the true classes, one per row.
    /// - Throws: `CompressionError.invalidData` when the counts differ or there are no rows.
    public init(inputs: Tensor, labels: [Int]?) throws(CompressionError) {
        guard inputs.shape.rank >= 1, inputs.shape[0] > 0 else {
            throw CompressionError(.invalidData, "the data has no rows")
        }
        if let labels, labels.count != inputs.shape[0] {
            throw CompressionError(.invalidData, "\(inputs.shape[0]) input rows but \(labels.count) labels")
        }
        self.inputs = inputs
        self.labels = labels
    }

    /// Reads `X.npy` (and `Y.npy`, integer classes) as the engine reads them.
    /// - Parameters:
    ///   - inputs: the inputs file.
    ///   - labels: the labels file, if any.
    /// - Throws: `CompressionError.invalidData` for unreadable or mismatched files.
    public static func read(inputs: String, labels: String?) throws(CompressionError) -> EvaluationData {
        do {
            let x = try NPY.read(inputs)
            let xs = x.dtype == .float64 ? try x.converted(to: .float32) : x
            var classes: [Int]? = nil
            if let labels {
                let y = try NPY.read(labels)
                switch y.dtype {
                case .int64: classes = try y.scalars(as: Int64.self).map { Int($0) }
                case .int32: classes = try y.scalars(as: Int32.self).map { Int($0) }
                case .uint8: classes = try y.scalars(as: UInt8.self).map { Int($0) }
                default: throw CompressionError(.invalidData, "\(labels): labels must be integers, not \(y.dtype)")
                }
            }
            return try EvaluationData(inputs: xs, labels: classes)
        } catch let error as CompressionError {
            throw error
        } catch let error as EngineError {
            throw CompressionError(.invalidData, error.message, cause: error)
        } catch {
            throw CompressionError(.invalidData, "\(error)", cause: error)
        }
    }

    /// The first `count` rows.
    public func prefix(_ count: Int) throws(CompressionError) -> EvaluationData {
        let rows = min(count, self.inputs.shape[0])
        do {
            return try EvaluationData(
                inputs: try self.inputs.rows(0..<rows),
                labels: self.labels.map { Array($0.prefix(rows)) }
            )
        } catch let error as CompressionError {
            throw error
        } catch {
            throw CompressionError(.invalidData, "\(error)", cause: error)
        }
    }
}

/// A model's answers on evaluation data: the top-1 class per row, and the scores behind it when it has them.
public struct Predictions: Sendable {
    /// The top-1 class of each row.
    public var classes: [Int]
    /// The float output row by row (flattened), when the judged output is a float tensor.
    public var scores: [Float]?
}

/// Loads models into the engine and judges them: predictions, accuracy, agreement, latency.
public enum ModelEvaluator {
    /// Loads a model's bytes into the engine.
    /// - Throws: `CompressionError.engine` with the engine's message.
    public static func load(_ model: ONNXModel) throws(CompressionError) -> Model {
        do {
            return try Model(bytes: try model.serialized(), source: model.source)
        } catch let error as CompressionError {
            throw error
        } catch let error as EngineError {
            throw CompressionError(.engine, "the engine cannot load \(model.source): \(error.message)", cause: error)
        } catch {
            throw CompressionError(.engine, "\(error)", cause: error)
        }
    }

    /// The output judged for classes: `name` when given, else the first integer output of one dimension (a label),
    /// else the first float output.
    public static func judgedOutput(_ model: Model, name: String?) throws(CompressionError) -> String {
        if let name {
            guard model.outputs.contains(where: { $0.name == name }) else {
                let known = model.outputs.map(\.name).joined(separator: ", ")
                throw CompressionError(.invalidArgument, "the model has no output '\(name)' (outputs: \(known))")
            }
            return name
        }
        if let label = model.outputs.first(where: { ($0.dtype == .int64 || $0.dtype == .int32) && $0.dims.count == 1 })
        {
            return label.name
        }
        if let scores = model.outputs.first(where: { $0.dtype == .float32 }) { return scores.name }
        throw CompressionError(.unsupportedModel, "the model has no label or float output to judge")
    }

    /// Runs every row in batches of 64 and takes the top-1 class of each.
    public static func predict(
        _ model: Model,
        _ data: EvaluationData,
        output: String
    ) throws(CompressionError) -> Predictions {
        guard model.inputs.count == 1 else {
            throw CompressionError(
                .unsupportedModel,
                "models with \(model.inputs.count) inputs are not supported (one is)"
            )
        }
        let input = model.inputs[0].name
        let rows = data.inputs.shape[0]
        var classes: [Int] = []
        var scores: [Float]? = []
        var start = 0
        do {
            while start < rows {
                let end = min(start + 64, rows)
                let result = try model.run(
                    [NamedTensor(input, try data.inputs.rows(start..<end))],
                    outputNames: [output]
                )
                let tensor = result[0].tensor
                switch tensor.dtype {
                case .int64:
                    classes += try tensor.scalars(as: Int64.self).map { Int($0) }
                    scores = nil
                case .int32:
                    classes += try tensor.scalars(as: Int32.self).map { Int($0) }
                    scores = nil
                case .float32:
                    let values = try tensor.scalars(as: Float.self)
                    let width = values.count / max(end - start, 1)
                    for row in 0..<(end - start) {
                        var best = 0
                        for column in 1..<max(width, 1) where values[row * width + column] > values[row * width + best]
                        {
                            best = column
                        }
                        classes.append(best)
                    }
                    scores? += values
                default:
                    throw CompressionError(
                        .unsupportedModel,
                        "output '\(output)' is \(tensor.dtype); a class or float output is needed"
                    )
                }
                start = end
            }
        } catch let error as CompressionError {
            throw error
        } catch let error as EngineError {
            throw CompressionError(.engine, "running \(model.source): \(error.message)", cause: error)
        } catch {
            throw CompressionError(.invalidData, "\(error)", cause: error)
        }
        return Predictions(classes: classes, scores: scores)
    }

    /// The share of rows where two sets of classes agree.
    public static func agreement(_ a: [Int], _ b: [Int]) -> Double {
        guard !a.isEmpty, a.count == b.count else { return 0 }
        return Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
    }

    /// Median latency and throughput of `model` at `batch` rows (taken from `data`, repeated to fill the batch) over
    /// `seconds`, after a short warm-up.
    public static func latency(
        _ model: Model,
        _ data: EvaluationData,
        batch: Int,
        seconds: Double
    ) throws(CompressionError) -> LatencyMeasurement {
        let input = model.inputs[0].name
        let available = data.inputs.shape[0]
        do {
            var parts: [Tensor] = []
            var have = 0
            while have < batch {
                let take = min(batch - have, available)
                parts.append(try data.inputs.rows(0..<take))
                have += take
            }
            let rows = parts.count == 1 ? parts[0] : try Tensor.concatenatingRows(parts)
            let inputs = [NamedTensor(input, rows)]
            let clock = ContinuousClock()
            let warm = clock.now + .milliseconds(100)
            while clock.now < warm { _ = try model.run(inputs) }
            var latencies: [Double] = []
            let start = clock.now
            let end = start + .milliseconds(Int(seconds * 1000))
            while clock.now < end || latencies.count < 10 {
                let before = clock.now
                _ = try model.run(inputs)
                let elapsed = clock.now - before
                latencies.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            }
            latencies.sort()
            let p50 = latencies[latencies.count / 2]
            return LatencyMeasurement(
                batch: batch,
                p50Microseconds: p50 * 1e6,
                rowsPerSecond: Double(batch) / p50,
                calls: latencies.count
            )
        } catch let error as EngineError {
            throw CompressionError(.engine, "timing \(model.source): \(error.message)", cause: error)
        } catch {
            throw CompressionError(.invalidData, "\(error)", cause: error)
        }
    }
}
