#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Numbers of tensor data, parsed straight from JSON text without building strings.
///
/// Floats take Clinger's fast path (a mantissa of at most 19 digits times an exactly representable power of ten)
/// and fall back to the C library (`strtod`/`strtof`, correctly rounded) only when the fast result could round the
/// wrong way: more than 19 significant digits, an exponent beyond ±22, a result next to a rounding boundary of
/// the target type, or a subnormal. Python's `json.dumps` of float32 values (17 significant digits) stays on the
/// fast path.
enum DecimalParser {
    /// A number as written: `±mantissa × 10^exponent`, with `truncated` when significant digits were dropped.
    struct Decimal {
        var negative = false
        var mantissa: UInt64 = 0
        var exponent = 0
        var truncated = false
        var isInteger = true
        var start = 0
        var end = 0
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Scans a JSON number at `position` and moves past it.
    /// - Throws: `GatewayError.malformedJSON` for text that is not a JSON number.
    @inline(__always)
    static func scan(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) throws(GatewayError) -> Decimal {
        var decimal = Decimal()
        decimal.start = position
        let count = bytes.count
        var p = position
        @inline(__always) func fail(_ message: String) -> GatewayError {
            GatewayError(.malformedJSON, "malformed JSON at byte \(p): \(message)")
        }
        if p < count, bytes[p] == UInt8(ascii: "-") {
            decimal.negative = true
            p += 1
        }
        var digits = 0
        guard p < count, bytes[p] &- UInt8(ascii: "0") < 10 else { throw fail("expected a number") }
        if bytes[p] == UInt8(ascii: "0") {
            p += 1
            if p < count, bytes[p] &- UInt8(ascii: "0") < 10 { throw fail("a number may not have a leading zero") }
        } else {
            while p < count, case let digit = bytes[p] &- UInt8(ascii: "0"), digit < 10 {
                if digits < 19 {
                    decimal.mantissa = decimal.mantissa &* 10 &+ UInt64(digit)
                    digits += 1
                } else {
                    decimal.exponent += 1
                    if digit != 0 { decimal.truncated = true }
                }
                p += 1
            }
        }
        if p < count, bytes[p] == UInt8(ascii: ".") {
            decimal.isInteger = false
            p += 1
            guard p < count, bytes[p] &- UInt8(ascii: "0") < 10 else {
                throw fail("expected a digit after the decimal point")
            }
            while p < count, case let digit = bytes[p] &- UInt8(ascii: "0"), digit < 10 {
                if digits < 19 {
                    decimal.mantissa = decimal.mantissa &* 10 &+ UInt64(digit)
                    decimal.exponent -= 1
                    if decimal.mantissa != 0 { digits += 1 }
                } else if digit != 0 {
                    decimal.truncated = true
                }
                p += 1
            }
        }
        if p < count, bytes[p] | 0x20 == UInt8(ascii: "e") {
            decimal.isInteger = false
            p += 1
            var negativeExponent = false
            if p < count, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") {
                negativeExponent = bytes[p] == UInt8(ascii: "-")
                p += 1
            }
            guard p < count, bytes[p] &- UInt8(ascii: "0") < 10 else { throw fail("expected a digit in the exponent") }
            var value = 0
            while p < count, case let digit = bytes[p] &- UInt8(ascii: "0"), digit < 10 {
                if value < 1_000_000 { value = value * 10 + Int(digit) }
                p += 1
            }
            decimal.exponent += negativeExponent ? -value : value
        }
        decimal.end = p
        position = p
        return decimal
    }

    /// The nearest double to a scanned number.
    @inline(__always)
    static func double(_ decimal: Decimal, in bytes: UnsafeRawBufferPointer) -> Double {
        if !decimal.truncated, decimal.mantissa <= 1 << 53, (-22...22).contains(decimal.exponent) {
            let value = Self.scaled(decimal)
            return decimal.negative ? -value : value
        }
        return Self.slow(decimal, in: bytes) { strtod($0, nil) }
    }

    /// The nearest float to a scanned number; `nil` when it is beyond float's range.
    @inline(__always)
    static func float(_ decimal: Decimal, in bytes: UnsafeRawBufferPointer) -> Float? {
        if !decimal.truncated, (-22...22).contains(decimal.exponent) {
            let value = Self.scaled(decimal)
            if value == 0 { return decimal.negative ? -0.0 : 0.0 }
            // exact when mantissa ≤ 2^53 (one rounding), else within about one ulp of the double
            let margin: UInt64 = decimal.mantissa <= 1 << 53 ? 0 : 8
            let low = value.bitPattern & 0x1FFF_FFFF
            let distance = low > 0x1000_0000 ? low - 0x1000_0000 : 0x1000_0000 - low
            if distance > margin, value >= Double(Float.leastNormalMagnitude),
                value <= Double(Float.greatestFiniteMagnitude)
            {
                let float = Float(value)
                return decimal.negative ? -float : float
            }
        }
        let float = Self.slow(decimal, in: bytes) { strtof($0, nil) }
        return float.isFinite ? float : nil
    }

    @inline(__always)
    private static func scaled(_ decimal: Decimal) -> Double {
        let mantissa = Double(decimal.mantissa)
        return decimal.exponent >= 0
            ? mantissa * Self.powersOfTen[decimal.exponent] : mantissa / Self.powersOfTen[-decimal.exponent]
    }

    private static func slow<T>(
        _ decimal: Decimal, in bytes: UnsafeRawBufferPointer, _ convert: (UnsafePointer<CChar>) -> T
    )
        -> T
    {
        let length = decimal.end - decimal.start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text in
            for index in 0..<length { text[index] = CChar(bitPattern: bytes[decimal.start + index]) }
            text[length] = 0
            return convert(text.baseAddress!)
        }
    }

    /// An integer: the number must have no fraction or exponent and fit `Int64`.
    @inline(__always)
    static func integer(_ decimal: Decimal) -> Int64? {
        guard decimal.isInteger, !decimal.truncated, decimal.exponent == 0 else { return nil }
        if decimal.negative {
            guard decimal.mantissa <= UInt64(Int64.max) + 1 else { return nil }
            return decimal.mantissa == UInt64(Int64.max) + 1 ? Int64.min : -Int64(decimal.mantissa)
        }
        guard decimal.mantissa <= UInt64(Int64.max) else { return nil }
        return Int64(decimal.mantissa)
    }
}
