import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The server's connection cap, and what a client learns from a draining server.
@Suite(.timeLimit(.minutes(2)))
struct ConnectionLimitTests {
    @Test func connectionsPastTheCapAreClosedAtOnceAndTheServerServesTheRest() async throws {
        try await Harness.with(configure: {
            $0.maxConnections = 2
            $0.handshakeTimeout = .seconds(120)  // the held connections never shake hands
            $0.evictIdleConnectionsAfter = nil  // nor make room for the third
        }) { harness, _ in
            let first = try await RawPeer.connect(port: harness.port, tls: nil)
            let second = try await RawPeer.connect(port: harness.port, tls: nil)
            try await waitUntil { harness.server.connectionCount == 2 }
            let third = try await RawPeer.connect(port: harness.port, tls: nil)
            #expect(await third.waitUntilClosed(timeout: .seconds(30)))
            #expect(harness.server.refusedConnectionCount == 1)
            #expect(!(await first.waitUntilClosed(timeout: .milliseconds(100))))
            await first.close()
            try await waitUntil { harness.server.connectionCount == 1 }
            let client = try harness.client()
            _ = try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(30)))
            await client.close()
            await second.close()
        }
    }

    @Test func oneAddressPastItsOwnLimitIsRefusedWhileOtherAddressesStillGetIn() async throws {
        try await Harness.with(configure: {
            $0.maxConnections = 4
            $0.maxConnectionsPerPeer = 2
            $0.handshakeTimeout = .seconds(120)  // the held connections never shake hands
            $0.evictIdleConnectionsAfter = nil
        }) { harness, _ in
            // a flood from 127.0.0.1 holds its two connections; its third is closed at accept
            let first = try await RawPeer.connect(port: harness.port, tls: nil, from: "127.0.0.1")
            let second = try await RawPeer.connect(port: harness.port, tls: nil, from: "127.0.0.1")
            try await waitUntil { harness.server.connectionCount == 2 }
            let third = try await RawPeer.connect(port: harness.port, tls: nil, from: "127.0.0.1")
            #expect(await third.waitUntilClosed(timeout: .seconds(30)))
            #expect(harness.server.refusedConnectionCount == 1)
            // the server's cap has room: a client from another address shakes hands and is answered
            let other = try await RawPeer.connect(
                port: harness.port,
                tls: try Harness.clientTLS().makeClientContext(),
                from: "127.0.0.2"
            )
            #expect(try await other.handshake() != nil)
            try await other.send(.request(id: 1, Request(method: "echo")))
            guard case .response? = try await other.nextFrame(timeout: .seconds(30)) else {
                Issue.record("the other address's request got no answer")
                return
            }
            #expect(harness.server.refusedConnectionCount == 1)
            #expect(!(await first.waitUntilClosed(timeout: .milliseconds(100))))
            // once one of its connections closes, the address may open another
            await first.close()
            try await waitUntil { harness.server.connectionCount == 2 }
            let again = try await RawPeer.connect(port: harness.port, tls: nil, from: "127.0.0.1")
            try await waitUntil { harness.server.connectionCount == 3 }
            #expect(!(await again.waitUntilClosed(timeout: .milliseconds(100))))
            #expect(harness.server.refusedConnectionCount == 1)
            await again.close()
            await second.close()
            await other.close()
        }
    }

    @Test func framesStillArrivingShareTheServersBufferBudget() async throws {
        try await Harness.with(configure: { $0.maxBufferedBytes = 100_000 }) { harness, _ in
            /// A REQUEST frame carrying about `bytes` bytes of tensor data.
            func frame(_ bytes: Int, id: UInt32) throws -> [UInt8] {
                let tensor = try Tensor([UInt8](repeating: 1, count: bytes), shape: [1, bytes])
                return Frame.request(id: id, Request(method: "echo", tensors: [NamedTensor("x", tensor)])).encoded()
            }
            let slow = try await harness.rawPeer()
            #expect(try await slow.handshake() != nil)
            let first = try frame(60_000, id: 1)
            try await slow.send(Array(first.prefix(1000)))  // a frame of 60 kB, stalled after 1 kB
            try await waitUntil { harness.server.bufferedBytes > 0 }
            let greedy = try await harness.rawPeer()
            #expect(try await greedy.handshake() != nil)
            try await greedy.send(Array(try frame(60_000, id: 1).prefix(1000)))  // 120 kB would be over the budget
            guard case .goAway(let goAway)? = try await greedy.nextFrame(timeout: .seconds(30)) else {
                Issue.record("no GOAWAY for the frame over the budget")
                return
            }
            #expect(goAway.status.code == .resourceExhausted, "\(goAway.status)")
            #expect(await greedy.waitUntilClosed(timeout: .seconds(30)))
            // the first connection is unharmed: its frame completes and is answered
            try await slow.send(Array(first.dropFirst(1000)))
            guard case .response(let id, _)? = try await slow.nextFrame(timeout: .seconds(30)) else {
                Issue.record("the stalled frame was not answered once complete")
                return
            }
            #expect(id == 1)
            #expect(harness.server.bufferedBytes == 0)
            // a connection that goes away mid-frame gives its share back
            try await slow.send(Array(try frame(60_000, id: 2).prefix(1000)))
            try await waitUntil { harness.server.bufferedBytes > 0 }
            await slow.close()
            try await waitUntil { harness.server.bufferedBytes == 0 }
        }
    }

    @Test func aDrainingServerMarksItsClientDrainingAndNewRequestsAreNotProcessed() async throws {
        try await Harness.with { harness, group in
            let client = try harness.client()
            _ = try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(30)))
            #expect(!client.isDraining)
            await group.triggerGracefulShutdown()  // GOAWAY on every connection, the listener closed
            try await waitUntil { client.isDraining }
            do {
                _ = try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(30)))
                Issue.record("a draining server answered a new request")
            } catch let error as TransportError {
                #expect(error.requestWasNotProcessed, "\(error)")
                #expect(error.status.code == .unavailable)
            }
            await client.close()
        }
    }
}

/// Polls `condition` every 5 ms for up to 30 s: a starved machine may take long to schedule the other side.
func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now.advanced(by: .seconds(30))
    while !condition() {
        try #require(ContinuousClock.now < deadline, "condition not met within 30 s")
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// At the connection cap, the longest-idle connection makes room for a new one.
@Suite(.timeLimit(.minutes(2)))
struct ConnectionEvictionTests {
    @Test func aClientConnectingAtTheCapDrainsTheLongestIdleConnectionAndIsServed() async throws {
        try await Harness.with(configure: {
            $0.maxConnections = 2
            $0.evictIdleConnectionsAfter = .milliseconds(300)
        }) { harness, _ in
            // two connections that shook hands and now sit idle: the cap is full
            let first = try await harness.rawPeer()
            #expect(try await first.handshake() != nil)
            let second = try await harness.rawPeer()
            #expect(try await second.handshake() != nil)
            try await waitUntil { harness.server.connectionCount == 2 }
            try await Task.sleep(for: .milliseconds(400))
            let client = try harness.client()
            _ = try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(30)))
            #expect(harness.server.evictedConnectionCount == 1)
            #expect(harness.server.refusedConnectionCount == 0)
            // the first (idle the longest) was told to go, with a reason
            guard case .goAway(let goAway)? = try await first.nextFrame(timeout: .seconds(30)) else {
                Issue.record("the longest-idle connection got no GOAWAY")
                return
            }
            #expect(goAway.status.code == .ok)
            #expect(goAway.status.message.contains("connection limit"))
            #expect(await first.waitUntilClosed(timeout: .seconds(30)))
            #expect(!(await second.waitUntilClosed(timeout: .milliseconds(100))))
            await client.close()
            await second.close()
        }
    }

    @Test func aConnectionIdleForLessThanTheAgeIsKeptAndTheNewOneRefused() async throws {
        try await Harness.with(configure: {
            $0.maxConnections = 1
            $0.evictIdleConnectionsAfter = .seconds(60)
        }) { harness, _ in
            let busy = try await harness.rawPeer()
            #expect(try await busy.handshake() != nil)
            try await waitUntil { harness.server.connectionCount == 1 }
            let late = try await RawPeer.connect(port: harness.port, tls: nil)
            #expect(await late.waitUntilClosed(timeout: .seconds(30)))
            #expect(harness.server.refusedConnectionCount == 1)
            #expect(harness.server.evictedConnectionCount == 0)
            await busy.close()
        }
    }
}
