/// A small, fast pseudo-random generator (SplitMix64) for load-balancing draws, seeded once from the system's: a draw
/// costs a few multiplications instead of a `getrandom` call. Not for anything secret.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence `seed` fixes (for tests and replays).
    init(seed: UInt64) { self.state = seed }

    /// A generator seeded from the system's random source.
    init() {
        var system = SystemRandomNumberGenerator()
        self.init(seed: system.next())
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
