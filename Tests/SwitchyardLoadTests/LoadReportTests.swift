import Foundation
import SwitchyardLoad
import SwitchyardTesting
import SwitchyardWire
import Testing

/// The JSON report: round trip, schema check, every key documented; CSV and the SVG chart.
struct LoadReportTests {
    func report() async throws -> LoadReport {
        var target = MemoryTarget()
        target.fails = { $0 % 10 == 0 ? .init(.unavailable, "gone") : nil }
        let source = try RequestSource(method: "echo", model: "", inputName: "x", rows: try Fixtures.rows(8))
        let check = try OutputCheck(
            expected: .values((0..<32).map { Float($0 / 4) }, width: 4, tolerance: 0),
            outputName: nil,
            rowCount: 8
        )
        let generator = try LoadGenerator(target: target, source: source, settings: .requests(40), check: check)
        let steps = [try await generator.run(.closed(concurrency: 2)), try await generator.run(.open(rate: 5_000))]
        return LoadReport(
            started: Date(timeIntervalSince1970: 1_800_000_000),
            command: ["yard", "load"],
            target: .init(address: "127.0.0.1:7401", method: "echo", model: "", version: "", connections: 1),
            input: .init(source: "synthetic", name: "x", dtype: "f32", shape: [8, 4], rowsPerRequest: 1, users: 0),
            settings: .init(.requests(40), validate: "x.npy"),
            machine: .current(),
            steps: steps
        )
    }

    @Test func jsonRoundTrips() async throws {
        let report = try await self.report()
        let data = try report.json()
        #expect(try LoadReport(json: data) == report)
        let text = String(decoding: data, as: UTF8.self)
        for key in [
            "\"schema\" : \"switchyard.load/1\"", "\"latency_ms\"", "\"p999\"", "\"service_time_ms\"",
            "\"latency_histogram_us\"",
        ] {
            #expect(text.contains(key), "no \(key)")
        }
    }

    @Test func foreignJSONIsRefused() async throws {
        #expect(throws: LoadError.self) { try LoadReport(json: Data("{\"schema\": 1}".utf8)) }
        #expect(throws: LoadError.self) { try LoadReport(json: Data("not json".utf8)) }
        var report = try await self.report()
        report.schema = "switchyard.load/99"
        let data = try report.json()
        #expect(throws: LoadError.self) { try LoadReport(json: data) }
    }

    /// Every key the encoder writes appears in the schema document.
    @Test func everyKeyIsDocumented() async throws {
        let object = try JSONSerialization.jsonObject(with: try await self.report().json())
        var keys = Set<String>()
        func walk(_ value: Any) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary {
                    keys.insert(key)
                    walk(child)
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(object)
        let document = try String(
            contentsOf: packageRoot().appendingPathComponent("docs/load-json.md"),
            encoding: .utf8
        )
        for key in keys.sorted() {
            #expect(document.contains("`\(key)`"), "docs/load-json.md does not describe `\(key)`")
        }
    }

    @Test func csvHasAHeaderAndALinePerStep() async throws {
        let lines = try await self.report().csv().split(separator: "\n")
        #expect(lines.count == 3)
        let header = lines[0].split(separator: ",")
        #expect(
            lines.dropFirst().allSatisfy {
                $0.split(separator: ",", omittingEmptySubsequences: false).count == header.count
            }
        )
        #expect(lines[1].hasPrefix("1,closed,2,,"))
        #expect(lines[2].hasPrefix("2,open,,5000,"))
    }

    @Test func tableAndPlot() async throws {
        let report = try await self.report()
        let table = report.table()
        #expect(table.contains("closed 2"))
        #expect(table.contains("open 5000/s"))
        #expect(table.contains("unavailable (gone)"))
        #expect(table.contains("rows match the expected outputs"))
        let svg = LatencyPlot(title: "a <test>", series: [.init(name: "echo", report: report)]).svg()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("a &lt;test&gt;"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
    }
}
