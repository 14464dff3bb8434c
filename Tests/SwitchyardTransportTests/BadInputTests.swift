import NIOSSL
import ServiceLifecycle
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Malformed and hostile peers. Each must get a protocol error (GOAWAY) or a clean close, and the
/// server must go on serving its other connections.
@Suite(.timeLimit(.minutes(2)))
struct BadInputTests {
    /// Sends `bytes` after a good HELLO and expects GOAWAY with `invalid argument`, then a close.
    static func expectProtocolError(_ bytes: [UInt8], in harness: Harness, mentioning text: String) async throws {
        let peer = try await harness.rawPeer()
        #expect(try await peer.handshake() != nil)
        try await peer.send(bytes)
        var frame = try await peer.nextFrame()
        while case .response? = frame {  // well-formed requests before the bad bytes are still answered
            frame = try await peer.nextFrame()
        }
        guard case .goAway(let goAway)? = frame else {
            Issue.record("expected GOAWAY, got \(String(describing: frame))")
            return
        }
        #expect(goAway.status.code == .invalidArgument)
        #expect(goAway.status.message.contains(text), "\(goAway.status.message)")
        #expect(await peer.waitUntilClosed())
    }

    /// The server still answers a well-behaved client.
    static func expectHealthy(_ harness: Harness) async throws {
        let client = try harness.client()
        let response = try await client.call(Request(method: "health"))
        #expect(response[parameter: "status"] == "serving")
        await client.close()
    }

    static func ping() -> [UInt8] { Frame.ping(1).encoded() }

    @Test func malformedFramesGetAProtocolErrorAndTheServerStaysHealthy() async throws {
        try await Harness.with { harness, _ in
            // a good client stays connected throughout and is unaffected
            let bystander = try harness.client()
            _ = try await bystander.call(Request(method: "health"))

            var wrongMagic = Self.ping()
            wrongMagic[0] = 0x47
            try await Self.expectProtocolError(wrongMagic, in: harness, mentioning: "magic")
            var wrongVersion = Self.ping()
            wrongVersion[2] = 9
            try await Self.expectProtocolError(wrongVersion, in: harness, mentioning: "version")
            var unknownType = Self.ping()
            unknownType[3] = 0x33
            try await Self.expectProtocolError(unknownType, in: harness, mentioning: "unknown critical frame type")
            var unknownFlag = Self.ping()
            unknownFlag[4] = 0x80
            try await Self.expectProtocolError(unknownFlag, in: harness, mentioning: "flags")
            var tooLong = Self.ping()
            tooLong[15] = 0x7F
            try await Self.expectProtocolError(tooLong, in: harness, mentioning: "over the limit")
            // a tensor whose data length disagrees with dtype × shape
            let good = Frame.request(
                id: 1,
                Request(
                    method: "echo",
                    tensors: [NamedTensor("x", try Tensor([Float](repeating: 0, count: 4), shape: [2, 2]))]
                )
            )
            var badTensor = good.encoded()
            let dims: [UInt8] = [2, 0, 0, 0, 2, 0, 0, 0]
            let at = try #require((0...(badTensor.count - 8)).first { Array(badTensor[$0..<($0 + 8)]) == dims })
            badTensor[at] = 3  // shape [3,2]: 24 bytes expected, 16 present
            let summary = (try? Frame(decoding: badTensor))?.summary
            #expect(summary == nil)
            try await Self.expectProtocolError(badTensor, in: harness, mentioning: "tensor")
            // absurd rank, and a dimension that would need petabytes
            let rank = WireVector.all(in: "protocols/vectors").first { $0.name == "tensor-absurd-rank" }!
            try await Self.expectProtocolError(rank.bytes, in: harness, mentioning: "rank")
            let dimension = WireVector.all(in: "protocols/vectors").first { $0.name == "tensor-absurd-dimension" }!
            try await Self.expectProtocolError(dimension.bytes, in: harness, mentioning: "tensor")
            // a RESPONSE sent to a server
            try await Self.expectProtocolError(
                Frame.response(id: 99, Response()).encoded(),
                in: harness,
                mentioning: "RESPONSE"
            )
            // request ids must increase
            let twice = Frame.request(id: 5, Request(method: "health")).encoded()
            try await Self.expectProtocolError(twice + twice, in: harness, mentioning: "not above")

            _ = try await bystander.call(Request(method: "health"))
            await bystander.close()
            try await Self.expectHealthy(harness)
            // every refused peer's connection is gone: nothing leaked
            let deadline = ContinuousClock.now.advanced(by: .seconds(5))
            while harness.server.connectionCount > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(harness.server.connectionCount == 0)
        }
    }

    @Test func randomBytesAreRefused() async throws {
        try await Harness.with { harness, _ in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<5 {
                let peer = try await harness.rawPeer()
                #expect(try await peer.handshake() != nil)
                try await peer.send((0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) })
                #expect(await peer.waitUntilClosed())
            }
            // garbage instead of HELLO
            let peer = try await harness.rawPeer()
            try await peer.send([UInt8](repeating: 0xAB, count: 64))
            #expect(await peer.waitUntilClosed())
            try await Self.expectHealthy(harness)
        }
    }

    @Test func plaintextClientOnTheTLSPortIsClosed() async throws {
        try await Harness.with { harness, _ in
            let peer = try await RawPeer.connect(port: harness.port, tls: nil)
            try await peer.send(Frame.hello(Hello(maxInFlight: 0, identity: "plain")).encoded())
            #expect(await peer.waitUntilClosed())
            try await Self.expectHealthy(harness)
        }
    }

    @Test func clientCertificateFromAForeignCAIsRefused() async throws {
        try await Harness.with { harness, _ in
            let intruder = try harness.client(name: "intruder") { configuration in
                configuration.tls = Harness.clientTLS("intruder", fixture: Harness.foreign)
            }
            await #expect { try await intruder.call(Request(method: "health")) } throws: {
                ($0 as? TransportError)?.code == .connectFailed
            }
            // no certificate at all, where mutual TLS is required
            var anonymous = Harness.clientTLS()
            anonymous.certificatePath = nil
            anonymous.keyPath = nil
            let nobody = try harness.client { $0.tls = anonymous }
            await #expect(throws: (any Error).self) { try await nobody.call(Request(method: "health")) }
            try await Self.expectHealthy(harness)
        }
    }

    @Test func peerThatStallsMidFrameIsDisconnected() async throws {
        try await Harness.with(configure: {
            $0.keepaliveInterval = .milliseconds(500)
            $0.keepaliveTimeout = .seconds(5)
        }) { harness, _ in  // generous: a busy machine must not drop the peer before it sends half a frame
            let peer = try await harness.rawPeer()
            #expect(try await peer.handshake() != nil)
            let frame = Frame.request(
                id: 1,
                Request(method: "echo", tensors: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 100)))])
            ).encoded()
            try await peer.send(Array(frame[..<50]))  // half a frame, then silence
            #expect(await peer.waitUntilClosed(timeout: .seconds(30)))
            try await Self.expectHealthy(harness)
        }
    }

    @Test func silentPeerIsPingedThenDropped() async throws {
        try await Harness.with(configure: {
            $0.keepaliveInterval = .milliseconds(200)
            $0.keepaliveTimeout = .seconds(1)
        }) { harness, _ in  // a starved client still answers PING in time
            let peer = try await harness.rawPeer()
            #expect(try await peer.handshake() != nil)
            guard case .ping? = try await peer.nextFrame() else {
                Issue.record("expected a PING")
                return
            }
            #expect(await peer.waitUntilClosed(timeout: .seconds(30)))  // it never answered
        }
    }

    @Test func handshakeThatNeverFinishesTimesOut() async throws {
        // a starved machine still finishes TLS in time
        try await Harness.with(configure: { $0.handshakeTimeout = .seconds(1) }) { harness, _ in
            let peer = try await RawPeer.connect(port: harness.port, tls: nil)  // TCP only, says nothing
            #expect(await peer.waitUntilClosed(timeout: .seconds(30)))
            let tlsOnly = try await harness.rawPeer()  // TLS, but never sends HELLO
            #expect(await tlsOnly.waitUntilClosed(timeout: .seconds(30)))
        }
    }

    @Test func helloWithNoCommonVersionIsRefused() async throws {
        try await Harness.with { harness, _ in
            let peer = try await harness.rawPeer()
            try await peer.send(.hello(Hello(minVersion: 2, maxVersion: 3, maxInFlight: 0, identity: "future")))
            guard case .goAway(let goAway)? = try await peer.nextFrame() else {
                Issue.record("expected GOAWAY")
                return
            }
            #expect(goAway.status.code == .failedPrecondition)
            #expect(await peer.waitUntilClosed())
        }
    }

    @Test func excessRequestsAreShedAndReadingStopsAtTheInFlightLimit() async throws {
        let service = ClosureService { _, _ in
            try await Task.sleep(for: .milliseconds(300))
            return Response()
        }
        try await Harness.with(service: service, configure: { $0.maxInFlightPerConnection = 2 }) { harness, _ in
            let peer = try await harness.rawPeer()
            let hello = try #require(try await peer.handshake())
            #expect(hello.maxInFlight == 2)
            var burst: [UInt8] = []
            for id in UInt32(1)...5 { burst += Frame.request(id: id, Request(method: "slow")).encoded() }
            try await peer.send(burst)
            var shed = 0
            var answered = 0
            for _ in 0..<5 {
                switch try await peer.nextFrame() {
                case .error(_, let status)? where status.code == .resourceExhausted: shed += 1
                case .response?: answered += 1
                default: Issue.record("unexpected frame")
                }
            }
            #expect(shed == 3)
            #expect(answered == 2)
            await peer.close()
        }
    }

    @Test func cancelForAnUnknownRequestIsIgnored() async throws {
        try await Harness.with { harness, _ in
            let peer = try await harness.rawPeer()
            #expect(try await peer.handshake() != nil)
            try await peer.send(.cancel(id: 77))
            try await peer.send(.request(id: 1, Request(method: "health")))
            guard case .response(let id, _)? = try await peer.nextFrame() else {
                Issue.record("expected a RESPONSE")
                return
            }
            #expect(id == 1)
            await peer.close()
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct ConnectionLifecycleTests {
    @Test func idleConnectionIsClosedWithGoAway() async throws {
        // long enough that a starved test machine still gets its request in before the connection counts as idle
        try await Harness.with(configure: { $0.idleTimeout = .milliseconds(1500) }) { harness, _ in
            // a machine starved for longer than the idle timeout between HELLO and the request gets a GOAWAY
            // first: the test then tries again on a new connection (at most 5 times)
            var answered: RawPeer?
            var frame: Frame?
            for _ in 0..<5 where answered == nil {
                let peer = try await harness.rawPeer()
                let hello = try #require(try await peer.handshake())
                #expect(hello.idleTimeoutMilliseconds == 1500)
                do {  // the server may have closed the idle connection already
                    try await peer.send(.request(id: 1, Request(method: "health")))
                    frame = try await peer.nextFrame()
                    while case .ping(let opaque)? = frame {
                        try await peer.send(.pong(opaque))
                        frame = try await peer.nextFrame()
                    }
                } catch {
                    frame = nil
                }
                if case .response? = frame { answered = peer } else { await peer.close() }
            }
            guard let peer = answered else {
                Issue.record("expected a RESPONSE, got \(String(describing: frame))")
                return
            }
            frame = try await peer.nextFrame()
            while case .ping(let opaque)? = frame {  // stay alive as far as keepalive goes, but send no requests
                try await peer.send(.pong(opaque))
                frame = try await peer.nextFrame()
            }
            guard case .goAway(let goAway)? = frame else {
                Issue.record("expected GOAWAY, got \(String(describing: frame))")
                return
            }
            #expect(goAway.status.code == .ok)
            #expect(goAway.lastRequestID == 1)
            #expect(await peer.waitUntilClosed())
        }
    }

    @Test func drainFinishesAcceptedWorkAndLaterCallsFailFast() async throws {
        // A draining server answers what it accepted; afterwards calls fail cleanly instead of hanging.
        let gate = Recorder()
        let service = ClosureService { request, _ in
            if request.method == "slow" {
                await gate.record("slow started")
                try await Task.sleep(for: .milliseconds(300))
            }
            return Response(parameters: [Parameter("method", request.method)])
        }
        try await Harness.with(service: service) { harness, group in
            let client = try harness.client()
            let slow = Task { try await client.call(Request(method: "slow")) }
            #expect(await gate.waitFor("slow started"))
            await group.triggerGracefulShutdown()
            #expect(try await slow.value[parameter: "method"] == "slow")
            // once the server has finished shutting down (a starved machine may take a moment), a new call fails
            // cleanly within its deadline instead of hanging
            var failed = false
            for _ in 0..<50 where !failed {
                do {
                    _ = try await client.call(Request(method: "fast"), deadline: .now.advanced(by: .seconds(3)))
                    try await Task.sleep(for: .milliseconds(100))
                } catch {
                    failed = true
                }
            }
            #expect(failed)
        }
    }

    @Test func peerThatNeverReadsAnswersDoesNotStallOtherConnections() async throws {
        // The peer sends many requests whose answers are large and never reads them; the server stops reading it
        // (outbound buffer full, in-flight limit) and goes on serving other connections.
        let big = try Tensor([UInt8](repeating: 7, count: 256 * 1024))
        let service = ClosureService { _, _ in Response(tensors: [NamedTensor("big", big)]) }
        try await Harness.with(service: service, configure: { $0.maxInFlightPerConnection = 4 }) { harness, _ in
            let peer = try await harness.rawPeer()
            #expect(try await peer.handshake() != nil)
            var burst: [UInt8] = []
            for id in UInt32(1)...200 { burst += Frame.request(id: id, Request(method: "big")).encoded() }
            try await peer.send(burst)
            try await Task.sleep(for: .milliseconds(300))
            let client = try harness.client()
            let response = try await client.call(Request(method: "other"), deadline: .now.advanced(by: .seconds(5)))
            #expect(response.tensors.first?.tensor.data.count == 256 * 1024)
            await client.close()
            await peer.close()
        }
    }
}
