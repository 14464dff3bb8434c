import SwitchyardTensor
import SwitchyardWire

extension Request {
    /// The request a chain sends to one of its stages: this request's model, trace, priority and idempotence, with
    /// the stage's method, version, parameters and tensors (no deadline: each hop gets what is left of the caller's).
    /// - Parameters:
    ///   - method: the stage's method.
    ///   - version: the model version to pin; empty lets the stage choose.
    ///   - parameters: the parameters the stage sees.
    ///   - tensors: its inputs.
    func forStage(
        _ method: String,
        version: String = "",
        parameters: [Parameter] = [],
        tensors: [NamedTensor]
    ) -> Request {
        Request(
            method: method,
            model: self.model,
            version: version,
            traceID: self.traceID,
            priority: self.priority,
            idempotent: self.idempotent,
            parameters: parameters,
            tensors: tensors
        )
    }
}
