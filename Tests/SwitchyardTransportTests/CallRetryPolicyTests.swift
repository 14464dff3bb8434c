import SwitchyardTransport
import SwitchyardWire
import Testing

/// Which failed calls the client sends again, and after what pause.
struct CallRetryPolicyTests {
    @Test func onlyUnprocessedCallsAndIdempotentUnavailableOnesAreRetried() {
        let policy = CallRetryPolicy()
        var once = Request(method: "infer")
        once.idempotent = false
        var idempotent = Request(method: "infer")
        idempotent.idempotent = true
        let notProcessed = TransportError(.notProcessed, "draining")
        let unavailable = Status(.unavailable, "no instance")
        // never read by the server: safe to send again, idempotent or not
        #expect(policy.allowsRetry(of: notProcessed, for: once))
        #expect(policy.allowsRetry(of: TransportError(.connectFailed, "refused"), for: once))
        // may have been processed: only an idempotent call goes again
        #expect(!policy.allowsRetry(of: unavailable, for: once))
        #expect(policy.allowsRetry(of: unavailable, for: idempotent))
        #expect(!policy.allowsRetry(of: TransportError(.connectionClosed, "lost"), for: once))
        // answers that another try would not change
        for code in [Status.Code.invalidArgument, .notFound, .deadlineExceeded, .resourceExhausted] {
            #expect(!policy.allowsRetry(of: Status(code, "no"), for: idempotent), "\(code)")
        }
        #expect(!policy.allowsRetry(of: CancellationError(), for: idempotent))
    }

    @Test func pausesDoubleUpToTheLimitWithJitterTakenOff() {
        let policy = CallRetryPolicy()
        for _ in 0..<50 {
            let first = policy.backoff(before: 1)
            #expect(first >= .microseconds(12_500) && first <= .milliseconds(25))
            let third = policy.backoff(before: 3)
            #expect(third >= .milliseconds(50) && third <= .milliseconds(100))
            #expect(policy.backoff(before: 60) <= .seconds(1))
        }
        #expect(CallRetryPolicy.none.maxRetries == 0)
    }
}
