import NIOConcurrencyHelpers
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The connection-level rules of `protocols/vectors/*.exchange` (wire-v1.md §9.2), played against the real server
/// (with the echo service) and the real client over TLS on loopback.
@Suite(.timeLimit(.minutes(2)))
struct ExchangeTests {
    static let exchanges = (try? WireExchange.all(in: "protocols/vectors")) ?? []

    @Test(arguments: Self.exchanges.filter { $0.role == .server })
    func serverFollowsTheExchange(_ exchange: WireExchange) async throws {
        try await Harness.with(configure: { configuration in
            if let limit = exchange.config["max_in_flight"].flatMap(UInt32.init) {
                configuration.maxInFlightPerConnection = limit
            }
        }) { harness, _ in
            let peer = try await harness.rawPeer()
            defer { Task { await peer.close() } }
            for step in exchange.steps {
                switch step {
                case .send(_, let bytes):
                    try await peer.send(bytes)
                case .receive(let type, let fields):
                    try Self.expect(try await peer.nextFrame(), type: type, fields: fields, exchange: exchange)
                case .closed:
                    let frame = try await peer.nextFrame()
                    #expect(frame == nil, "\(exchange): expected the server to close, got \(frame?.summary ?? "")")
                    #expect(await peer.waitUntilClosed())
                case .call, .outcome:
                    Issue.record("\(exchange): a server-role exchange has no calls")
                }
            }
        }
    }

    @Test(arguments: Self.exchanges.filter { $0.role == .client })
    func clientFollowsTheExchange(_ exchange: WireExchange) async throws {
        let server = try await RawServer.start(tls: try Harness.serverTLS.makeServerContext())
        var configuration = WireClientConfiguration(host: "127.0.0.1", port: server.port, tls: Harness.clientTLS())
        configuration.connectTimeout = .seconds(20)
        configuration.keepaliveInterval = .seconds(300)  // no PING of its own in a script slowed by a busy machine
        let client = try WireClient(configuration: configuration, logger: Harness.logger)
        let connecting = Task { try await client.connect() }
        var calls: [Int: Task<String, Never>] = [:]
        for step in exchange.steps {
            switch step {
            case .send(_, let bytes):
                try await server.send(bytes)
            case .receive(let type, let fields):
                try Self.expect(try await server.nextFrame(), type: type, fields: fields, exchange: exchange)
            case .call(let number, let method, let deadline, let parameters):
                _ = try? await connecting.value  // calls start once the HELLOs are exchanged
                calls[number] = Task {
                    do {
                        let request = Request(method: method, parameters: parameters)
                        _ = try await client.call(
                            request,
                            deadline: deadline.map { ContinuousClock.now.advanced(by: $0) }
                        )
                        return "ok"
                    } catch {
                        return (error as? any StatusConvertible)?.status.code.description ?? "\(error)"
                    }
                }
            case .outcome(let number, let status):
                let call = try #require(calls[number], "\(exchange): call \(number) was never made")
                let finished = Task { await call.value }
                let timeout = Task {
                    try await Task.sleep(for: .seconds(5))
                    call.cancel()  // bounded: a call that never completes shows as cancelled
                }
                #expect(await finished.value == status, "\(exchange): call \(number)")
                timeout.cancel()
            case .closed:
                let frame = try await server.nextFrame()
                #expect(frame == nil, "\(exchange): expected the client to close, got \(frame?.summary ?? "")")
                #expect(await server.waitUntilClosed())
            }
        }
        connecting.cancel()
        await client.close()
        await server.close()
    }

    static func expect(_ frame: Frame?, type: String, fields: [WireExchange.FieldMatch], exchange: WireExchange) throws
    {
        let frame = try #require(frame, "\(exchange): expected \(type), the connection closed or nothing came")
        #expect("\(frame.type)" == type, "\(exchange): expected \(type), got \(frame.summary)")
        for field in fields {
            #expect(field.matches(frame.summary), "\(exchange): expected \(field) in \(frame.summary)")
        }
        if let name = exchange.expectedError, case .goAway(let goAway) = frame, goAway.status.code != .ok {
            #expect(
                goAway.status.message.hasPrefix("protocol error: \(name): "),
                "\(exchange): \(goAway.status.message)"
            )
        }
    }
}
