public import SwitchyardEngine
public import SwitchyardWire

extension EngineError: StatusConvertible {
    /// Request problems are `invalid argument`, missing models `not found`, models still loading or failed
    /// `unavailable`; a model that cannot be loaded is a `failed precondition` for the caller of `model.load`.
    public var status: Status {
        switch self.code {
        case .invalidInput, .shapeMismatch: Status(.invalidArgument, self.message)
        case .notFound: Status(.notFound, self.message)
        case .deadlineExceeded: Status(.deadlineExceeded, self.message)
        case .unavailable: Status(.unavailable, self.message)
        default: Status(.failedPrecondition, self.message)
        }
    }
}
