import Synchronization
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire
import Testing

/// A service's refusal at arrival (``WireService/refusal(for:deadline:)``) answers the request at once and ends it.
@Suite(.timeLimit(.minutes(2)))
struct RefusalAtArrivalTests {
    /// Refuses `shed` requests at arrival; echoes the rest.
    final class Shedding: WireService {
        /// Requests that reached the server.
        let arrivals = Atomic(0)

        func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
            self.arrivals.add(1, ordering: .relaxed)
            return request.method == "shed" ? Status(.resourceExhausted, "shed at arrival; retry after 1.0 ms") : nil
        }

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            Response(parameters: [Parameter("method", request.method)])
        }
    }

    /// Refused requests once stayed counted in flight: after `max_in_flight` of them every request on the connection
    /// was refused by the connection's limit instead.
    @Test func refusedRequestsDoNotCountAgainstTheConnectionsInFlightLimit() async throws {
        try await Harness.with(service: Shedding(), configure: { $0.maxInFlightPerConnection = 4 }) { harness, _ in
            let client = try harness.client()
            for _ in 0..<20 {
                let refused = await #expect(throws: Status.self) {
                    try await client.call(Request(method: "shed"), deadline: .now.advanced(by: .seconds(30)))
                }
                #expect(refused?.message == "shed at arrival; retry after 1.0 ms")
            }
            let answer = try await client.call(Request(method: "echo"), deadline: .now.advanced(by: .seconds(30)))
            #expect(answer[parameter: "method"] == "echo")
            await client.close()
        }
    }

    /// An idempotent request refused with a `retry after` hint is sent again after it, but the client's retry budget
    /// stops such retries once overload refusals outweigh answers (gRPC's retry throttling: 10 tokens, one per
    /// refusal, retries while more than 5 are left).
    @Test func overloadRefusalsWithAHintAreRetriedWithinTheClientsBudget() async throws {
        let service = Shedding()
        try await Harness.with(service: service) { harness, _ in
            let client = try harness.client()
            var request = Request(method: "shed")
            request.idempotent = true
            let retries = Atomic(0)
            for _ in 0..<10 {
                await #expect(throws: Status.self) {
                    try await client.call(request, deadline: .now.advanced(by: .seconds(30)), retry: CallRetryPolicy())
                    {
                        _ in retries.add(1, ordering: .relaxed)
                    }
                }
            }
            // the first call 3 retries (its limit), the second 1, then the budget is spent
            #expect(retries.load(ordering: .relaxed) == 4)
            #expect(service.arrivals.load(ordering: .relaxed) == 14)
            // without the hint honoured, nothing is retried
            let before = service.arrivals.load(ordering: .relaxed)
            let fresh = try harness.client()
            await #expect(throws: Status.self) {
                try await fresh.call(
                    request,
                    deadline: .now.advanced(by: .seconds(30)),
                    retry: .defaults { $0.honourRetryAfter = false }
                )
            }
            #expect(service.arrivals.load(ordering: .relaxed) == before + 1)
            await client.close()
            await fresh.close()
        }
    }

    /// With client-side adaptive throttling, a server that refuses everything is soon spared the requests: the client
    /// refuses them itself, as `throttled`.
    @Test func aThrottledClientSparesARefusingServer() async throws {
        let service = Shedding()
        try await Harness.with(service: service) { harness, _ in
            let client = try harness.client()
            let throttle = AdaptiveThrottle()
            var throttled = 0
            var refusedByServer = 0
            for _ in 0..<300 {
                do {
                    _ = try await client.call(
                        Request(method: "shed"),
                        deadline: .now.advanced(by: .seconds(30)),
                        retry: .none,
                        throttle: throttle
                    )
                } catch let error as TransportError {
                    #expect(error.code == .throttled)
                    throttled += 1
                } catch {
                    refusedByServer += 1
                }
            }
            #expect(throttled + refusedByServer == 300)
            #expect(service.arrivals.load(ordering: .relaxed) == refusedByServer)
            #expect(refusedByServer < 60, "\(refusedByServer) reached the server")
            await client.close()
        }
    }

    /// Holds every request until released.
    final class Holding: WireService {
        let released = Atomic(false)

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while !self.released.load(ordering: .relaxed), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            return Response()
        }
    }

    @Test func requestsBeingServedShareTheServersInFlightBytes() async throws {
        let service = Holding()
        try await Harness.with(service: service, configure: { $0.maxInFlightBytes = 100_000 }) { harness, _ in
            func request(_ bytes: Int) throws -> Request {
                Request(
                    method: "hold",
                    tensors: [NamedTensor("x", try Tensor([UInt8](repeating: 1, count: bytes), shape: [1, bytes]))]
                )
            }
            let client = try harness.client()
            let held = Task { try await client.call(try request(60_000), deadline: .now.advanced(by: .seconds(60))) }
            try await waitUntil { harness.server.inFlightBytes >= 60_000 }
            let refused = await #expect(throws: Status.self) {
                try await client.call(try request(60_000), deadline: .now.advanced(by: .seconds(30)))
            }
            #expect(refused?.code == .resourceExhausted)
            #expect(refused?.message.contains("limit of 100000 bytes of requests") == true)
            service.released.store(true, ordering: .relaxed)
            _ = try await held.value
            try await waitUntil { harness.server.inFlightBytes == 0 }
            _ = try await client.call(try request(60_000), deadline: .now.advanced(by: .seconds(30)))
            await client.close()
        }
    }
}
