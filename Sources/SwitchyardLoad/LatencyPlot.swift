import Foundation

/// An SVG chart of latency against load: for each series, p99 as a solid line and p50 as a dashed line, one point
/// per step; latency on a logarithmic axis. Open-loop steps stand at their offered rate (past saturation the
/// answered rate falls back while latency climbs, which would fold the line over itself); closed-loop steps at
/// their throughput.
public struct LatencyPlot: Sendable {
    /// One line pair on the chart, e.g. one run of a sweep.
    public struct Series: Sendable {
        public var name: String
        /// Steps in order: load (requests/s), p50 and p99 latency (ms).
        public var points: [(throughput: Double, p50: Double, p99: Double)]

        /// Makes a series.
        public init(name: String, points: [(throughput: Double, p50: Double, p99: Double)]) {
            self.name = name
            self.points = points
        }

        /// A series from a report's steps that answered anything: open-loop steps at their offered rate, closed-loop
        /// steps at their throughput.
        public init(name: String, report: LoadReport) {
            self.name = name
            self.points = report.steps.filter { $0.ok > 0 }.map {
                ($0.rate ?? $0.throughput, $0.latencyMs.p50, $0.latencyMs.p99)
            }
        }
    }

    public var title: String
    public var series: [Series]
    /// The horizontal axis' title.
    public var xLabel: String

    /// Makes a plot.
    /// - Parameters:
    ///   - title: the chart's title.
    ///   - series: the lines.
    ///   - xLabel: the horizontal axis' title.
    public init(
        title: String,
        series: [Series],
        xLabel: String = "offered rate, or throughput in closed loop (requests/s)"
    ) {
        self.title = title
        self.series = series
        self.xLabel = xLabel
    }

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        let (width, height) = (760.0, 460.0)
        let (left, right, top, bottom) = (70.0, 200.0, 40.0, 50.0)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let points = self.series.flatMap(\.points)
        let maxX = Self.niceCeiling(max(points.map(\.throughput).max() ?? 1, 1e-9))
        let latencies = points.flatMap { [$0.p50, $0.p99] }.filter { $0 > 0 }
        let low = pow(10, floor(log10(latencies.min() ?? 0.1)))
        let high = max(pow(10, ceil(log10(latencies.max() ?? 1))), low * 10)
        func x(_ value: Double) -> Double { left + value / maxX * plotWidth }
        func y(_ value: Double) -> Double {
            top + plotHeight - (log10(max(value, low)) - log10(low)) / (log10(high) - log10(low)) * plotHeight
        }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="15" font-weight="bold">\(Self.escape(self.title))</text>

            """
        // Grid and axes.
        for step in 0...5 {
            let value = maxX * Double(step) / 5
            svg +=
                "<line x1=\"\(f(x(value)))\" y1=\"\(f(top))\" x2=\"\(f(x(value)))\" y2=\"\(f(top + plotHeight))\" stroke=\"#e5e5e5\"/>\n"
            svg +=
                "<text x=\"\(f(x(value)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">\(LoadFormat.number(value))</text>\n"
        }
        var decade = low
        while decade <= high * 1.0001 {
            svg +=
                "<line x1=\"\(f(left))\" y1=\"\(f(y(decade)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(decade)))\" stroke=\"#e5e5e5\"/>\n"
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(y(decade) + 4))\" text-anchor=\"end\">\(LoadFormat.number(decade))</text>\n"
            decade *= 10
        }
        svg +=
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 10))\" text-anchor=\"middle\">\(Self.escape(self.xLabel))</text>\n"
        svg +=
            "<text transform=\"translate(18 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">latency (ms, log scale)</text>\n"
        // Lines, points, legend.
        for (index, series) in self.series.enumerated() {
            let color = colors[index % colors.count]
            let lines: [(dash: String, latency: @Sendable ((throughput: Double, p50: Double, p99: Double)) -> Double)] =
                [
                    ("", { $0.p99 }), ("6 4", { $0.p50 }),
                ]
            for (dash, latency) in lines {
                let path = series.points.map { "\(f(x($0.throughput))),\(f(y(latency($0))))" }.joined(separator: " ")
                let dashing = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\""
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashing)/>\n"
                for point in series.points {
                    svg +=
                        "<circle cx=\"\(f(x(point.throughput)))\" cy=\"\(f(y(latency(point))))\" r=\"3\" fill=\"\(color)\"/>\n"
                }
            }
            let legendY = top + 14 + Double(index) * 36
            let legendX = left + plotWidth + 16
            svg +=
                "<line x1=\"\(f(legendX))\" y1=\"\(f(legendY))\" x2=\"\(f(legendX + 24))\" y2=\"\(f(legendY))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(f(legendX + 30))\" y=\"\(f(legendY + 4))\">\(Self.escape(series.name)) p99</text>\n"
            svg +=
                "<line x1=\"\(f(legendX))\" y1=\"\(f(legendY + 16))\" x2=\"\(f(legendX + 24))\" y2=\"\(f(legendY + 16))\" stroke=\"\(color)\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
            svg += "<text x=\"\(f(legendX + 30))\" y=\"\(f(legendY + 20))\">\(Self.escape(series.name)) p50</text>\n"
        }
        return svg + "</svg>\n"
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] where factor * magnitude >= value {
            return factor * magnitude
        }
        return 10 * magnitude
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
