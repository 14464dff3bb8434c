public import SwitchyardTensor
public import SwitchyardWire

/// The requests of a load run: rows of an input tensor, cycled, a fixed number per request, with routing keys
/// drawn from a number of users.
public struct RequestSource: Sendable {
    /// The method called: `infer` for the router, the inference service and stages; `echo` for echo services.
    public let method: String
    public let model: String
    public let version: String
    public let inputName: String
    /// The rows cycled through (first dimension).
    public let rowCount: Int
    public let rowsPerRequest: Int
    /// Distinct routing keys (`user-0` ... `user-(users-1)`); 0 sends none.
    public let users: Int
    public let parameters: [Parameter]
    private let variants: [Tensor]

    /// Makes a source.
    /// - Parameters:
    ///   - method: the method to call.
    ///   - model: the model's name (empty for methods that take none).
    ///   - version: a pinned version, or empty for the router's choice.
    ///   - inputName: the name of the input tensor.
    ///   - rows: the rows to send; the first dimension counts rows.
    ///   - rowsPerRequest: rows in each request.
    ///   - users: distinct routing keys, drawn per request; 0 sends no routing key.
    ///   - parameters: request parameters sent with every request.
    /// - Throws: ``LoadError`` when there are no rows or the counts are out of range.
    public init(
        method: String,
        model: String,
        version: String = "",
        inputName: String,
        rows: Tensor,
        rowsPerRequest: Int = 1,
        users: Int = 0,
        parameters: [Parameter] = []
    ) throws(LoadError) {
        guard rows.shape.rank >= 1, rows.shape[0] > 0 else {
            throw LoadError(.invalidInput, "the input holds no rows (shape \(rows.shape))")
        }
        guard (1...65_536).contains(rowsPerRequest) else {
            throw LoadError(.invalidSettings, "rows per request must be 1...65536, got \(rowsPerRequest)")
        }
        guard users >= 0 else { throw LoadError(.invalidSettings, "users must be 0 or more, got \(users)") }
        self.method = method
        self.model = model
        self.version = version
        self.inputName = inputName
        self.rowCount = rows.shape[0]
        self.rowsPerRequest = rowsPerRequest
        self.users = users
        self.parameters = parameters
        // Request k starts at row (k * rowsPerRequest) mod rowCount, so the starts repeat after
        // rowCount / gcd(rowCount, rowsPerRequest) requests; those tensors are cut once (slices share storage).
        var (a, b) = (self.rowCount, rowsPerRequest)
        while b != 0 { (a, b) = (b, a % b) }
        let distinct = self.rowCount / a
        var variants: [Tensor] = []
        variants.reserveCapacity(distinct)
        do {
            for k in 0..<distinct {
                let start = (k * rowsPerRequest) % self.rowCount
                if start + rowsPerRequest <= self.rowCount {
                    variants.append(try rows.rows(start..<(start + rowsPerRequest)))
                } else {
                    var parts: [Tensor] = []
                    var next = start
                    var left = rowsPerRequest
                    while left > 0 {
                        let take = min(left, self.rowCount - next)
                        parts.append(try rows.rows(next..<(next + take)))
                        left -= take
                        next = (next + take) % self.rowCount
                    }
                    variants.append(try Tensor.concatenatingRows(parts))
                }
            }
        } catch {
            throw LoadError(.invalidInput, "cannot cut requests from the input: \(error)")
        }
        self.variants = variants
    }

    /// The first row (index into the input) of request `sequence`.
    public func firstRow(of sequence: Int) -> Int {
        (sequence % self.variants.count) * self.rowsPerRequest % self.rowCount
    }

    /// Request number `sequence` (0-based).
    public func request(_ sequence: Int) -> Request {
        let key = self.users > 0 ? "user-\(Self.mix(UInt64(sequence)) % UInt64(self.users))" : ""
        return Request(
            method: self.method,
            model: self.model,
            version: self.version,
            traceID: .random(),
            routingKey: key,
            idempotent: true,
            parameters: self.parameters,
            tensors: [NamedTensor(self.inputName, self.variants[sequence % self.variants.count])]
        )
    }

    /// splitmix64: spreads sequence numbers over users without a shared generator.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
