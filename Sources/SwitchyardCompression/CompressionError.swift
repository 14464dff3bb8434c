/// An error compressing a model: reading or writing it, a graph the tool cannot transform, bad calibration or
/// validation data, or a budget that cannot be met.
///
/// Tests compare ``code``; the ``message`` is one line for a person.
public struct CompressionError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as an open-ended set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case io, invalidModel, unsupportedModel, invalidData, invalidArgument, budgetNotMet, engine
        }
        private let wrapped: Wrapped
        /// A file could not be read or written.
        public static let io = Self(wrapped: .io)
        /// The file is not a readable ONNX model.
        public static let invalidModel = Self(wrapped: .invalidModel)
        /// The model has nothing this tool can compress, or a form it does not handle.
        public static let unsupportedModel = Self(wrapped: .unsupportedModel)
        /// Calibration or validation data that does not fit the model.
        public static let invalidData = Self(wrapped: .invalidData)
        /// An option out of range, an unknown node name, an output directory that exists.
        public static let invalidArgument = Self(wrapped: .invalidArgument)
        /// No model within the accuracy budget could be made.
        public static let budgetNotMet = Self(wrapped: .budgetNotMet)
        /// The engine refused to load or run a model.
        public static let engine = Self(wrapped: .engine)
        public var description: String { "\(self.wrapped)" }
    }

    /// The kind of failure.
    public var code: Code
    /// One line for a person.
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error)? = nil

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: one line naming what is at fault.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { self.message }
}
