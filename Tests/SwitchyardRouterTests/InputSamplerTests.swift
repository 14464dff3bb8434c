import SwitchyardRouter
import SwitchyardTensor
import Testing

/// The router's sample of answered requests for the monitor's drift detection.
struct InputSamplerTests {
    @Test func theSamplerKeepsRowsAndClassesUpToItsLimit() throws {
        let sampler = InputSampler()
        sampler.offer(
            model: "m",
            version: "1",
            inputs: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 8), shape: [2, 4]))],
            outputs: [NamedTensor("label", try Tensor([Int64(3), 4], shape: [2]))]
        )
        #expect(sampler.drain().isEmpty)  // off until configured
        sampler.configure(rate: 1, limit: 3)
        for _ in 0..<2 {
            sampler.offer(
                model: "m",
                version: "1",
                inputs: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 8), shape: [2, 4]))],
                outputs: [NamedTensor("scores", try Tensor([Float(0.1), 0.9, 0.8, 0.2], shape: [2, 2]))]
            )
        }
        let drained = sampler.drain()
        #expect(drained.map(\.name) == ["inputs/m/1", "classes/m/1"])
        #expect(drained[0].tensor.shape == [3, 4])
        #expect(try drained[1].tensor.scalars(as: Int64.self) == [1, 0, 1])
        #expect(sampler.drain().isEmpty)
    }
}
