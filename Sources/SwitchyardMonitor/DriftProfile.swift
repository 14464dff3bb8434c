import Foundation

/// What a model version's inputs and predictions looked like on its training data: per-feature histograms with
/// bins cut at the data's deciles, and the predicted-class distribution. Written by `yard profile` as
/// `profile.json` beside the version's `model.onnx`; the monitor compares live samples with it.
public struct DriftProfile: Codable, Sendable, Equatable {
    /// One feature's reference histogram.
    public struct Feature: Codable, Sendable, Equatable {
        /// Upper bin edges, ascending: a value goes in the first bin whose edge is at least the value, or in the
        /// last bin (one more than there are edges).
        public var edges: [Float]
        /// The share of reference rows in each bin (`edges.count + 1` bins).
        public var proportions: [Double]
    }

    /// The model's name.
    public var model: String
    /// The model version.
    public var version: String
    /// Rows the profile was made from.
    public var rows: Int
    /// The features, in input order.
    public var features: [Feature]
    /// Share of reference rows predicted as each class (index = class id).
    public var classes: [Double]

    /// File name of a profile beside a version's model.
    public static let fileName = "profile.json"

    /// Builds a profile.
    /// - Parameters:
    ///   - model: the model's name.
    ///   - version: its version.
    ///   - inputs: the reference rows, row-major, `rows × features`.
    ///   - features: values per row.
    ///   - classes: the model's predicted class of each row.
    ///   - bins: bins per feature at most (fewer when values repeat).
    /// - Throws: `DriftError` when there are no rows or the counts disagree.
    public init(model: String, version: String, inputs: [Float], features: Int, classes: [Int64], bins: Int = 10) throws
    {
        guard features > 0, !inputs.isEmpty, inputs.count % features == 0 else {
            throw DriftError("the reference data must be rows × \(features) values; got \(inputs.count) values")
        }
        let rows = inputs.count / features
        guard classes.count == rows else { throw DriftError("\(rows) rows but \(classes.count) predictions") }
        self.model = model
        self.version = version
        self.rows = rows
        self.features = (0..<features).map { feature in
            let column = (0..<rows).map { inputs[$0 * features + feature] }.sorted()
            var edges: [Float] = []
            for step in 1..<bins {
                let edge = column[min(rows - 1, step * rows / bins)]
                if edges.last.map({ edge > $0 }) ?? true { edges.append(edge) }
            }
            if edges.last == column.last { edges.removeLast() }  // the top bin holds the maximum
            var counts = [Double](repeating: 0, count: edges.count + 1)
            for value in column { counts[Self.bin(value, edges: edges)] += 1 }
            return Feature(edges: edges, proportions: counts.map { $0 / Double(rows) })
        }
        let width = Int(classes.max().map { max($0, 0) } ?? 0) + 1
        var counts = [Double](repeating: 0, count: width)
        for label in classes where label >= 0 { counts[Int(label)] += 1 }
        self.classes = counts.map { $0 / Double(rows) }
    }

    static func bin(_ value: Float, edges: [Float]) -> Int {
        var low = 0
        var high = edges.count
        while low < high {
            let middle = (low + high) / 2
            if edges[middle] >= value { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Population stability index of `observed` against `expected` proportions: Σ (o − e) · ln(o / e), with each
    /// share floored at 0.0001 so that an empty bin does not make it infinite. Below 0.1 is usually read as stable,
    /// 0.1–0.25 as a moderate shift, above 0.25 as a major one.
    public static func psi(expected: [Double], observed: [Double]) -> Double {
        let floor = 0.0001
        var total = 0.0
        for index in 0..<max(expected.count, observed.count) {
            let e = max(index < expected.count ? expected[index] : 0, floor)
            let o = max(index < observed.count ? observed[index] : 0, floor)
            total += (o - e) * log(o / e)
        }
        return total
    }

    /// Compares live rows with the profile.
    /// - Parameters:
    ///   - inputs: live rows, row-major.
    ///   - classes: their predicted classes.
    /// - Returns: PSI per feature and of the predicted classes; `nil` when the row width differs from the profile's.
    public func compare(inputs: [Float], classes: [Int64]) -> (features: [Double], prediction: Double)? {
        let width = self.features.count
        guard width > 0, inputs.count % width == 0, !classes.isEmpty else { return nil }
        let rows = inputs.count / width
        let features = self.features.enumerated().map { feature, reference in
            var counts = [Double](repeating: 0, count: reference.proportions.count)
            for row in 0..<rows { counts[Self.bin(inputs[row * width + feature], edges: reference.edges)] += 1 }
            return Self.psi(expected: reference.proportions, observed: counts.map { $0 / Double(rows) })
        }
        let classWidth = max(self.classes.count, Int(classes.max() ?? 0) + 1)
        var counts = [Double](repeating: 0, count: classWidth)
        for label in classes where label >= 0 { counts[Int(label)] += 1 }
        let prediction = Self.psi(expected: self.classes, observed: counts.map { $0 / Double(classes.count) })
        return (features, prediction)
    }

    /// Reads a profile file.
    /// - Throws: `DriftError` when it cannot be read or decoded.
    public static func read(_ path: String) throws -> DriftProfile {
        do {
            return try JSONDecoder().decode(DriftProfile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw DriftError("cannot read the drift profile \(path): \(error)")
        }
    }

    /// Writes the profile as JSON.
    /// - Throws: `DriftError` when it cannot be written.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DriftError("cannot write the drift profile \(path): \(error)")
        }
    }
}

/// A drift profile that cannot be made, read or used.
public struct DriftError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String

    /// Makes an error.
    public init(_ message: String) { self.message = message }

    public var description: String { self.message }
}
