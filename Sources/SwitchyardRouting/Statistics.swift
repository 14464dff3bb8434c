/// The statistics the rollout gates and the A/B comparisons need, without a numerics dependency: confidence
/// sequences and always-valid p-values (`Statistics+Sequential.swift`), and the elementary functions they use.
public enum Statistics {
    /// e^x by range reduction and a series, so that this module needs no C library import.
    static func exp(_ x: Double) -> Double {
        guard x > -700 else { return 0 }
        guard x < 700 else { return .infinity }
        let k = (x / 0.6931471805599453).rounded(.down)
        let r = x - k * 0.6931471805599453
        var term = 1.0
        var sum = 1.0
        for n in 1...20 {
            term *= r / Double(n)
            sum += term
        }
        return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
    }
}
