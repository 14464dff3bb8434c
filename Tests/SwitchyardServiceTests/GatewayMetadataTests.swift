import Foundation
import SwitchyardGateway
import SwitchyardModelConfig
import SwitchyardPipeline
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import Testing

/// The metadata the router's HTTP port gives for a model is read from its config alone (the router runs no
/// pipeline); it must name what the pipeline stages really take and produce.
struct GatewayMetadataTests {
    static let config = #"""
        {"name": "faces", "max_batch_size": 32, "labels": ["a", "b", "c", "d"],
         "inputs": [{"name": "X", "dtype": "f32", "shape": [-1, 64]}],
         "outputs": [{"name": "logits", "dtype": "f32", "shape": [-1, 4]}, {"name": "embedding", "dtype": "f32", "shape": [-1, 8]}],
         "pipeline": {
           "preprocess": [{"op": "image", "input": "image", "output": "X", "channels": 1, "height": 8, "width": 8, "layout": "flat"},
                          {"op": "scale", "input": "X", "by": 0.0627451}],
           "postprocess": [{"op": "softmax", "input": "logits", "output": "probabilities"}, {"op": "topk", "input": "probabilities", "k": 3},
                           {"op": "argmax", "input": "probabilities"}, {"op": "threshold", "input": "probabilities", "min": 0.5}]}}
        """#

    @Test func outputsAreWhatThePostprocessStageProduces() throws {
        let config = try ModelConfig.decode(Data(Self.config.utf8), source: "test")
        var batching = BatcherConfiguration()
        batching.maxBatchSize = 32
        let metadata = ModelMetadata(name: "faces", versions: [3], config: config, batching: batching)
        let postprocess = try Postprocess(pipelineJSON: config.pipelineJSON, labels: config.labels)
        let rows = 2
        let produced = try postprocess.apply(to: [
            NamedTensor("logits", try Tensor((0..<(rows * 4)).map { Float($0) }, shape: [rows, 4])),
            NamedTensor("embedding", try Tensor([Float](repeating: 0, count: rows * 8), shape: [rows, 8])),
        ])
        #expect(metadata.outputs.map(\.name) == produced.map(\.name))
        for (described, real) in zip(metadata.outputs, produced) {
            #expect(described.dtype == real.tensor.dtype, "\(described.name)")
            #expect(described.shape.count == real.tensor.shape.rank, "\(described.name)")
            for (dim, size) in zip(described.shape, real.tensor.shape.dims) where dim != -1 {
                #expect(dim == size, "\(described.name): \(described.shape) vs \(real.tensor.shape)")
            }
        }
    }

    @Test func inputsAreWhatAClientSendsBeforePreprocessing() throws {
        let config = try ModelConfig.decode(Data(Self.config.utf8), source: "test")
        let metadata = ModelMetadata(name: "faces", versions: [3], config: config, batching: BatcherConfiguration())
        #expect(metadata.inputs == [TensorMetadata(name: "image", dtype: .uint8, shape: [-1, -1, -1])])
        #expect(metadata.versions == ["3"])
        #expect(metadata.maxBatchSize == BatcherConfiguration().maxBatchSize)
        let preprocess = try Preprocess(
            pipelineJSON: config.pipelineJSON, inputs: [Preprocess.Input(name: "X", dtype: .float32, shape: [nil, 64])])
        // a request as the metadata describes it (any image size) passes the preprocess stage
        let image = try Tensor([UInt8](repeating: 9, count: 2 * 12 * 10), shape: [2, 12, 10])
        let ready = try preprocess.apply(to: [NamedTensor("image", image)])
        #expect(ready.first { $0.name == "X" }?.tensor.shape == [2, 64])
    }
}
