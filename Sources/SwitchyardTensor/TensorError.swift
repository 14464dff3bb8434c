/// An error building or reading a tensor.
public struct TensorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as an open-ended set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case sizeMismatch, typeMismatch, shapeMismatch, malformedBytes, tooLarge
        }
        private let wrapped: Wrapped
        /// The data length disagrees with dtype × shape.
        public static let sizeMismatch = Self(wrapped: .sizeMismatch)
        /// The tensor's dtype is not the one asked for.
        public static let typeMismatch = Self(wrapped: .typeMismatch)
        /// Shapes that must agree do not.
        public static let shapeMismatch = Self(wrapped: .shapeMismatch)
        /// A `bytes` tensor whose length-prefixed elements do not parse.
        public static let malformedBytes = Self(wrapped: .malformedBytes)
        /// The element count or byte size overflows.
        public static let tooLarge = Self(wrapped: .tooLarge)
        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: a sentence for the person reading the log or the client's error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
