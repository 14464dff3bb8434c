import SwitchyardTensor

/// A parsed JSON value of a request header. Tensor `data` arrays are not built as values: they stay as the byte
/// range of their text (``deferred``) and are decoded once, straight into tensor storage, when the datatype is known.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    /// A number as written; ``JSONNumber`` converts it on request.
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    /// Members in the order written.
    case object([(key: String, value: JSONValue)])
    /// The text of a value left for typed decoding: its byte range in the parsed buffer.
    case deferred(Range<Int>)
    /// Tensor data already decoded, because its object gave `datatype` and `shape` before `data`.
    case tensorData(SwitchyardTensor.ByteView)

    /// The member named `key` of an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The kind of value, for messages ("a string", "an array").
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array, .deferred, .tensorData: "an array"
        case .object: "an object"
        }
    }

    /// The value as JSON text (for parameters passed on as strings).
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .number(let number): number.text
        case .string(let string): string
        case .array(let values): "[" + values.map(\.quotedText).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.map { JSONWriter.quoted($0.key) + ":" + $0.value.quotedText }.joined(separator: ",") + "}"
        case .deferred, .tensorData: "[...]"
        }
    }

    private var quotedText: String {
        if case .string(let string) = self { return JSONWriter.quoted(string) }
        return self.text
    }
}

/// A JSON number kept as its text.
struct JSONNumber: Sendable {
    var text: String

    /// The value when it is an integer that fits `Int64` (no fraction or exponent).
    var int64: Int64? { Int64(self.text) }

    /// The value as a double.
    var double: Double? { Double(self.text) }
}
