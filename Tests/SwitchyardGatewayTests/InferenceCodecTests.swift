import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardTensor
import SwitchyardWire
import Testing

@testable import SwitchyardGateway

struct InferenceCodecTests {
    private func decode(
        _ json: String,
        binary: [UInt8] = [],
        headerLength: Int? = nil
    ) throws(GatewayError) -> (
        Request, ResponsePlan
    ) {
        var body = ByteBuffer(string: json)
        body.writeBytes(binary)
        return try InferenceRequestDecoder.decode(
            body: body,
            headerLength: headerLength ?? (binary.isEmpty ? nil : json.utf8.count),
            model: "m",
            version: "2"
        )
    }

    @Test func decodesAJSONRequestWithItsParameters() throws {
        let (request, plan) = try self.decode(
            #"{"id": "r-1", "parameters": {"routing_key": "user-7", "priority": 3, "timeout": 250000, "custom": 5, "tag": "x"},"#
                + #" "inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [[0.5, 1]]}],"#
                + #" "outputs": [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": true}}]}"#
        )
        #expect(request.method == "infer")
        #expect(request.model == "m")
        #expect(request.version == "2")
        #expect(request.routingKey == "user-7")
        #expect(request.priority == 3)
        #expect(request.timeout == .milliseconds(250))
        #expect(request.parameters == [Parameter("custom", "5"), Parameter("tag", "x")])
        #expect(try request.tensors[0].tensor.scalars(as: Float.self) == [0.5, 1])
        #expect(request.tensors[0].tensor.shape == [1, 2])
        #expect(plan.id == "r-1")
        #expect(plan.outputs?.map(\.name) == ["label", "probabilities"])
        #expect(plan.outputs?.map(\.binary) == [false, true])
    }

    /// Data after datatype and shape is decoded in the parser's one pass, data before them afterwards: same tensor.
    @Test func decodesDataInEitherMemberOrder() throws {
        let first = try self.decode(
            #"{"inputs": [{"data": [[1, 2.5], [3, 4]], "shape": [2, 2], "name": "X", "datatype": "FP64"}]}"#
        )
        let last = try self.decode(
            #"{"inputs": [{"name": "X", "datatype": "FP64", "shape": [2, 2], "data": [[1, 2.5], [3, 4]]}]}"#
        )
        #expect(first.0.tensors == last.0.tensors)
        #expect(try last.0.tensors[0].tensor.scalars(as: Double.self) == [1, 2.5, 3, 4])
        #expect(throws: GatewayError.self) {
            try self.decode(
                #"{"inputs": [{"name": "X", "datatype": "FP64", "shape": [2, 2], "data": [[1, 2.5], [3]]}]}"#
            )
        }
        #expect(throws: GatewayError.self) {
            try self.decode(
                #"{"inputs": [{"name": "X", "datatype": "FP64", "shape": [2, 2], "data": [1, 2, 3, 4] x}]}"#
            )
        }
    }

    @Test func decodesBinaryInputsInOrder() throws {
        let floats: [Float] = [1, 2, 3, 4]
        let floatBytes = floats.withUnsafeBytes { Array($0) }
        let strings: [UInt8] = [2, 0, 0, 0, 0x68, 0x69]
        let json =
            #"{"inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},"#
            + #" {"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}],"#
            + #" "parameters": {"binary_data_output": true}}"#
        let (request, plan) = try self.decode(json, binary: floatBytes + strings)
        #expect(try request.tensors[0].tensor.scalars(as: Float.self) == floats)
        #expect(try request.tensors[1].tensor.strings() == ["hi"])
        #expect(plan.binaryByDefault)
    }

    @Test(arguments: [
        (#"[1]"#, "must be a JSON object"),
        (#"{"inputs": []}"#, "non-empty"),
        (#"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32"}]}"#, "needs 'data'"),
        (#"{"inputs": [{"name": "a", "shape": [1], "datatype": "UINT16", "data": [1]}]}"#, "not carried by the mesh"),
        (#"{"inputs": [{"name": "a", "shape": [1], "datatype": "FLOAT", "data": [1]}]}"#, "unknown datatype"),
        (#"{"inputs": [{"name": "a", "shape": [-1], "datatype": "FP32", "data": [1]}]}"#, "non-negative"),
        (#"{"inputs": [{"name": "a", "shape": [1,1,1,1,1,1,1,1,1], "datatype": "FP32", "data": [1]}]}"#, "at most 8"),
        (
            #"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}, {"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}"#,
            "given twice"
        ),
        (
            #"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}], "extra": 1}"#,
            "unknown member 'extra'"
        ),
        (#"{"id": 5, "inputs": []}"#, "'id' must be a string"),
        (#"{"parameters": {"sequence_id": 7}, "inputs": []}"#, "sequences"),
        (#"{"parameters": {"priority": 300}, "inputs": []}"#, "0...255"),
        (#"{"parameters": {"timeout": -1}, "inputs": []}"#, "microseconds"),
        (
            #"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1], "parameters": {"shared_memory_region": "r"}}]}"#,
            "shared-memory"
        ),
        (
            #"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}], "outputs": [{"name": "y", "parameters": {"classification": 3}}]}"#,
            "classification"
        ),
        (
            #"{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}"#,
            "byte count within the body"
        ),
    ])
    func refusesBadRequests(_ json: String, _ expected: String) {
        do {
            _ = try self.decode(json)
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func refusesBinarySectionsThatDoNotAddUp() {
        let json =
            #"{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}"#
        // 4 bytes too many
        #expect(throws: GatewayError.self) { try self.decode(json, binary: [UInt8](repeating: 0, count: 12)) }
        // too few
        #expect(throws: GatewayError.self) { try self.decode(json, binary: [UInt8](repeating: 0, count: 4)) }
        #expect(throws: GatewayError.self) {  // header length past the body
            try self.decode(json, binary: [UInt8](repeating: 0, count: 8), headerLength: json.utf8.count + 100)
        }
        let wrongSize =
            #"{"inputs": [{"name": "a", "shape": [3], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}"#
        #expect(throws: GatewayError.self) { try self.decode(wrongSize, binary: [UInt8](repeating: 0, count: 8)) }
    }

    @Test func encodesJSONAndBinaryOutputs() throws {
        let response = Response(
            parameters: [Parameter("model.version", "3"), Parameter("request.id", "ab-1")],
            tensors: [
                NamedTensor("label", try Tensor([Int64(7)], shape: [1])),
                NamedTensor("probabilities", try Tensor([Float(0.25), 0.75], shape: [1, 2])),
                NamedTensor("name", try Tensor(strings: ["seven"], shape: [1])),
            ]
        )
        let plan = ResponsePlan(
            id: "r-9",
            model: "m",
            version: "",
            outputs: [("probabilities", true), ("label", false), ("name", false)],
            binaryByDefault: false
        )
        let encoded = try InferenceResponseEncoder.encode(response, plan: plan, allocator: ByteBufferAllocator())
        let headerLength = try #require(encoded.headerLength)
        var body = encoded.body
        let json = body.readString(length: headerLength)!
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["model_name"] as? String == "m")
        #expect(object["model_version"] as? String == "3")
        #expect(object["id"] as? String == "r-9")
        #expect((object["parameters"] as? [String: String]) == ["request.id": "ab-1"])
        let outputs = try #require(object["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["name"] as? String } == ["probabilities", "label", "name"])
        #expect(outputs[0]["datatype"] as? String == "FP32")
        #expect((outputs[0]["parameters"] as? [String: Int])?["binary_data_size"] == 8)
        #expect(outputs[1]["data"] as? [Int] == [7])
        #expect(outputs[2]["data"] as? [String] == ["seven"])
        let floats = body.readBytes(length: 8)!.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats == [0.25, 0.75])
        #expect(body.readableBytes == 0)
    }

    @Test func encodesAllOutputsAsJSONWithoutAHeaderLength() throws {
        let response = Response(tensors: [NamedTensor("y", try Tensor([Float(0.1), .nan, -.infinity], shape: [3]))])
        let plan = ResponsePlan(id: nil, model: "m", version: "1", outputs: nil, binaryByDefault: false)
        let encoded = try InferenceResponseEncoder.encode(response, plan: plan, allocator: ByteBufferAllocator())
        #expect(encoded.headerLength == nil)
        #expect(
            String(buffer: encoded.body)
                == #"{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[3],"data":[0.1,NaN,-Infinity]}]}"#
        )
    }

    @Test func refusesAnOutputTheAnswerDoesNotHave() throws {
        let response = Response(tensors: [NamedTensor("y", try Tensor([Float(1)], shape: [1]))])
        let plan = ResponsePlan(id: nil, model: "m", version: "", outputs: [("z", false)], binaryByDefault: false)
        #expect(throws: GatewayError.self) {
            try InferenceResponseEncoder.encode(response, plan: plan, allocator: ByteBufferAllocator())
        }
        let bytes = Response(tensors: [
            NamedTensor("b", try Tensor(dtype: .bytes, shape: [1], data: ByteView([1, 0, 0, 0, 0xFF])))
        ])
        let asJSON = ResponsePlan(id: nil, model: "m", version: "", outputs: nil, binaryByDefault: false)
        #expect(throws: GatewayError.self) {
            try InferenceResponseEncoder.encode(bytes, plan: asJSON, allocator: ByteBufferAllocator())
        }
        var asBinary = asJSON
        asBinary.binaryByDefault = true
        #expect(
            try InferenceResponseEncoder.encode(bytes, plan: asBinary, allocator: ByteBufferAllocator()).headerLength
                != nil
        )
    }

    @Test(arguments: [
        ("GET", "/v2", Route.server), ("GET", "/v2/", .server), ("GET", "/v2/health/live", .live),
        ("HEAD", "/v2/health/ready", .ready),
        ("GET", "/v2/models/digits", .modelMetadata(model: "digits", version: nil)),
        ("GET", "/v2/models/digits/versions/2?x=1", .modelMetadata(model: "digits", version: "2")),
        ("GET", "/v2/models/my%20model/ready", .modelReady(model: "my model", version: nil)),
        ("GET", "/v2/models/digits/versions/1/config", .modelConfig(model: "digits", version: "1")),
        ("GET", "/v2/models/stats", .statistics(model: nil, version: nil)),
        ("GET", "/v2/models/digits/stats", .statistics(model: "digits", version: nil)),
        ("POST", "/v2/models/digits/versions/1/infer", .infer(model: "digits", version: "1")),
    ])
    func routesPaths(_ method: String, _ uri: String, _ expected: Route) throws {
        #expect(try Route.parse(method: .init(rawValue: method), uri: uri) == expected)
    }

    @Test func refusesUnknownPathsAndMethods() {
        for uri in ["/", "/v1/models/x", "/v2/models/x/explain", "/v2/models", "/v2/health"] {
            #expect(throws: GatewayError.self, "\(uri)") { try Route.parse(method: .GET, uri: uri) }
        }
        do {
            _ = try Route.parse(method: .GET, uri: "/v2/models/x/infer")
            Issue.record("GET infer accepted")
        } catch {
            #expect(error.code == .methodNotAllowed)
        }
        #expect(throws: GatewayError.self) { try Route.parse(method: .POST, uri: "/v2/health/ready") }
    }

    @Test func readsTraceParent() {
        #expect(
            TraceParent.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                == TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
        )
        #expect(TraceParent.traceID("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent.traceID("garbage") == nil)
        #expect(TraceParent.traceID(nil) == nil)
    }

    @Test func checksBearerTokensWholly() throws {
        let tokens = try BearerTokens(["0123456789abcdef", "fedcba9876543210xyz"])
        #expect(tokens.accepts("Bearer 0123456789abcdef"))
        #expect(tokens.accepts("bearer fedcba9876543210xyz"))
        #expect(!tokens.accepts("Bearer 0123456789abcde"))
        #expect(!tokens.accepts("Bearer 0123456789abcdefg"))
        #expect(!tokens.accepts("Basic 0123456789abcdef"))
        #expect(tokens.accepts("BEARER 0123456789abcdef"))
        #expect(!tokens.accepts("Bearer\t0123456789abcdef"))
        #expect(!tokens.accepts("Bearer\u{0}0123456789abcdef"))
        #expect(!tokens.accepts("Bearer "))
        #expect(!tokens.accepts(nil))
        #expect(throws: GatewayError.self) { try BearerTokens(["short"]) }
        #expect(throws: GatewayError.self) { try BearerTokens([]) }
    }

    @Test func refusesPlaintextOffLoopback() {
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration(host: "0.0.0.0", port: 0, security: .plaintext(tokens: nil)).validate()
        }
        #expect(throws: Never.self) {
            try GatewayConfiguration(host: "127.0.0.1", port: 0, security: .plaintext(tokens: nil)).validate()
        }
        #expect(GatewayConfiguration.isLoopback("::1"))
        #expect(!GatewayConfiguration.isLoopback("10.0.0.1"))
    }
}
