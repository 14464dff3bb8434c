import SwitchyardWire
import Testing

struct TraceIDTests {
    @Test func randomIDsAreUniqueAndLookRandom() {
        let count = 100_000
        var seen = Set<TraceID>(minimumCapacity: count)
        var highBits = 0
        var lowBits = 0
        for _ in 0..<count {
            let id = TraceID.random()
            seen.insert(id)
            highBits += id.high.nonzeroBitCount
            lowBits += id.low.nonzeroBitCount
        }
        #expect(seen.count == count)
        #expect(!seen.contains(.none))
        // about half the bits set in each half, as from a uniform source (32 ± a tenth of a bit here)
        #expect(abs(Double(highBits) / Double(count) - 32) < 0.1)
        #expect(abs(Double(lowBits) / Double(count) - 32) < 0.1)
        // consecutive ids share no visible structure: their halves differ in about half their bits
        let first = TraceID.random()
        let second = TraceID.random()
        #expect((first.high ^ second.high).nonzeroBitCount > 8)
        #expect((first.low ^ second.low).nonzeroBitCount > 8)
    }
}
