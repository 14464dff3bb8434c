public import SwitchyardTensor

/// The dtypes a peer must announce before it is sent tensors of them (wire-v1.md §5.2): codes added after
/// revision 1.1, which an earlier peer would take for a protocol error that ends the connection.
public struct AnnouncedDTypes: Hashable, Sendable, CustomStringConvertible {
    /// Every dtype that needs an announcement.
    public static let added: Set<DType> = [.bfloat16]
    /// What this implementation announces: every added dtype.
    public static let all = AnnouncedDTypes(Self.added)
    /// What a peer that announces nothing (revision 1.0 or 1.1) accepts.
    public static let none = AnnouncedDTypes([])

    /// The added dtypes the peer accepts.
    public var dtypes: Set<DType>

    /// Makes a set of announced dtypes.
    /// - Parameter dtypes: added dtypes; others are ignored.
    public init(_ dtypes: Set<DType>) { self.dtypes = dtypes.intersection(Self.added) }

    /// What a HELLO announces in `tensor.dtypes`: codes separated by commas; unknown codes and anything that is
    /// not a code are ignored.
    /// - Parameter parameters: the HELLO's parameters.
    public init(hello parameters: [Parameter]) {
        var dtypes: Set<DType> = []
        for parameter in parameters where parameter.key == ParameterKey.tensorDTypes {
            for part in parameter.value.split(separator: ",") {
                if let code = UInt8(part.filter { $0 != " " }), let dtype = DType(rawValue: code) { dtypes.insert(dtype) }
            }
        }
        self.init(dtypes)
    }

    /// The HELLO parameter that announces these dtypes, or `nil` when there are none.
    public var parameter: Parameter? {
        guard !self.dtypes.isEmpty else { return nil }
        return Parameter(ParameterKey.tensorDTypes, self.dtypes.map { String($0.rawValue) }.sorted().joined(separator: ","))
    }

    /// The first tensor that a peer announcing these dtypes must not be sent, if any.
    /// - Parameter tensors: the tensors of a REQUEST or RESPONSE.
    public func firstRefused(in tensors: [NamedTensor]) -> NamedTensor? {
        tensors.first { Self.added.contains($0.tensor.dtype) && !self.dtypes.contains($0.tensor.dtype) }
    }

    /// Why a peer announcing these dtypes must not be sent `tensors`, or `nil` when it may be.
    /// - Parameters:
    ///   - tensors: the tensors of a REQUEST or RESPONSE.
    ///   - what: what they are, for the message (`tensor`, `output`).
    ///   - peer: who the peer is, for the message.
    public func refusal(of tensors: [NamedTensor], what: String, peer: String) -> String? {
        guard let refused = self.firstRefused(in: tensors) else { return nil }
        let dtype = refused.tensor.dtype
        return "\(what) '\(refused.name)' is \(dtype), which \(peer) does not accept (its HELLO announces no "
            + "\(ParameterKey.tensorDTypes)=\(dtype.rawValue): an older protocol revision)"
    }

    public var description: String {
        self.dtypes.isEmpty ? "none" : self.dtypes.map(\.name).sorted().joined(separator: ", ")
    }
}
