import SwitchyardTensor
import SwitchyardWire
import Testing

@testable import SwitchyardRouting

struct BatchAssemblyTests {
    @Test func joinsRowsAndSplitsThemBack() throws {
        let requests = [makeRequest(rows: 1, base: 10), makeRequest(rows: 3, base: 20), makeRequest(rows: 2, base: 30)]
        let batch = try BatchAssembly.join(requests)
        #expect(batch.tensors[0].tensor.shape == [6, 2])
        #expect(try firstColumn(batch.tensors) == [10, 20, 21, 22, 30, 31])
        let labels = try Tensor(strings: ["a", "bb", "", "dddd", "e", "ff"], shape: [6, 1])
        let response = Response(
            parameters: [Parameter("model.version", "2")],
            tensors: batch.tensors + [NamedTensor("label", labels)]
        )
        let parts = try BatchAssembly.split(response, rowCounts: [1, 3, 2])
        #expect(try parts.map { try firstColumn($0.tensors) } == [[10], [20, 21, 22], [30, 31]])
        #expect(try parts.map { try $0.tensors[1].tensor.strings() } == [["a"], ["bb", "", "dddd"], ["e", "ff"]])
        #expect(parts.allSatisfy { $0[parameter: "model.version"] == "2" })
        #expect(
            parts[1]
                == Response(
                    parameters: [Parameter("model.version", "2")],
                    tensors: [
                        requests[1].tensors[0],
                        NamedTensor("label", try Tensor(strings: ["bb", "", "dddd"], shape: [3, 1])),
                    ]
                )
        )
    }

    /// The joined batch keeps the members' bytes where they are and the split answer views the batch's: no tensor
    /// byte is copied on the router's side of a batched hop (the transport writes the views; ZeroCopyTests).
    @Test func joinAndSplitCopyNoTensorBytes() throws {
        let requests = [makeRequest(rows: 1, base: 10), makeRequest(rows: 3, base: 20), makeRequest(rows: 2, base: 30)]
        let batch = try BatchAssembly.join(requests)
        var segments: [ByteView] = []
        batch.tensors[0].tensor.forEachSegment { segments.append($0) }
        #expect(segments.map(address) == requests.map { address($0.tensors[0].tensor.data) })
        #expect(!batch.tensors[0].tensor.isContiguous)

        let answer = try Tensor([Float](repeating: 1, count: 12), shape: [6, 2])
        let parts = try BatchAssembly.split(Response(tensors: [NamedTensor("y", answer)]), rowCounts: [1, 3, 2])
        let start = address(answer.data)
        #expect(parts.map { address($0.tensors[0].tensor.data) } == [start, start + 8, start + 32])
    }

    @Test func joinIsIdempotentOnlyWhenEveryMemberIs() throws {
        var second = makeRequest(rows: 1)
        second.idempotent = false
        #expect(try BatchAssembly.join([makeRequest(rows: 1), makeRequest(rows: 1)]).idempotent)
        #expect(try !BatchAssembly.join([makeRequest(rows: 1), second]).idempotent)
    }

    @Test func aLoneRequestPassesThroughUntouched() throws {
        var request = makeRequest(rows: 2)
        request.timeout = .seconds(1)
        let joined = try BatchAssembly.join([request])
        request.timeout = nil
        #expect(joined == request)
        let response = Response(tensors: [NamedTensor("scalar", try Tensor([Float(1)], shape: []))])
        #expect(try BatchAssembly.split(response, rowCounts: [2]) == [response])
    }

    @Test func anAnswerWithTheWrongRowCountIsRefused() throws {
        let response = Response(tensors: [NamedTensor("y", try Tensor([Float](repeating: 0, count: 4), shape: [4]))])
        #expect(throws: RoutingError.self) { try BatchAssembly.split(response, rowCounts: [2, 3]) }
        let scalar = Response(tensors: [NamedTensor("y", try Tensor([Float(1)], shape: []))])
        let error = try #require(throws: RoutingError.self) { try BatchAssembly.split(scalar, rowCounts: [1, 1]) }
        #expect(error.code == .malformedBatch)
        #expect(error.status.code == .internalError)
    }

    @Test func layoutsCompareNamesTypesAndRowShapes() {
        let (layout, rows) = BatchLayout.of(makeRequest(rows: 3), id: 1)
        #expect(rows == 3)
        #expect(BatchLayout.of(makeRequest(rows: 5), id: 2).layout == layout)
        #expect(BatchLayout.of(makeRequest(rows: 5, columns: 4), id: 3).layout != layout)
        let mismatched = Request(tensors: [
            NamedTensor("a", try! Tensor([Float](repeating: 0, count: 2), shape: [2])),
            NamedTensor("b", try! Tensor([Float](repeating: 0, count: 3), shape: [3])),
        ])
        let loner = BatchLayout.of(mismatched, id: 4)
        #expect(loner.layout.loner == 4)
        #expect(loner.rows == 1)
    }

    @Test func requestsThatDifferOnlyInTheirTraceShareALayout() {
        func traced(_ parent: String, _ parameters: [Parameter] = []) -> Request {
            var request = makeRequest(rows: 2)
            request.parameters =
                parameters + [
                    Parameter(ParameterKey.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-\(parent)-01"),
                    Parameter(ParameterKey.tracestate, "vendor=\(parent)"),
                ]
            return request
        }
        let layout = BatchLayout.of(traced("00f067aa0ba902b7"), id: 1).layout
        #expect(BatchLayout.of(traced("b7ad6b7169203331"), id: 2).layout == layout)
        #expect(BatchLayout.of(makeRequest(rows: 1), id: 3).layout == layout)
        // other parameters still keep requests apart
        #expect(BatchLayout.of(traced("b7ad6b7169203331", [Parameter("top_k", "3")]), id: 4).layout != layout)
    }
}

struct ExecutionTimePredictorTests {
    @Test func predictsFromTheNearestObservedSize() {
        var predictor = ExecutionTimePredictor(initialEstimate: .milliseconds(10), smoothing: 0.5)
        #expect(predictor.predict(rows: 4) == .milliseconds(10))
        predictor.observe(rows: 4, duration: .milliseconds(2))
        #expect(predictor.predict(rows: 4) == .milliseconds(2))
        #expect(predictor.predict(rows: 3) == .milliseconds(2))  // a smaller batch is not slower
        #expect(predictor.predict(rows: 8) == .milliseconds(4))  // linear from below: an overestimate
        predictor.observe(rows: 4, duration: .milliseconds(4))
        #expect(predictor.predict(rows: 4) == .milliseconds(3))  // moving average
        predictor.observe(rows: 16, duration: .milliseconds(5))
        #expect(predictor.predict(rows: 8) == .milliseconds(5))
    }
}

private func address(_ view: ByteView) -> Int { view.withUnsafeBytes { Int(bitPattern: $0.baseAddress) } }
