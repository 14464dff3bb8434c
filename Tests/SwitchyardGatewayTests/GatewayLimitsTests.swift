import Foundation
import SwitchyardGateway
import SwitchyardTesting
import Testing

/// Bad input of every kind gets a clear 4xx, never reaches the router, and leaves the gateway serving.
@Suite(.timeLimit(.minutes(2)))
struct GatewayLimitsTests {
    /// Small size limits; the default timeouts, so that a loaded machine does not trip them.
    static func small(_ configuration: inout GatewayConfiguration) {
        configuration.maxBodyBytes = 64 << 10
        configuration.maxHeaderBytes = 4 << 10
    }

    /// A short body timeout, for the tests of slow and short bodies; headers keep the default time.
    static func slowBody(_ configuration: inout GatewayConfiguration) {
        Self.small(&configuration)
        configuration.bodyTimeout = .seconds(1)
    }

    /// Short header and idle timeouts (3 s: a loaded machine still sends its first bytes in time).
    static func slowHeaders(_ configuration: inout GatewayConfiguration) {
        Self.small(&configuration)
        configuration.headerTimeout = .seconds(3)
        configuration.idleTimeout = .seconds(3)
    }

    /// Sends `bytes` on a new connection and returns the answer and whether the gateway closed the connection.
    private func exchange(_ gateway: GatewayHarness, _ bytes: [UInt8]) async throws -> (RawHTTPResponse?, Bool) {
        let peer = try await gateway.peer()
        try await peer.send(bytes)
        let response = try await peer.nextHTTPResponse()
        let closed = await peer.waitUntilClosed(timeout: .seconds(2))
        await peer.close()
        return (response, closed)
    }

    @Test(arguments: [
        ("not json at all", 400, "malformed JSON at byte 0"),
        (#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3"#, 400, "not closed"),
        (
            #"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}"#, 400,
            "has 3 elements"
        ),
        (
            #"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "INT32", "data": [1, 2, 3, 4.5]}]}"#, 400,
            "an integer"
        ),
        (#"{"inputs": {"name": "X"}}"#, 400, "'inputs' must be an array"),
    ])
    func malformedBodiesGet400(_ body: String, _ status: Int, _ expected: String) async throws {
        try await GatewayHarness.with(configure: Self.small) { gateway, _ in
            let response = try await gateway.request("POST", "/v2/models/digits/infer", body: Array(body.utf8))
            #expect(response.status == status)
            #expect((response.json?["error"] as? String)?.contains(expected) == true, "\(response.text)")
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func invalidUTF8Gets400() async throws {
        try await GatewayHarness.with(configure: Self.small) { gateway, _ in
            let body = Array(#"{"id": ""#.utf8) + [0xFF, 0xFE] + Array(#"", "inputs": []}"#.utf8)
            let response = try await gateway.request("POST", "/v2/models/digits/infer", body: body)
            #expect(response.status == 400)
            #expect((response.json?["error"] as? String)?.contains("UTF-8") == true)
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func anOversizedBodyIsRefusedBeforeItIsRead() async throws {
        try await GatewayHarness.with(configure: Self.small) { gateway, _ in
            let head = Array(
                "POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n".utf8
            )
            let (response, closed) = try await self.exchange(gateway, head + [UInt8](repeating: 0x20, count: 1000))
            #expect(response?.status == 413)
            #expect(response?.headers["connection"] == "close")
            #expect(closed)
            // chunked: no length up front, refused when the limit is passed
            let chunked = Array(
                "POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".utf8
            )
            let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: 0x20, count: 0x10000) + Array("\r\n".utf8)
            let (chunkedResponse, chunkedClosed) = try await self.exchange(gateway, chunked + chunk + chunk)
            #expect(chunkedResponse?.status == 413)
            #expect(chunkedClosed)
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func oversizedHeadersGet431() async throws {
        try await GatewayHarness.with(configure: Self.small) { gateway, _ in
            let big = String(repeating: "a", count: 8 << 10)
            let (response, closed) = try await self.exchange(
                gateway,
                Array("GET /v2 HTTP/1.1\r\nhost: x\r\nx-big: \(big)\r\n\r\n".utf8)
            )
            #expect(response?.status == 431)
            #expect(response?.json?["error"] != nil)
            #expect(closed)
        }
    }

    @Test func aBodyThatTricklesInGets408() async throws {
        try await GatewayHarness.with(configure: Self.slowBody) { gateway, _ in
            let peer = try await gateway.peer()
            try await peer.send(
                Array("POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"in".utf8)
            )
            var answer: RawHTTPResponse?
            // one byte every 50 ms or more: the body needs 5 s, the limit is 1 s
            for _ in 0..<200 where answer == nil {
                try? await peer.send([0x20])
                answer = try await peer.nextHTTPResponse(timeout: .milliseconds(50))
            }
            #expect(answer?.status == 408)
            #expect((answer?.json?["error"] as? String)?.contains("did not arrive") == true)
            #expect(await peer.waitUntilClosed())
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func slowHeadersGet408AndIdleConnectionsClose() async throws {
        try await GatewayHarness.with(configure: Self.slowHeaders) { gateway, _ in
            // a starved machine may take longer than the timeout between connecting and sending: then the
            // connection is closed as idle before the test's bytes go out, and the test tries again (at most 3 times)
            var answer: RawHTTPResponse?
            for _ in 0..<3 where answer == nil {
                let slow = try await gateway.peer()
                guard (try? await slow.send(Array("GET /v2 HTTP/1.1\r\nhost: x\r\n".utf8))) != nil else { continue }
                answer = try await slow.nextHTTPResponse(timeout: .seconds(10))  // the head is never finished
                if answer != nil { #expect(await slow.waitUntilClosed()) }
            }
            #expect(answer?.status == 408)

            let idle = try await gateway.peer()  // connects and says nothing
            #expect(await idle.waitUntilClosed(timeout: .seconds(10)))

            var kept = false
            for _ in 0..<3 where !kept {  // one request, then idle past the idle timeout
                let peer = try await gateway.peer()
                guard (try? await peer.sendHTTP("GET", "/v2/health/live")) != nil,
                    try await peer.nextHTTPResponse()?.status == 200
                else { continue }
                kept = true
                #expect(await peer.waitUntilClosed(timeout: .seconds(10)))
            }
            #expect(kept)
        }
    }

    @Test func aConnectionInUseOutlivesTheIdleTimeout() async throws {
        try await GatewayHarness.with(configure: Self.slowHeaders) { gateway, _ in  // idle after 3 s
            let peer = try await gateway.peer()
            let started = ContinuousClock.now
            var lastAnswer = started
            var answered = 0
            var closedWhileInUse = false
            var failure = ""
            // a request every 0.2 s for 5 s: the idle time counts from the last answer, not the first
            while started.duration(to: .now) < .seconds(5) {
                var response: RawHTTPResponse?
                if (try? await peer.sendHTTP("GET", "/v2/health/live")) != nil {
                    response = try await peer.nextHTTPResponse()
                }
                guard response?.status == 200 else {
                    // a starved machine may leave the connection idle for real; only a close right after use is wrong
                    closedWhileInUse = lastAnswer.duration(to: .now) < .milliseconds(2500)
                    failure =
                        "after \(answered) answers, \(lastAnswer.duration(to: .now)) after the last: \(response?.status.description ?? "no answer")"
                    break
                }
                answered += 1
                lastAnswer = .now
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(!closedWhileInUse, "\(failure)")
            #expect(answered > 0, "\(failure)")
            await peer.close()
        }
    }

    @Test func wrongLengthsAndMalformedRequestLinesGetAClearAnswer() async throws {
        try await GatewayHarness.with(configure: Self.slowBody) { gateway, _ in
            let good = Array(
                #"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#.utf8
            )
            // Content-Length shorter than the body: the rest is read as a request line, which is malformed
            let short =
                Array(
                    "POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: \(good.count - 10)\r\n\r\n"
                        .utf8
                ) + good
            let peer = try await gateway.peer()
            try await peer.send(short)
            #expect(try await peer.nextHTTPResponse()?.status == 400)  // the truncated JSON
            #expect(try await peer.nextHTTPResponse()?.status == 400)  // the leftover bytes
            #expect(await peer.waitUntilClosed())
            await peer.close()
            // Content-Length longer than the body: the body never completes
            let long =
                Array(
                    "POST /v2/models/digits/infer HTTP/1.1\r\nhost: x\r\ncontent-length: \(good.count + 10)\r\n\r\n"
                        .utf8
                ) + good
            let (timedOut, _) = try await self.exchange(gateway, long)
            #expect(timedOut?.status == 408)
            let (garbage, closed) = try await self.exchange(gateway, Array("HELLO THERE\r\n\r\n".utf8))
            #expect(garbage?.status == 400)
            #expect(garbage?.json?["error"] != nil)
            #expect(closed)
            let (twoLengths, _) = try await self.exchange(
                gateway,
                Array(
                    "POST /v2/models/digits/infer HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello".utf8
                )
            )
            #expect(twoLengths?.status == 400)
            #expect(gateway.backend.requestCount == 0)
        }
    }

    @Test func unknownPathsMethodsAndEncodingsAreRefused() async throws {
        try await GatewayHarness.with(configure: Self.small) { gateway, _ in
            let unknown = try await gateway.request("GET", "/v2/models/digits/explain")
            #expect(unknown.status == 404)
            #expect((unknown.json?["error"] as? String)?.contains("/v2/models/{name}") == true)
            let wrongMethod = try await gateway.request("GET", "/v2/models/digits/infer")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers["allow"] == "POST")
            let gzip = try await gateway.request(
                "POST",
                "/v2/models/digits/infer",
                headers: [("content-encoding", "gzip")],
                body: [0x1F, 0x8B, 0, 0]
            )
            #expect(gzip.status == 415)
            let badHeaderLength = try await gateway.request(
                "POST",
                "/v2/models/digits/infer",
                headers: [("inference-header-content-length", "99999")],
                body: Array("{}".utf8)
            )
            #expect(badHeaderLength.status == 400)
            #expect(gateway.backend.requestCount == 0)
            #expect(
                try await gateway.request("POST", "/v2/models/digits/infer", body: GatewayServerTests.jsonInfer).status
                    == 200
            )
        }
    }
}
