import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Numbers to strings and back, as onnxruntime's Cast does it.
enum StringConversion {
    /// Reads `count` string elements as numbers of `dtype` (C's `strtod`/`strtoll`/`strtoull`).
    /// - Throws: `EngineError.invalidInput` naming the element when a string holds no number or one out of range.
    static func parse(
        _ source: UnsafeRawPointer, count: Int, into target: UnsafeMutableRawPointer, _ dtype: DType, node: String
    ) throws(EngineError) {
        var text = [CChar](repeating: 0, count: 64)
        for index in 0..<count {
            let bytes = StringElements.bytes(StringElements.element(source, index))
            if text.count < bytes.count + 1 { text = [CChar](repeating: 0, count: bytes.count + 1) }
            let parsed: Bool = text.withUnsafeMutableBufferPointer { buffer in
                let start = buffer.baseAddress!
                if bytes.count > 0 { UnsafeMutableRawPointer(start).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
                start[bytes.count] = 0
                var end: UnsafeMutablePointer<CChar>? = nil
                errno = 0
                switch dtype {
                case .float32, .float16, .bfloat16:
                    let value = strtof(start, &end)
                    store(double: Double(value), target, index, dtype)
                case .float64:
                    target.storeBytes(of: strtod(start, &end), toByteOffset: index * 8, as: Double.self)
                case .uint8, .bool:
                    store(integer: Int64(truncatingIfNeeded: strtoull(start, &end, 10)), target, index, dtype)
                default:
                    store(integer: Int64(strtoll(start, &end, 10)), target, index, dtype)
                }
                // Floats that overflow read as infinity, as in onnxruntime; integers that overflow are refused.
                return end != start && (errno != ERANGE || dtype.isFloatingPoint)
            }
            guard parsed else {
                let shown = String(decoding: bytes.prefix(40), as: UTF8.self)
                throw EngineError(
                    .invalidInput, "node '\(node)' (Cast): element \(index), \"\(shown)\", is not a \(dtype) number")
            }
        }
    }

    /// Writes `count` numbers of `dtype` as strings into `heap`, their pointers into `target`.
    static func format(
        _ source: UnsafeRawPointer, count: Int, _ dtype: DType, into target: UnsafeMutableRawPointer,
        _ heap: StringHeap
    ) {
        var buffer = [CChar](repeating: 0, count: 48)
        for index in 0..<count {
            let element: UnsafeRawPointer
            if dtype.isFloatingPoint {
                let value = loadDouble(source, index, dtype)
                if value.isNaN {
                    element = heap.add("NaN")
                } else if value.isInfinite {
                    element = heap.add(value < 0 ? "-INF" : "INF")
                } else {
                    let length = buffer.withUnsafeMutableBufferPointer { text in
                        withVaList([value]) { Int(vsnprintf(text.baseAddress!, text.count, "%.8g", $0)) }
                    }
                    element = buffer.withUnsafeBytes { heap.add(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
                }
            } else {
                element = heap.add(String(loadInteger(source, index, dtype)))
            }
            StringElements.set(target, index, element)
        }
    }
}
