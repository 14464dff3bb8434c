import Foundation
import NIOCore
import SwitchyardGateway
import SwitchyardTensor
import SwitchyardWire

/// One way of turning an OIP infer body into the floats of its tensor, timed.
struct JSONBenchRow: Codable {
    var name: String
    var floats: Int
    var bodyBytes: Int
    var microseconds: Double
    var ratio: Double  // against the gateway's decoder
}

/// The request body as `tritonclient.http` writes it in JSON mode: floats as Python's `repr` of float32 values.
func oipBody(floats: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let values = (0..<floats).map { _ in Double(Float.random(in: 0..<16, using: &generator)).description }
    return
        #"{"inputs": [{"name": "input", "shape": [1, \#(floats)], "datatype": "FP32", "#
        + #""data": [\#(values.joined(separator: ", "))]}], "parameters": {"binary_data_output": true}}"#
}

private struct CodableRequest: Decodable {
    struct Input: Decodable {
        var name: String
        var shape: [Int]
        var datatype: String
        var data: [Float]
    }

    var inputs: [Input]
}

/// Decodes the same body with the gateway's decoder, Foundation's `JSONDecoder` into `[Float]`, and
/// `JSONSerialization` into `[Any]`; returns microseconds per body for each, best of `rounds`.
func runJSONBench(floats: Int, iterations: Int, rounds: Int) throws -> [JSONBenchRow] {
    let text = oipBody(floats: floats)
    let data = Data(text.utf8)
    let buffer = ByteBuffer(string: text)
    let clock = ContinuousClock()
    func time(_ body: () throws -> Int) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            var checksum = 0
            let start = clock.now
            for _ in 0..<iterations { checksum &+= try body() }
            let elapsed = start.duration(to: clock.now)
            precondition(checksum == iterations * floats, "decoded \(checksum / iterations) floats, expected \(floats)")
            best = min(
                best,
                (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
                    / Double(iterations))
        }
        return best
    }
    let gateway = try time {
        let request = try InferenceCodec.decodeRequest(buffer, headerLength: nil, model: "synth")
        return request.tensors[0].tensor.elementCount
    }
    let decoder = JSONDecoder()
    let codable = try time {
        let request = try decoder.decode(CodableRequest.self, from: data)
        return request.inputs[0].data.count
    }
    let serialization = try time {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let inputs = root["inputs"] as? [[String: Any]], let values = inputs[0]["data"] as? [Any]
        else { return 0 }
        let floats = values.compactMap { ($0 as? NSNumber)?.floatValue }
        return floats.count
    }
    return [
        JSONBenchRow(
            name: "gateway decoder (hand-rolled, straight into tensor storage)", floats: floats, bodyBytes: data.count,
            microseconds: gateway, ratio: 1),
        JSONBenchRow(
            name: "Foundation JSONDecoder into [Float] (Codable)", floats: floats, bodyBytes: data.count,
            microseconds: codable, ratio: codable / gateway),
        JSONBenchRow(
            name: "Foundation JSONSerialization into [Any], then Float", floats: floats, bodyBytes: data.count,
            microseconds: serialization, ratio: serialization / gateway),
    ]
}

/// The rows as a Markdown table.
func jsonMarkdown(_ rows: [JSONBenchRow]) -> String {
    var lines = ["| decoder | floats | body bytes | µs per body | × the gateway's |", "|---|---:|---:|---:|---:|"]
    for row in rows {
        lines.append(
            String(
                format: "| %@ | %d | %d | %.1f | %.1f× |", row.name, row.floats, row.bodyBytes, row.microseconds,
                row.ratio))
    }
    return lines.joined(separator: "\n")
}
