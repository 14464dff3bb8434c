import Foundation
import ServiceLifecycle
import SwitchyardGateway
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardWire
import Synchronization
import Testing

/// The gateway on a real loopback socket in front of a stand-in router: endpoints, the request it makes, keep-alive,
/// status mapping, deadlines and cancellation.
@Suite(.timeLimit(.minutes(2)))
struct GatewayServerTests {
    static let jsonInfer = Array(
        (#"{"id": "q1", "parameters": {"routing_key": "user-9", "priority": 2, "note": "hi"}, "#
            + #""inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [[0.25, 0.5, 1, 2]]}]}"#)
            .utf8
    )

    static func binaryInfer(rows: Int = 2) -> (body: [UInt8], headerLength: Int) {
        let json = Array(
            (#"{"inputs": [{"name": "X", "shape": [\#(rows), 4], "datatype": "FP32", "#
                + #""parameters": {"binary_data_size": \#(rows * 16)}}], "#
                + #""outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "label"}]}"#)
                .utf8
        )
        let floats = (0..<(rows * 4)).map { Float($0) }
        return (json + floats.withUnsafeBytes { Array($0) }, json.count)
    }

    @Test func answersTheMetadataEndpoints() async throws {
        try await GatewayHarness.with { gateway, _ in
            let server = try await gateway.request("GET", "/v2")
            #expect(server.status == 200)
            #expect(server.json?["name"] as? String == "switchyard")
            #expect((server.json?["extensions"] as? [String])?.contains("binary_tensor_data") == true)
            #expect(try await gateway.request("GET", "/v2/health/live").status == 200)
            #expect(try await gateway.request("GET", "/v2/health/ready").status == 200)

            let metadata = try await gateway.request("GET", "/v2/models/digits")
            #expect(metadata.status == 200)
            #expect(metadata.json?["versions"] as? [String] == ["1", "2"])
            let inputs = try #require(metadata.json?["inputs"] as? [[String: Any]])
            #expect(inputs.first?["datatype"] as? String == "FP32")
            #expect(inputs.first?["shape"] as? [Int] == [-1, 4])
            #expect(
                (metadata.json?["outputs"] as? [[String: Any]])?.map { $0["name"] as? String } == [
                    "label", "probabilities",
                ]
            )
            #expect(
                try await gateway.request("GET", "/v2/models/digits/versions/1").json?["versions"] as? [String] == ["1"]
            )

            #expect(try await gateway.request("GET", "/v2/models/digits/ready").status == 200)
            #expect(try await gateway.request("GET", "/v2/models/digits/versions/2/ready").status == 200)
            let notLoaded = try await gateway.request("GET", "/v2/models/digits/versions/1/ready")
            #expect(notLoaded.status == 503)
            #expect(notLoaded.json?["error"] as? String != nil)

            let config = try await gateway.request("GET", "/v2/models/digits/config")
            #expect(config.json?["max_batch_size"] as? Int == 64)
            #expect((config.json?["input"] as? [[String: Any]])?.first?["dims"] as? [Int] == [4])
            #expect((config.json?["input"] as? [[String: Any]])?.first?["data_type"] as? String == "TYPE_FP32")
            let batching = try #require(config.json?["dynamic_batching"] as? [String: Any])
            #expect(batching["preferred_batch_size"] as? [Int] == [8])

            for path in [
                "/v2/models/nope", "/v2/models/nope/ready", "/v2/models/digits/versions/9", "/v2/models/nope/stats",
            ] {
                let missing = try await gateway.request("GET", path)
                #expect(missing.status == 404, "\(path)")
                #expect((missing.json?["error"] as? String)?.isEmpty == false, "\(path)")
            }
            gateway.backend.notReady.withLock { $0 = "no inference instance passes its health check" }
            let unready = try await gateway.request("GET", "/v2/health/ready")
            #expect(unready.status == 503)
            #expect((unready.json?["error"] as? String)?.contains("no inference instance") == true)
            #expect(try await gateway.request("GET", "/v2/models/digits/ready").status == 503)
            #expect(try await gateway.request("GET", "/v2/health/live").status == 200)
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func turnsAnInferRequestIntoTheRoutersRequest() async throws {
        try await GatewayHarness.with { gateway, _ in
            let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            let response = try await gateway.request(
                "POST",
                "/v2/models/digits/versions/2/infer",
                headers: [("traceparent", trace), ("content-type", "application/json")],
                body: Self.jsonInfer
            )
            #expect(response.status == 200, "\(response.text)")
            #expect(response.headers["content-type"] == "application/json")
            let json = try #require(response.json)
            #expect(json["id"] as? String == "q1")
            #expect(json["model_name"] as? String == "digits")
            #expect(json["model_version"] as? String == "2")
            let outputs = try #require(json["outputs"] as? [[String: Any]])
            #expect(outputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double] == [0.25, 0.5])
            #expect(outputs.first { $0["name"] as? String == "label" }?["data"] as? [Int] == [1])

            let request = try #require(gateway.backend.requests.withLock { $0.first })
            #expect(request.method == "infer")
            #expect(request.model == "digits")
            #expect(request.version == "2")
            #expect(request.routingKey == "user-9")
            #expect(request.priority == 2)
            // the caller's traceparent goes on as a wire parameter (the router's span joins it)
            #expect(request.parameters == [Parameter("note", "hi"), Parameter(ParameterKey.traceparent, trace)])
            #expect(request.traceID == TraceID(high: 0x0af7_6519_16cd_43dd, low: 0x8448_eb21_1c80_319c))
            #expect(request.timeout == .seconds(60))  // the gateway's default deadline
            #expect(try request.tensors[0].tensor.scalars(as: Float.self) == [0.25, 0.5, 1, 2])

            let stats = try await gateway.request("GET", "/v2/models/digits/stats")
            let entries = try #require(stats.json?["model_stats"] as? [[String: Any]])
            #expect(entries.first?["version"] as? String == "2")
            #expect(entries.first?["inference_count"] as? Int == 1)
            #expect(
                ((entries.first?["inference_stats"] as? [String: Any])?["success"] as? [String: Int])?["count"] == 1
            )
        }
    }

    @Test func aRequestWithoutTraceparentReachesTheBackendWithoutATraceID() async throws {
        // the backend's span (or the backend) gives it one: an id made here would differ from the span's
        try await GatewayHarness.with { gateway, _ in
            let response = try await gateway.request(
                "POST",
                "/v2/models/digits/infer",
                headers: [("content-type", "application/json")],
                body: Self.jsonInfer
            )
            #expect(response.status == 200, "\(response.text)")
            let request = try #require(gateway.backend.requests.withLock { $0.first })
            #expect(request.traceID == .none)
            #expect(request[parameter: ParameterKey.traceparent] == nil)
        }
    }

    @Test func servesManyRequestsOnOneKeepAliveConnectionInBothEncodings() async throws {
        try await GatewayHarness.with { gateway, _ in
            let peer = try await gateway.peer()
            for round in 0..<20 {
                if round % 2 == 0 {
                    try await peer.sendHTTP("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
                    let response = try #require(try await peer.nextHTTPResponse())
                    #expect(response.status == 200)
                    #expect(response.headers["inference-header-content-length"] == nil)
                } else {
                    let (body, headerLength) = Self.binaryInfer(rows: 2)
                    try await peer.sendHTTP(
                        "POST",
                        "/v2/models/digits/infer",
                        headers: [("inference-header-content-length", "\(headerLength)")],
                        body: body
                    )
                    let response = try #require(try await peer.nextHTTPResponse())
                    #expect(response.status == 200, "\(response.text)")
                    #expect(response.headers["content-type"] == "application/octet-stream")
                    let length = try #require(Int(response.headers["inference-header-content-length"] ?? ""))
                    let header = try #require(
                        try JSONSerialization.jsonObject(with: Data(response.body[0..<length])) as? [String: Any]
                    )
                    let outputs = try #require(header["outputs"] as? [[String: Any]])
                    #expect(outputs.map { $0["name"] as? String } == ["probabilities", "label"])
                    #expect((outputs[0]["parameters"] as? [String: Int])?["binary_data_size"] == 16)
                    #expect(outputs[1]["data"] as? [Int] == [2, 2])
                    let floats = Array(response.body[length...]).withUnsafeBytes {
                        Array($0.bindMemory(to: Float.self))
                    }
                    #expect(floats == [0, 1, 4, 5])
                }
            }
            #expect(gateway.backend.requestCount == 20)
            await peer.close()
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await GatewayHarness.with { gateway, _ in
            let peer = try await gateway.peer()
            var bytes: [UInt8] = []
            for path in ["/v2", "/v2/models/digits", "/v2/health/live"] {
                bytes += Array("GET \(path) HTTP/1.1\r\nhost: x\r\n\r\n".utf8)
            }
            try await peer.send(bytes)
            #expect(try await peer.nextHTTPResponse()?.json?["extensions"] != nil)
            #expect(try await peer.nextHTTPResponse()?.json?["name"] as? String == "digits")
            #expect(try await peer.nextHTTPResponse()?.status == 200)
            await peer.close()
        }
    }

    @Test func aMalformedRequestPipelinedBehindAnInferIsAnsweredAfterIt() async throws {
        let backend = FakeBackend { request in
            try await Task.sleep(for: .milliseconds(100))  // still in flight when the request behind it arrives
            return try await FakeBackend.echoLabel(request)
        }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let peer = try await gateway.peer()
            var bytes = Array(
                "POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: \(Self.jsonInfer.count)\r\n\r\n"
                    .utf8
            )
            bytes += Self.jsonInfer
            bytes += Array("GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n".utf8)
            bytes += Array("GET /v2 HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n".utf8)
            try await peer.send(bytes)
            let infer = try await peer.nextHTTPResponse()
            #expect(infer?.status == 200)
            #expect(infer?.json?["id"] as? String == "q1")
            let live = try await peer.nextHTTPResponse()
            #expect(live?.status == 200)
            #expect(live?.headers["connection"] == nil)
            let malformed = try await peer.nextHTTPResponse()
            #expect(malformed?.status == 400)
            #expect(malformed?.headers["connection"] == "close")
            #expect((malformed?.json?["error"] as? String)?.contains("malformed") == true)
            #expect(await peer.waitUntilClosed(timeout: .seconds(5)))
        }
    }

    @Test func anHTTP10KeepAliveClientIsToldTheConnectionStaysOpen() async throws {
        try await GatewayHarness.with { gateway, _ in
            let peer = try await gateway.peer()
            try await peer.send(Array("GET /v2/health/live HTTP/1.0\r\nconnection: keep-alive\r\n\r\n".utf8))
            let first = try await peer.nextHTTPResponse()
            #expect(first?.status == 200)
            #expect(first?.headers["connection"] == "keep-alive")
            try await peer.send(Array("GET /v2/health/live HTTP/1.0\r\n\r\n".utf8))
            let second = try await peer.nextHTTPResponse()
            #expect(second?.status == 200)
            #expect(second?.headers["connection"] == "close")
            #expect(await peer.waitUntilClosed(timeout: .seconds(5)))
        }
    }

    @Test(arguments: [
        (Status.Code.invalidArgument, 400), (.notFound, 404), (.resourceExhausted, 429), (.unavailable, 503),
        (.deadlineExceeded, 504), (.failedPrecondition, 400), (.permissionDenied, 403), (.internalError, 500),
    ])
    func mapsWireStatusesToHTTP(_ code: Status.Code, _ http: Int) async throws {
        let backend = FakeBackend { _ in throw Status(code, "from the router") }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let response = try await gateway.request("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
            #expect(response.status == http)
            #expect((response.json?["error"] as? String)?.contains("from the router") == true)
            #expect((response.headers["retry-after"] != nil) == (http == 429 || http == 503))
        }
    }

    @Test func aRequestTheRouterShedsAtArrivalGets429WithoutReachingIt() async throws {
        let backend = FakeBackend()
        backend.refusing.withLock { $0 = Status(.resourceExhausted, "the queue is over its time limit") }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let shed = try await gateway.request("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
            #expect(shed.status == 429)
            #expect(shed.headers["retry-after"] == "1")
            #expect((shed.json?["error"] as? String)?.contains("time limit") == true)
            #expect(backend.requests.withLock { $0.isEmpty })
            backend.refusing.withLock { $0 = nil }
            #expect(try await gateway.request("POST", "/v2/models/digits/infer", body: Self.jsonInfer).status == 200)
            #expect(backend.requests.withLock { $0.count } == 1)
        }
    }

    @Test func aRequestPastItsDeadlineGets504AndItsWorkIsCancelled() async throws {
        let backend = FakeBackend { _ in
            try await Task.sleep(for: .seconds(30))
            throw Status(.internalError, "should have been cancelled")
        }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let body = Array(
                (#"{"parameters": {"timeout": 200000}, "#
                    + #""inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#)
                    .utf8
            )
            let response = try await gateway.request("POST", "/v2/models/digits/infer", body: body)
            #expect(response.status == 504)
            #expect(await backend.waitForCancellations(1))
            #expect(gateway.backend.requests.withLock { $0.first?.timeout } == .milliseconds(200))
        }
    }

    @Test func aClientThatHangsUpCancelsItsRequest() async throws {
        let backend = FakeBackend { _ in
            try await Task.sleep(for: .seconds(30))
            throw Status(.internalError, "should have been cancelled")
        }
        try await GatewayHarness.with(backend: backend) { gateway, _ in
            let peer = try await gateway.peer()
            try await peer.sendHTTP("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
            #expect(await backend.waitForRequests(1))
            await peer.close()
            #expect(await backend.waitForCancellations(1))
            #expect(try await gateway.request("GET", "/v2/health/live").status == 200)
        }
    }

    @Test func bearerTokensGuardEverythingButHealth() async throws {
        let tokens = try BearerTokens([GatewayHarness.token])
        try await GatewayHarness.with(security: .plaintext(tokens: tokens)) { gateway, _ in
            let missing = try await gateway.request("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
            #expect(missing.status == 401)
            #expect(missing.headers["www-authenticate"] == "Bearer")
            let wrong = try await gateway.request(
                "GET",
                "/v2/models/digits",
                headers: [("authorization", "Bearer not-the-token-at-all")]
            )
            #expect(wrong.status == 401)
            #expect(try await gateway.request("GET", "/v2/health/ready").status == 200)
            let right = try await gateway.request(
                "POST",
                "/v2/models/digits/infer",
                headers: [("authorization", "Bearer \(GatewayHarness.token)")],
                body: Self.jsonInfer
            )
            #expect(right.status == 200)
            #expect(gateway.backend.requestCount == 1)
        }
    }

    @Test func drainingFinishesTheRequestsInFlight() async throws {
        let backend = FakeBackend { request in
            try await Task.sleep(for: .milliseconds(300))
            return try await FakeBackend.echoLabel(request)
        }
        try await GatewayHarness.with(backend: backend) { gateway, group in
            let peer = try await gateway.peer()
            let idle = try await gateway.peer()
            try await peer.sendHTTP("POST", "/v2/models/digits/infer", body: Self.jsonInfer)
            #expect(await backend.waitForRequests(1))
            await group.triggerGracefulShutdown()
            let response = try #require(try await peer.nextHTTPResponse())
            #expect(response.status == 200)
            let closed = await peer.waitUntilClosed()
            #expect(response.headers["connection"] == "close" || closed)
            #expect(await idle.waitUntilClosed())
            await peer.close()
        }
    }
}
