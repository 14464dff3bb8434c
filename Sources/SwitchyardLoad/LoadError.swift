/// A load run that cannot start: bad settings or inputs. Failures of requests during a run are not errors;
/// they are counted by status in the step's result.
public struct LoadError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case invalidSettings, invalidInput, invalidReport }
        private let wrapped: Wrapped
        /// A setting is out of range or settings contradict each other.
        public static let invalidSettings = Self(wrapped: .invalidSettings)
        /// The input rows or the expected outputs do not fit the run.
        public static let invalidInput = Self(wrapped: .invalidInput)
        /// A JSON report does not follow the schema.
        public static let invalidReport = Self(wrapped: .invalidReport)
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
