import SwitchyardTransport
import SwitchyardWire
import Testing

/// Client-side adaptive throttling (the SRE book's): refuses locally about what exceeds K times the accepts.
struct AdaptiveThrottleTests {
    private let refused = Status(.resourceExhausted, "overloaded: predicted queueing 20.0 ms; retry after 7.0 ms")

    @Test func refusesNothingWhileTheServiceAccepts() {
        let throttle = AdaptiveThrottle()
        for _ in 0..<2000 {
            #expect(throttle.admit() == nil)
            throttle.record(nil)
        }
        #expect(throttle.rejectionProbability == 0)
        // failures other than the overload refusal are accepts: the service did the work
        for _ in 0..<500 {
            #expect(throttle.admit() == nil)
            throttle.record(Status(.invalidArgument, "wrong shape"))
        }
        #expect(throttle.rejectionProbability == 0)
    }

    @Test func sendsAboutKTimesWhatTheServiceAccepts() {
        // 20,000 requests offered to a service that accepts one per ten offered (a capacity, not a fraction of
        // what it is sent); K = 2 lets through about two per accept
        let throttle = AdaptiveThrottle(settings: .defaults { $0.multiplier = 2 })
        var sent = 0
        var accepted = 0
        var throttled = 0
        for offered in 1...20_000 {
            if let error = throttle.admit() {
                #expect(error.code == .throttled)
                #expect(error.status.code == .resourceExhausted)
                throttled += 1
                continue
            }
            sent += 1
            if accepted < offered / 10 {
                accepted += 1
                throttle.record(nil)
            } else {
                throttle.record(self.refused)
            }
        }
        // without the throttle all 20,000 reach the service and 18,000 are refused there
        #expect(accepted > 1900, "accepted \(accepted)")
        let ratio = Double(sent) / Double(accepted)
        #expect(ratio > 1.8 && ratio < 2.3, "sent \(sent), accepted \(accepted)")
        #expect(throttled > 15_000)
        #expect(throttle.rejectionProbability > 0.7)
    }

    @Test func localFailuresAreNoAccepts() {
        let throttle = AdaptiveThrottle()
        for _ in 0..<1000 {
            guard throttle.admit() == nil else { continue }
            throttle.record(TransportError(.connectFailed, "refused"))
        }
        #expect(throttle.rejectionProbability > 0.9)
    }

    @Test func forgetsRefusalsOutsideItsWindow() async throws {
        let throttle = AdaptiveThrottle(settings: .defaults { $0.window = .milliseconds(200) })
        for _ in 0..<1000 {
            guard throttle.admit() == nil else { continue }
            throttle.record(self.refused)
        }
        #expect(throttle.rejectionProbability > 0.9)
        try await Task.sleep(for: .milliseconds(300))
        #expect(throttle.rejectionProbability == 0)
        #expect(throttle.admit() == nil)
    }

    @Test func retryAfterHintsAreReadFromOverloadRefusals() {
        #expect(self.refused.retryAfter == .milliseconds(7))
        #expect(Status(.resourceExhausted, "queue full; retry after 0.1 ms").retryAfter == .microseconds(100))
        #expect(Status(.resourceExhausted, "the batch queue is full (1024 requests)").retryAfter == nil)
        // the last hint counts; a hint without its unit, without a number, or past an hour is none
        #expect(
            Status(.resourceExhausted, "retry after 9 ms was wrong; retry after 12.5 ms").retryAfter
                == .microseconds(12_500)
        )
        #expect(Status(.resourceExhausted, "überlastet; retry after 3 ms").retryAfter == .milliseconds(3))
        #expect(Status(.resourceExhausted, "retry after 3").retryAfter == nil)
        #expect(Status(.resourceExhausted, "retry after  ms").retryAfter == nil)
        #expect(Status(.resourceExhausted, "retry after 3600001 ms").retryAfter == nil)
        #expect(Status(.unavailable, "retry after 3 ms").retryAfter == nil)
        #expect(Status(.unavailable, "retry after 5.0 ms").retryAfter == nil)
        #expect(Status(.resourceExhausted, "retry after soon").retryAfter == nil)
        #expect(Status(.resourceExhausted, "retry after 5.0 s").retryAfter == nil)
        #expect(Status(.resourceExhausted, "retry after 1e99 ms").retryAfter == nil)
    }

    @Test func onlyIdempotentOverloadRefusalsWithAHintAreRetried() {
        var idempotent = Request(method: "infer")
        idempotent.idempotent = true
        var once = Request(method: "infer")
        once.idempotent = false
        let policy = CallRetryPolicy()
        #expect(policy.allowsRetry(of: self.refused, for: idempotent))
        #expect(policy.retryAfter(of: self.refused) == .milliseconds(7))
        #expect(!policy.allowsRetry(of: self.refused, for: once))
        #expect(!policy.allowsRetry(of: Status(.resourceExhausted, "queue full"), for: idempotent))
        // this client's own refusals are not the server's hint
        #expect(!policy.allowsRetry(of: TransportError(.throttled, "retry after 7.0 ms"), for: idempotent))
        let ignoring = CallRetryPolicy.defaults { $0.honourRetryAfter = false }
        #expect(!ignoring.allowsRetry(of: self.refused, for: idempotent))
    }
}
