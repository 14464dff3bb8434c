import Foundation

/// The bearer tokens a gateway accepts (`Authorization: Bearer <token>`), read from a file of one token per line.
///
/// Tokens are compared in time independent of where they differ, so a caller cannot find one byte by byte.
public struct BearerTokens: Sendable, Hashable {
    private let tokens: [[UInt8]]

    /// Shortest token accepted: shorter ones are guessable.
    public static let minimumLength = 16

    /// Makes a token set.
    /// - Parameter tokens: the tokens.
    /// - Throws: `GatewayError.configuration` when there is none, or one is shorter than ``minimumLength``, or
    ///   holds spaces or control characters.
    public init(_ tokens: [String]) throws(GatewayError) {
        guard !tokens.isEmpty else { throw GatewayError(.configuration, "no bearer token given") }
        for (index, token) in tokens.enumerated() {
            guard token.utf8.count >= Self.minimumLength else {
                throw GatewayError(
                    .configuration,
                    "token \(index + 1) is shorter than \(Self.minimumLength) characters"
                )
            }
            guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw GatewayError(.configuration, "token \(index + 1) holds a space or a non-ASCII character")
            }
        }
        self.tokens = tokens.map { Array($0.utf8) }
    }

    /// Reads tokens from a file: one per line; blank lines and lines starting with `#` are skipped.
    /// - Parameter path: the file.
    /// - Throws: `GatewayError.configuration` when the file cannot be read or a token is unusable.
    public init(file path: String) throws(GatewayError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw GatewayError(.configuration, "cannot read the token file \(path): \(error.localizedDescription)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        try self.init(lines.filter { !$0.isEmpty && !$0.hasPrefix("#") })
    }

    /// Whether an `Authorization` header value carries one of the tokens.
    /// - Parameter authorization: the header's value, e.g. `Bearer abc...`.
    public func accepts(_ authorization: String?) -> Bool {
        guard var authorization else { return false }
        // the header's bytes in place (no copies per request)
        return authorization.withUTF8 { header in
            let scheme = "bearer"
            guard header.count > 7, header[6] == UInt8(ascii: " "),
                zip(header, scheme.utf8).allSatisfy({ $0 | 0x20 == $1 })  // "Bearer", in any case
            else { return false }
            let offered = UnsafeBufferPointer(rebasing: header[7...])
            var accepted = false
            for token in self.tokens {
                // every byte of every token is looked at, whatever matches
                var difference = UInt8(token.count == offered.count ? 0 : 1)
                for index in 0..<token.count {
                    difference |= token[index] ^ (index < offered.count ? offered[index] : 0)
                }
                if difference == 0 { accepted = true }
            }
            return accepted
        }
    }
}
