/// Which certificates a role goes to: a subject CN, an OU or a URI subject alternative name, matched exactly or,
/// with a trailing `*`, by prefix.
///
/// Written `cn:router-1`, `ou:router`, `uri:spiffe://switchyard/router`, `cn:inference-*`.
public struct IdentityPattern: Hashable, Sendable, CustomStringConvertible {
    /// The certificate field a pattern looks at.
    public enum Field: String, Hashable, Sendable, CaseIterable {
        /// The subject common name.
        case cn
        /// Any of the subject's organizational units.
        case ou
        /// Any URI subject alternative name.
        case uri
    }

    /// The field looked at.
    public var field: Field
    /// The value, without the trailing `*` of a prefix pattern.
    public var value: String
    /// Whether `value` is a prefix (the pattern ended in `*`).
    public var isPrefix: Bool

    /// Makes a pattern.
    /// - Parameters:
    ///   - field: the field looked at.
    ///   - value: the value it must have.
    ///   - isPrefix: whether the value is only a prefix.
    public init(_ field: Field, _ value: String, isPrefix: Bool = false) {
        self.field = field
        self.value = value
        self.isPrefix = isPrefix
    }

    /// Parses `cn:NAME`, `ou:UNIT` or `uri:URI` (a trailing `*` makes it a prefix).
    /// - Parameter text: the pattern.
    /// - Throws: `TransportError.configuration` naming the pattern when it has no known field or no value.
    public init(parsing text: String) throws(TransportError) {
        guard let colon = text.firstIndex(of: ":"),
            let field = Field(rawValue: text[..<colon].trimmingSpaces.lowercased())
        else {
            throw TransportError(
                .configuration,
                "identity '\(text)' must be cn:NAME, ou:UNIT or uri:URI (a trailing * matches a prefix)"
            )
        }
        var value = text[text.index(after: colon)...].trimmingSpaces
        let isPrefix = value.hasSuffix("*")
        if isPrefix { value.removeLast() }
        guard !value.isEmpty || isPrefix else {
            throw TransportError(.configuration, "identity '\(text)' has no value")
        }
        self.init(field, value, isPrefix: isPrefix)
    }

    /// Whether `peer`'s certificate matches.
    public func matches(_ peer: PeerIdentity) -> Bool {
        switch self.field {
        case .cn: peer.commonName.map(self.matches) ?? false
        case .ou: peer.organizationalUnits.contains(where: self.matches)
        case .uri: peer.uris.contains(where: self.matches)
        }
    }

    private func matches(_ candidate: String) -> Bool {
        self.isPrefix ? candidate.hasPrefix(self.value) : candidate == self.value
    }

    public var description: String { "\(self.field.rawValue):\(self.value)\(self.isPrefix ? "*" : "")" }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
