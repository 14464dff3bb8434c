import Foundation

/// Number formatting shared by the table, the CSV and the plot.
public enum LoadFormat {
    /// Seconds in a duration, as a floating-point number.
    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// A number without needless decimals: `500`, `12.5`, `0.125`.
    public static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.3g", value)
    }

    /// Milliseconds with three significant digits (at least one decimal below 100).
    public static func milliseconds(_ value: Double) -> String {
        if value >= 100 { return String(format: "%.0f", value) }
        if value >= 10 { return String(format: "%.1f", value) }
        if value >= 1 { return String(format: "%.2f", value) }
        return String(format: "%.3f", value)
    }

    /// A rate with no decimals from 100 up.
    public static func rate(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }
}
