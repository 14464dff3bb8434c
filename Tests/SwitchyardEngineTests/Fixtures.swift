import Foundation
import SwitchyardEngine
import SwitchyardTensor

/// Paths of the committed fixtures (made by tools/*.py; no Python at test time).
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/SwitchyardEngineTests/Fixtures.swift -> repo
        return url.path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }
    static var ops: String { path("Tests/Fixtures/engine/ops") }
    static var digitsModel: String { path("models/digits/1/model.onnx") }
    static func digits(_ file: String) -> String { path("Tests/Fixtures/engine/digits/\(file)") }

    struct Case: Decodable, Sendable, CustomStringConvertible {
        var name: String
        var inputs: [String]
        var outputs: [String]
        var tolerance: Double
        var description: String { self.name }
    }

    struct Manifest: Decodable {
        var cases: [Case]
    }

    static let cases: [Case] = {
        guard let data = FileManager.default.contents(atPath: ops + "/cases.json"),
            let manifest = try? JSONDecoder().decode(Manifest.self, from: data)
        else { return [] }
        return manifest.cases
    }()

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "switchyard-engine-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Largest absolute difference between two tensors of the same dtype, NaNs and infinities compared exactly.
func maxDifference(_ actual: Tensor, _ expected: Tensor) throws -> Double {
    switch expected.dtype {
    case .float32:
        let a = try actual.scalars(as: Float.self)
        let b = try expected.scalars(as: Float.self)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            if x.isNaN || y.isNaN {
                if x.isNaN != y.isNaN { return .infinity }
                continue
            }
            if x.isInfinite || y.isInfinite {
                if x != y { return .infinity }
                continue
            }
            worst = max(worst, Double(abs(x - y)))
        }
        return worst
    case .float16:
        guard actual.dtype == .float16, actual.data.count == expected.data.count else { return .infinity }
        let count = expected.data.count / 2
        var worst = 0.0
        for index in 0..<count {
            let x = actual.data.withUnsafeBytes {
                Double(Float($0.loadUnaligned(fromByteOffset: index * 2, as: Float16.self)))
            }
            let y = expected.data.withUnsafeBytes {
                Double(Float($0.loadUnaligned(fromByteOffset: index * 2, as: Float16.self)))
            }
            if x.isNaN || y.isNaN { if x.isNaN != y.isNaN { return .infinity } else { continue } }
            worst = max(worst, abs(x - y))
        }
        return worst
    case .float64:
        let a = try actual.scalars(as: Double.self)
        let b = try expected.scalars(as: Double.self)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            if x.isNaN || y.isNaN || x.isInfinite || y.isInfinite {
                if !(x == y || (x.isNaN && y.isNaN)) { return .infinity }
                continue
            }
            worst = max(worst, abs(x - y))
        }
        return worst
    case .int64:
        return try actual.scalars(as: Int64.self) == expected.scalars(as: Int64.self) ? 0 : .infinity
    case .uint8:
        return try actual.scalars(as: UInt8.self) == expected.scalars(as: UInt8.self) ? 0 : .infinity
    case .bool:
        return actual.data == expected.data ? 0 : .infinity
    default:
        return actual.data == expected.data ? 0 : .infinity
    }
}
