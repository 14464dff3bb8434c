/// A model's `config.json` that cannot be read or used: the message names the file and the key at fault.
///
/// Tests compare ``code``.
public struct ModelConfigError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case invalidConfig, io }
        private let wrapped: Wrapped
        /// The file is not valid JSON, has an unknown key, or a value out of range.
        public static let invalidConfig = Self(wrapped: .invalidConfig)
        /// A file or directory cannot be read.
        public static let io = Self(wrapped: .io)
        /// The code's name, e.g. `invalidConfig`.
        public var description: String { "\(self.wrapped)" }
    }

    /// The kind of failure.
    public var code: Code
    /// One line for a person, naming the file and the key.
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error)?

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: one line naming the file and the key at fault.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message.
    public var description: String { self.message }
}
