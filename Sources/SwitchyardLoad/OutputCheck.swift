import SwitchyardTensor
public import SwitchyardWire

/// Compares each answer with the expected output of its rows (`yard load --validate`).
public struct OutputCheck: Sendable {
    /// What each input row should produce.
    public enum Expected: Sendable {
        /// One class id per row; the output holds ids, or scores whose argmax per row is taken.
        case classIDs([Int64])
        /// `width` values per row, equal to the output's within `tolerance`.
        case values([Float], width: Int, tolerance: Float)
    }

    public let expected: Expected
    /// The output compared; `nil` takes the response's first tensor.
    public let outputName: String?

    /// Makes a check.
    /// - Parameters:
    ///   - expected: the expected output per input row, in input order.
    ///   - outputName: the output to compare (`nil`: the first).
    ///   - rowCount: the number of input rows, which `expected` must match.
    /// - Throws: ``LoadError`` when `expected` does not have one entry per input row.
    public init(expected: Expected, outputName: String?, rowCount: Int) throws(LoadError) {
        let count: Int
        switch expected {
        case .classIDs(let ids): count = ids.count
        case .values(let values, let width, _):
            guard width > 0, values.count % width == 0 else {
                throw LoadError(.invalidInput, "expected values must be whole rows of \(width)")
            }
            count = values.count / width
        }
        guard count == rowCount else {
            throw LoadError(.invalidInput, "the expected outputs have \(count) rows for \(rowCount) input rows")
        }
        self.expected = expected
        self.outputName = outputName
    }

    /// Checks the rows `first ..< first + count` (cycling at the end of the input) against `response`.
    /// - Returns: how many rows differ, and a description of the first that does.
    public func compare(_ response: Response, firstRow first: Int, count: Int) -> (mismatched: Int, example: String?) {
        let named = self.outputName.map { name in response.tensors.first { $0.name == name } } ?? response.tensors.first
        guard let output = named?.tensor else {
            return (count, "no output '\(self.outputName ?? "(any)")' in the answer")
        }
        guard output.shape.rank >= 1, output.shape[0] == count else {
            return (count, "output shape \(output.shape) for \(count) row(s)")
        }
        var mismatched = 0
        var example: String?
        switch self.expected {
        case .classIDs(let ids):
            guard let got = Self.classIDs(output) else { return (count, "output \(output.dtype) holds no class ids") }
            for offset in 0..<count {
                let row = (first + offset) % ids.count
                if got[offset] != ids[row] {
                    mismatched += 1
                    if example == nil { example = "row \(row): expected \(ids[row]), got \(got[offset])" }
                }
            }
        case .values(let values, let width, let tolerance):
            guard let got = Self.floats(output), got.count == count * width else {
                return (count, "output \(output.dtype)\(output.shape) is not \(count)×\(width) numbers")
            }
            let rows = values.count / width
            for offset in 0..<count {
                let row = (first + offset) % rows
                var worst: Float = 0
                for column in 0..<width {
                    let difference = abs(got[offset * width + column] - values[row * width + column])
                    worst = difference.isNaN ? .infinity : max(worst, difference)
                }
                if worst > tolerance {
                    mismatched += 1
                    if example == nil { example = "row \(row): differs by \(worst) (tolerance \(tolerance))" }
                }
            }
        }
        return (mismatched, example)
    }

    /// Class ids from an output: integers as they are, or the argmax of each row of f32 scores.
    static func classIDs(_ output: Tensor) -> [Int64]? {
        if output.dtype == .float32, output.shape.rank == 2, output.shape[1] > 0 {
            guard let scores = try? output.scalars(as: Float.self) else { return nil }
            let classes = output.shape[1]
            return (0..<output.shape[0]).map { row in
                var best = 0
                for column in 1..<classes where scores[row * classes + column] > scores[row * classes + best] {
                    best = column
                }
                return Int64(best)
            }
        }
        switch output.dtype {
        case .int64: return try? output.scalars(as: Int64.self)
        case .int32: return (try? output.scalars(as: Int32.self))?.map(Int64.init)
        case .uint8: return (try? output.scalars(as: UInt8.self))?.map(Int64.init)
        case .int8: return (try? output.scalars(as: Int8.self))?.map(Int64.init)
        default: return nil
        }
    }

    static func floats(_ output: Tensor) -> [Float]? {
        switch output.dtype {
        case .float32: return try? output.scalars(as: Float.self)
        case .float64: return (try? output.scalars(as: Double.self))?.map(Float.init)
        default: return Self.classIDs(output)?.map(Float.init)
        }
    }
}
