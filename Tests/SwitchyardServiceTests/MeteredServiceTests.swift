import Logging
import MetricsTestKit
import SwitchyardRuntime
import SwitchyardTransport
import SwitchyardWire
import Testing

struct MeteredServiceTests {
    @Test func everyRequestIsCountedByStatusAndTimedByModelAndVersion() async throws {
        let metrics = TestMetrics()
        let service = MeteredService(
            ClosureService { request, _ in
                switch request.routingKey {
                case "bad": throw Status(.invalidArgument, "wrong shape")
                case "boom": throw CancellationError()
                default: return Response(parameters: [Parameter("model.version", "3")])
                }
            },
            name: "router", factory: metrics
        )
        let context = RequestContext(requestID: 1, deadline: nil, peer: PeerIdentity(), logger: Logger(label: "test"))
        for key in ["", "", "bad", "boom"] {
            _ = try? await service.handle(Request(model: "digits", routingKey: key), context: context)
        }
        _ = try await service.handle(Request(model: "digits", version: "2"), context: context)
        let labels = [("service", "router"), ("method", "infer"), ("model", "digits")]
        #expect(try metrics.expectCounter("switchyard_requests_total", labels + [("version", "3"), ("code", "ok")]).values == [1, 1])
        #expect(try metrics.expectCounter("switchyard_requests_total", labels + [("version", ""), ("code", "invalid_argument")]).values == [1])
        #expect(try metrics.expectCounter("switchyard_requests_total", labels + [("version", ""), ("code", "cancelled")]).values == [1])
        #expect(try metrics.expectCounter("switchyard_requests_total", labels + [("version", "2"), ("code", "ok")]).values == [1])
        #expect(try metrics.expectTimer("switchyard_request_duration_seconds", labels + [("version", "3")]).values.count == 2)
        let inFlight = try metrics.expectMeter("switchyard_requests_in_flight", [("service", "router")])
        #expect(inFlight.values.last == 0)
    }

    @Test func labelValuesFromRequestsAreBounded() async throws {
        let metrics = TestMetrics()
        let service = MeteredService(
            ClosureService { request, _ in
                guard request.model.hasPrefix("real") else { throw Status(.notFound, "no model '\(request.model)'") }
                return Response()
            },
            name: "router", factory: metrics
        )
        let context = RequestContext(requestID: 1, deadline: nil, peer: PeerIdentity(), logger: Logger(label: "test"))
        // failures naming what never succeeded fold into one series
        for index in 0..<50 {
            _ = try? await service.handle(Request(model: "typo\(index)", version: "\(index)"), context: context)
        }
        let unknown = [("service", "router"), ("method", "infer"), ("model", "unknown"), ("version", "unknown")]
        #expect(try metrics.expectCounter("switchyard_requests_total", unknown + [("code", "not_found")]).values.count == 50)
        #expect(throws: (any Error).self) {
            try metrics.expectCounter(
                "switchyard_requests_total",
                [("service", "router"), ("method", "infer"), ("model", "typo3"), ("version", "3"), ("code", "not_found")]
            )
        }
        // answered values get their own label, up to the bound; later ones are "other"
        for index in 0..<(MeteredService.maxLabelValues + 5) {
            _ = try await service.handle(Request(model: "real\(index)"), context: context)
        }
        let first = [("service", "router"), ("method", "infer"), ("model", "real0"), ("version", ""), ("code", "ok")]
        #expect(try metrics.expectCounter("switchyard_requests_total", first).values.count == 1)
        let other = [("service", "router"), ("method", "infer"), ("model", "other"), ("version", ""), ("code", "ok")]
        #expect(try metrics.expectCounter("switchyard_requests_total", other).values.count == 5)
    }
}
