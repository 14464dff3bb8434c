/// Which version of a model answers a request: the stable one, or a candidate with a weight.
///
/// Assignment is sticky by routing key: the key hashes (FNV-1a, the same in every process and on every
/// router) into one of 10,000 fixed buckets, and the candidate owns the buckets below its weight. Raising the
/// weight only moves users from stable to candidate, never back, and two routers agree on every user. A request
/// without a key is assigned at random with the same odds.
public struct TrafficSplit: Sendable, Hashable, Codable {
    /// Buckets of the hash space; a weight of 1 bucket is 0.01%.
    public static let buckets = 10_000

    /// The version most traffic goes to; empty means the newest version the inference service has.
    public var stable: String
    /// The version under test, if any.
    public var candidate: String?
    /// The candidate's share in buckets (0...10,000); 2,500 is 25%.
    public var candidateBuckets: Int

    /// Makes a split.
    /// - Parameters:
    ///   - stable: the stable version ("" for the newest).
    ///   - candidate: the version under test.
    ///   - candidatePercent: the candidate's share, 0...100.
    public init(stable: String, candidate: String? = nil, candidatePercent: Double = 0) {
        self.stable = stable
        self.candidate = candidate
        self.candidateBuckets = Int((min(max(candidatePercent, 0), 100) * Double(Self.buckets) / 100).rounded())
    }

    /// The candidate's share in percent.
    public var candidatePercent: Double { Double(self.candidateBuckets) * 100 / Double(Self.buckets) }

    /// The version for a request.
    /// - Parameters:
    ///   - routingKey: the user or session id; empty for a random assignment.
    ///   - random: used only when there is no key.
    public func version(for routingKey: String, using random: inout some RandomNumberGenerator) -> String {
        guard let candidate, self.candidateBuckets > 0 else { return self.stable }
        let bucket = routingKey.isEmpty ? Int.random(in: 0..<Self.buckets, using: &random) : Self.bucket(of: routingKey)
        return bucket < self.candidateBuckets ? candidate : self.stable
    }

    /// The key's bucket: FNV-1a 64 of its UTF-8 bytes, modulo ``buckets``. Stable across processes and releases.
    public static func bucket(of key: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return Int(hash % UInt64(Self.buckets))
    }
}
