/// The outcome of a request as a peer sees it: a code and a message.
///
/// Codes use the numbers of the well-known RPC status set, so users and tools recognise them.
public struct Status: Sendable, Hashable, Error, CustomStringConvertible {
    /// A status code. The set is open: a code this build does not know is kept and shown by number.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The number carried on the wire.
        public let rawValue: UInt16

        /// Wraps a wire number.
        /// - Parameter rawValue: the `u16` from an ERROR or GOAWAY frame.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let ok = Self(rawValue: 0)
        /// The caller cancelled the request.
        public static let cancelled = Self(rawValue: 1)
        public static let unknown = Self(rawValue: 2)
        /// The request is malformed or does not fit the model (shape, dtype, missing input).
        public static let invalidArgument = Self(rawValue: 3)
        /// The deadline passed before an answer was ready.
        public static let deadlineExceeded = Self(rawValue: 4)
        /// No such model, version or method.
        public static let notFound = Self(rawValue: 5)
        /// The caller is authenticated but not allowed (e.g. admin calls without an admin certificate).
        public static let permissionDenied = Self(rawValue: 7)
        /// Shed: a queue or limit is full. Safe to retry later or elsewhere.
        public static let resourceExhausted = Self(rawValue: 8)
        public static let failedPrecondition = Self(rawValue: 9)
        public static let unimplemented = Self(rawValue: 12)
        /// A bug or an unexpected failure inside the service.
        public static let internalError = Self(rawValue: 13)
        /// The service or an upstream cannot be reached or is draining. Retryable.
        public static let unavailable = Self(rawValue: 14)
        /// No or invalid credentials.
        public static let unauthenticated = Self(rawValue: 16)

        private static let names: [UInt16: String] = [
            0: "ok", 1: "cancelled", 2: "unknown", 3: "invalid argument", 4: "deadline exceeded", 5: "not found",
            6: "already exists", 7: "permission denied", 8: "resource exhausted", 9: "failed precondition",
            10: "aborted", 11: "out of range", 12: "unimplemented", 13: "internal", 14: "unavailable",
            15: "data loss", 16: "unauthenticated",
        ]

        /// The code's name as users read it, e.g. `deadline exceeded`.
        public var description: String { Self.names[self.rawValue] ?? "status \(self.rawValue)" }

        /// The name as a metric label value, e.g. `deadline_exceeded`.
        public var metricName: String { String(self.description.map { $0 == " " ? "_" : $0 }) }
    }

    public var code: Code
    public var message: String

    /// Makes a status.
    /// - Parameters:
    ///   - code: the outcome.
    ///   - message: a sentence that tells the caller what happened and what was expected.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message.isEmpty ? "\(self.code)" : "\(self.code): \(self.message)" }
}

/// An error that knows which status a peer should see for it.
public protocol StatusConvertible: Error {
    /// The status sent to the peer in place of this error.
    var status: Status { get }
    /// Whether the request is known never to have reached the peer's handler (the connection could not be made, or
    /// a draining peer did not read it), so that it may be sent elsewhere even when it is not idempotent.
    var requestWasNotProcessed: Bool { get }
}

extension StatusConvertible {
    /// `false`: most failures say nothing about whether the peer started the work.
    public var requestWasNotProcessed: Bool { false }
}

extension Status: StatusConvertible {
    public var status: Status { self }
}

extension Status {
    /// When the sender expects to accept the request again: the `retry after <number> ms` a `resource exhausted`
    /// message may end its sentence with (wire-v1 §4.4), or `nil` for none.
    public var retryAfter: Duration? {
        // over UTF-8 bytes: a client reads this from every refusal, and string searching cost a seventh of the load
        // client's CPU at overload
        guard self.code == .resourceExhausted else { return nil }
        let bytes = Array(self.message.utf8)
        let marker = Array("retry after ".utf8)
        var start = bytes.count - marker.count
        while start >= 0, !bytes[start..<(start + marker.count)].elementsEqual(marker) { start -= 1 }
        guard start >= 0 else { return nil }
        let from = start + marker.count
        var end = from
        while end < bytes.count,
            bytes[end] == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end])
        {
            end += 1
        }
        guard end > from, bytes[end...].starts(with: " ms".utf8),
            let milliseconds = Double(String(decoding: bytes[from..<end], as: UTF8.self)), milliseconds.isFinite,
            milliseconds >= 0, milliseconds <= 3_600_000
        else { return nil }
        return .microseconds(Int64((milliseconds * 1000).rounded(.up)))
    }
}
