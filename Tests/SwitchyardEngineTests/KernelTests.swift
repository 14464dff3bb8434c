import Foundation
import Testing

@testable import SwitchyardEngine

/// Internal kernels checked directly, where the ONNX fixtures cannot reach every edge.
struct KernelTests {
    @Test func vectorizedExpIsAccurate() {
        var values = stride(from: Float(-87), through: 88, by: 0.0137).map { $0 }
        let reference = values.map { Foundation.exp(Double($0)) }
        values.withUnsafeMutableBufferPointer { exponentiate($0.baseAddress!, count: $0.count) }
        var worst = 0.0
        for (value, expected) in zip(values, reference) { worst = max(worst, abs(Double(value) - expected) / expected) }
        #expect(worst < 3e-7, "worst relative error \(worst)")
        var edges: [Float] = [.nan, -.infinity, -1000, 0]
        edges.withUnsafeMutableBufferPointer { exponentiate($0.baseAddress!, count: $0.count) }
        #expect(edges[0].isNaN)
        #expect(edges[1] >= 0 && edges[1] < 1e-37)
        #expect(edges[2] >= 0 && edges[2] < 1e-37)
        #expect(edges[3] == 1)
    }

    @Test func offsetAllocatorReusesFreedSpace() {
        var allocator = OffsetAllocator()
        let a = allocator.allocate(100)
        let b = allocator.allocate(64)
        allocator.release(a, 100)
        let c = allocator.allocate(128)  // fits where a was
        #expect(c == a)
        allocator.release(b, 64)
        allocator.release(c, 128)
        #expect(allocator.allocate(192) == 0)  // the three coalesced
        #expect(allocator.high == 192)
    }
}
