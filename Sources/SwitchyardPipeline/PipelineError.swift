/// A pipeline that cannot be built from its config, or an input it cannot process.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case invalidConfig, invalidInput }
        private let wrapped: Wrapped
        /// The pipeline's config is wrong (refused when the service starts).
        public static let invalidConfig = Self(wrapped: .invalidConfig)
        /// A request's tensors do not fit the pipeline (answered `invalid argument`).
        public static let invalidInput = Self(wrapped: .invalidInput)
        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    /// Makes an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
