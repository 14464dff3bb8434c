@testable import SwitchyardRouter
import SwitchyardWire
import Testing

struct RequestIDTests {
    /// Request ids go back with every answer: the caller's trace id in hex, without leading zeros, as
    /// `String(_:radix:)` writes it.
    @Test(arguments: [
        TraceID(high: 0, low: 0), TraceID(high: 1, low: 0xF), TraceID(high: 0x10, low: .max),
        TraceID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210), TraceID(high: .max, low: 1 << 63),
    ])
    func requestIDsAreTheTraceIDInHex(trace: TraceID) {
        guard trace != .none else {
            let id = RouterService.requestID(trace)  // a random one: two hex numbers
            #expect(id.split(separator: "-").allSatisfy { UInt64($0, radix: 16) != nil })
            return
        }
        #expect(RouterService.requestID(trace) == String(trace.high, radix: 16) + "-" + String(trace.low, radix: 16))
    }
}
