public import SwitchyardPipeline
public import SwitchyardWire

extension PipelineError: StatusConvertible {
    /// Bad inputs are `invalid argument`; a broken pipeline config is a `failed precondition`.
    public var status: Status {
        self.code == .invalidInput ? Status(.invalidArgument, self.message) : Status(.failedPrecondition, self.message)
    }
}
