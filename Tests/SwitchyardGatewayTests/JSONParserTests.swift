import Testing

@testable import SwitchyardGateway

struct JSONParserTests {
    private func parse(_ text: String, deferring key: String? = "data") throws(GatewayError) -> JSONValue {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(GatewayError) in
            try JSONParser.parse(UnsafeRawBufferPointer(buffer), deferring: key)
        }
    }

    @Test func memberNamesAreReadExactlyWhetherKnownOrNot() throws {
        let value = try self.parse(
            #"{"name": 1, "names": 2, "nam": 3, "na\u006de": 4, "shapé": 5, "binary_data_size": 6}"#
        )
        guard case .object(let members) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(members.map(\.key) == ["name", "names", "nam", "name", "shapé", "binary_data_size"])
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try self.parse(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "d\u00e9\n\"x\""}, "e": ""} "#)
        guard case .array(let list) = value["a"] else {
            Issue.record("a is \(String(describing: value["a"]))")
            return
        }
        #expect(list.count == 5)
        guard case .number(let number) = list[1] else {
            Issue.record("not a number")
            return
        }
        #expect(number.double == -2500)
        guard case .string(let text) = value["b"]?["c"] else {
            Issue.record("no string")
            return
        }
        #expect(text == "d\u{e9}\n\"x\"")
        guard case .string(let empty) = value["e"] else {
            Issue.record("no empty string")
            return
        }
        #expect(empty.isEmpty)
    }

    @Test func keepsDataMembersAsByteRanges() throws {
        let text = #"{"inputs": [{"name": "x", "data": [[1, 2], [3, 4]]}]}"#
        let value = try self.parse(text)
        guard case .array(let inputs) = value["inputs"], case .deferred(let range) = inputs[0]["data"] else {
            Issue.record("data was not deferred")
            return
        }
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[range], as: UTF8.self) == "[[1, 2], [3, 4]]")
    }

    @Test func decodesSurrogatePairs() throws {
        guard case .string(let text) = try self.parse(#""\ud83d\ude00""#) else {
            Issue.record("not a string")
            return
        }
        #expect(text == "😀")
    }

    @Test(arguments: [
        ("{", "member name"), ("{\"a\" 1}", "expected ':'"), ("[1,]", "unexpected character"), ("[01]", "leading zero"),
        ("1.", "after the decimal point"), ("1e", "exponent"), ("\"abc", "not closed"),
        ("{\"a\":1}x", "after the JSON value"),
        ("tru", "expected true"), ("\"\\x\"", "unknown escape"), ("\"\\ud83d\"", "low surrogate"),
        ("\"\\ude00\"", "low surrogate"),
        ("[1 2]", "expected ',' or ']'"), ("{\"a\":1,}", "member name"), ("\"a\tb\"", "control character"),
        ("", "ends where"),
        ("{\"data\": [1, 2", "not closed"), ("{\"data\": [{\"a\": 1}]}", "object inside tensor data"),
    ])
    func refusesMalformedText(_ text: String, _ expected: String) {
        do {
            _ = try self.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.code == .malformedJSON)
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(error.message.contains("at byte"))
        }
    }

    @Test func refusesInvalidUTF8() {
        let bytes: [UInt8] = Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(throws: GatewayError.self) { try Self.parseBytes(bytes) }
        let overlong: [UInt8] = Array("\"".utf8) + [0xC0, 0xAF] + Array("\"".utf8)
        #expect(throws: GatewayError.self) { try Self.parseBytes(overlong) }
    }

    private static func parseBytes(_ bytes: [UInt8]) throws(GatewayError) {
        var copy = bytes
        _ = try copy.withUnsafeMutableBufferPointer { (buffer) throws(GatewayError) in
            try JSONParser.parse(UnsafeRawBufferPointer(buffer))
        }
    }

    @Test func boundsNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        do {
            _ = try self.parse(deep)
            Issue.record("a 10,000-deep array was accepted")
        } catch {
            #expect(error.message.contains("nested deeper"))
        }
        let deepData =
            "{\"data\": " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        #expect(throws: GatewayError.self) { try self.parse(deepData) }
    }

    @Test func writesStringsThatReadBack() throws {
        for text in ["plain", "quote \" and \\ back", "line\nbreak\ttab\u{1}", "ünïcödé 😀"] {
            guard case .string(let back) = try self.parse(JSONWriter.quoted(text)) else {
                Issue.record("not a string")
                continue
            }
            #expect(back == text)
        }
    }
}
