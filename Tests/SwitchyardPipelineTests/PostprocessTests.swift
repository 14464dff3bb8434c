import SwitchyardPipeline
import SwitchyardTensor
import Testing

struct PostprocessTests {
    static let logits = try! Tensor([Float(1), 2, 3, 3, 1, -1], shape: [2, 3])

    static func pipeline(_ json: String, labels: [String]? = ["cat", "dog", "eel"]) throws -> Postprocess {
        try Postprocess(pipelineJSON: json, labels: labels)
    }

    @Test func softmaxWithTemperatureTopKArgmaxAndThreshold() throws {
        let steps = try Self.pipeline(
            """
            {"postprocess": [
              {"op": "softmax", "input": "logits", "output": "probabilities", "temperature": 2},
              {"op": "topk", "input": "probabilities", "k": 2},
              {"op": "argmax", "input": "probabilities"},
              {"op": "threshold", "input": "probabilities", "min": 0.5}
            ]}
            """
        )
        let out = try steps.apply(to: [NamedTensor("logits", Self.logits)])
        func tensor(_ name: String) throws -> Tensor { try #require(out.first { $0.name == name }?.tensor) }
        let probabilities = try tensor("probabilities").scalars(as: Float.self)
        // softmax([1,2,3] / 2)
        let e = [0.5, 1.0, 1.5].map { Float(exp($0 - 1.5)) }
        let expected = e.map { $0 / e.reduce(0, +) }
        for (got, want) in zip(probabilities.prefix(3), expected) { #expect(abs(got - want) < 1e-6) }
        for row in 0..<2 { #expect(abs(probabilities[(row * 3)..<(row * 3 + 3)].reduce(0, +) - 1) < 1e-6) }
        #expect(try tensor("probabilities.topk.ids").scalars(as: Int64.self) == [2, 1, 0, 1])
        #expect(try tensor("probabilities.topk.labels").strings() == ["eel", "dog", "cat", "dog"])
        #expect(try tensor("label_id").scalars(as: Int64.self) == [2, 0])
        #expect(try tensor("label").strings() == ["eel", "cat"])
        // best scores at T=2: row 0 0.506, row 1 0.665; a threshold of 0.5 accepts both, 0.6 only row 1
        #expect(try tensor("accepted").scalars(as: Bool.self) == [true, true])
        let strict = try Self.pipeline(
            #"{"postprocess": [{"op": "softmax", "input": "logits", "temperature": 2}, {"op": "threshold", "input": "logits", "min": 0.6}]}"#
        )
        let judged = try strict.apply(to: [NamedTensor("logits", Self.logits)])
        #expect(try judged.first { $0.name == "accepted" }?.tensor.scalars(as: Bool.self) == [false, true])
        #expect(out.contains { $0.name == "logits" })  // untouched outputs pass through
    }

    @Test func withoutLabelsIdsStandIn() throws {
        let steps = try Self.pipeline(
            #"{"postprocess": [{"op": "argmax", "input": "logits"}, {"op": "topk", "input": "logits", "k": 1}]}"#,
            labels: nil
        )
        let out = try steps.apply(to: [NamedTensor("logits", Self.logits)])
        #expect(!out.contains { $0.name == "label" })
        #expect(try out.first { $0.name == "label_id" }?.tensor.scalars(as: Int64.self) == [2, 0])
    }

    @Test(arguments: [
        (#"{"postprocess": [{"op": "sharpen", "input": "x"}]}"#, "unknown op"),
        (#"{"postprocess": [{"op": "softmax"}]}"#, "input"),
        (#"{"postprocess": [{"op": "softmax", "input": "x", "temperature": 0}]}"#, "temperature"),
        (#"{"postprocess": [{"op": "topk", "input": "x", "k": 1.5}]}"#, "k"),
        (#"{"postprocess": [{"op": "threshold", "input": "x"}]}"#, "min"),
        (#"{"postprocess": [{"op": "argmax", "input": "x", "axis": 1}]}"#, "axis"),
        (#"{"postprocess": {"op": "argmax"}}"#, "list"),
        (#"{"postprocessing": []}"#, "postprocessing"),
        (#"{not json"#, "JSON"),
    ])
    func brokenConfigsAreRefusedWithTheirKey(_ json: String, _ mentioned: String) {
        #expect {
            try Postprocess(pipelineJSON: json, labels: nil)
        } throws: { error in
            guard let error = error as? PipelineError else { return false }
            return error.code == .invalidConfig && error.message.contains(mentioned)
        }
    }

    @Test func inputsThatDoNotFitAreInvalid() throws {
        let steps = try Self.pipeline(#"{"postprocess": [{"op": "softmax", "input": "logits"}]}"#)
        #expect { try steps.apply(to: []) } throws: { ($0 as? PipelineError)?.code == .invalidInput }
        let ints = try Tensor([Int64(1), 2], shape: [1, 2])
        #expect { try steps.apply(to: [NamedTensor("logits", ints)]) } throws: {
            ($0 as? PipelineError)?.message.contains("f32 [batch, classes]") == true
        }
    }

    @Test func noPipelinePassesOutputsThrough() throws {
        let outputs = [NamedTensor("logits", Self.logits)]
        #expect(try Postprocess(pipelineJSON: nil, labels: nil).apply(to: outputs) == outputs)
        #expect(try Postprocess.identity.apply(to: outputs) == outputs)
    }
}

import Foundation
