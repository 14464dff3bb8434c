import SwitchyardTensor
import SwitchyardWire
import Testing

/// `tensor.dtypes` in HELLO (wire-v1.md §5.2): what a peer announces and which tensors it must not be sent.
struct AnnouncedDTypesTests {
    @Test func parsesCodesAndIgnoresTheRest() {
        let parameters = [Parameter("auth.token", "16"), Parameter(ParameterKey.tensorDTypes, " 16, 99,x,,1")]
        let announced = AnnouncedDTypes(hello: parameters)
        // 1 (f32) needs no announcement and 99 is unknown: only bf16 counts.
        #expect(announced.dtypes == [.bfloat16])
        #expect(announced == .all)
        #expect(AnnouncedDTypes(hello: [Parameter("auth.token", "16")]) == .none)
    }

    @Test func parameterRoundTrips() throws {
        let parameter = try #require(AnnouncedDTypes.all.parameter)
        #expect(parameter.key == "tensor.dtypes" && parameter.value == "16")
        #expect(AnnouncedDTypes(hello: [parameter]) == .all)
        #expect(AnnouncedDTypes.none.parameter == nil)
    }

    @Test func refusesOnlyUnannouncedAddedDTypes() throws {
        let half = try Tensor(dtype: .bfloat16, shape: [1], data: ByteView([0x80, 0x3F]))
        let tensors = [NamedTensor("x", try Tensor([Float(1)], shape: [1])), NamedTensor("h", half)]
        #expect(AnnouncedDTypes.all.refusal(of: tensors, what: "tensor", peer: "p") == nil)
        let refusal = try #require(AnnouncedDTypes.none.refusal(of: tensors, what: "output", peer: "this client"))
        #expect(refusal.contains("output 'h'") && refusal.contains("bf16") && refusal.contains("tensor.dtypes=16"))
        #expect(AnnouncedDTypes.none.refusal(of: [tensors[0]], what: "tensor", peer: "p") == nil)
    }
}
