import CInt8GEMM

/// oneDNN (Debian's `libdnnl-dev`), where the engine runs the convolutions it measured faster there than im2col over
/// OpenBLAS (`bench/RESULTS-engine.md`). The C layer is `OneDNN.h` in the `CInt8GEMM` module.
enum OneDNN {
    /// Whether oneDNN runs here with vector kernels worth using (AVX2 or newer): on older CPUs it falls back to
    /// reference code slower than the engine's own paths.
    static let isUsable: Bool = {
        guard sy_dnnl_available() != 0 else { return false }
        let isa = String(cString: sy_dnnl_isa())
        return isa.hasPrefix("avx2") || isa.hasPrefix("avx512")
    }()

    /// "oneDNN 2.6.3 (avx512_core_vnni)", or why it is not used.
    static var description: String {
        guard sy_dnnl_available() != 0 else { return "oneDNN unavailable" }
        let version = String(cString: sy_dnnl_version())
        let isa = String(cString: sy_dnnl_isa())
        return "oneDNN \(version) (\(isa.isEmpty ? "no vector kernels" : isa))" + (Self.isUsable ? "" : ", not used")
    }

    static func error(_ status: Int32, _ what: String) -> EngineError {
        let name = String(cString: sy_dnnl_status_name(status))
        return EngineError(.unsupportedOperator, "\(what): oneDNN refused it (\(name))")
    }
}

/// A oneDNN memory descriptor: dimensions, element type and layout.
final class DNNLDescriptor: @unchecked Sendable {
    let pointer: OpaquePointer

    enum Layout: Int32 {
        case plain = 0  // SY_DNNL_PLAIN
        case channelsLast = 1  // SY_DNNL_CHANNELS_LAST
        case any = 2  // SY_DNNL_ANY
    }

    private init(_ pointer: OpaquePointer) { self.pointer = pointer }

    /// A float32 descriptor of `dims` (logical order N, C, spatial... / O, I, spatial...) in `layout`.
    convenience init(_ dims: [Int], layout: Layout, type: Int32 = Int32(SY_DNNL_F32)) throws(EngineError) {
        let made = dims.map(Int64.init).withUnsafeBufferPointer {
            sy_dnnl_md_layout(Int32(dims.count), $0.baseAddress, type, layout.rawValue)
        }
        guard let made else { throw EngineError(.unsupportedOperator, "oneDNN cannot describe a tensor of \(dims)") }
        self.init(made)
    }

    /// A copy of a descriptor a primitive owns.
    convenience init(copying pointer: OpaquePointer) { self.init(sy_dnnl_md_copy(pointer)) }

    var byteCount: Int { sy_dnnl_md_bytes(self.pointer) }

    func sameLayout(as other: DNNLDescriptor) -> Bool { sy_dnnl_md_equal(self.pointer, other.pointer) != 0 }

    deinit { sy_dnnl_md_destroy(self.pointer) }
}

/// An activation applied to a primitive's result before it is stored.
enum DNNLPostOp {
    case eltwise(kind: Int32, alpha: Float, beta: Float)

    /// The oneDNN form of one of the engine's fusable activations.
    init(_ activation: Activation) {
        switch activation {
        case .relu: self = .eltwise(kind: Int32(SY_DNNL_POST_RELU), alpha: 0, beta: 0)
        case .leakyRelu(let alpha): self = .eltwise(kind: Int32(SY_DNNL_POST_RELU), alpha: alpha, beta: 0)
        case .sigmoid: self = .eltwise(kind: Int32(SY_DNNL_POST_LOGISTIC), alpha: 0, beta: 0)
        case .tanh: self = .eltwise(kind: Int32(SY_DNNL_POST_TANH), alpha: 0, beta: 0)
        case .clip(let low, let high):
            // oneDNN clips with finite bounds; the float range stands in for an open side.
            self = .eltwise(
                kind: Int32(SY_DNNL_POST_CLIP),
                alpha: low.isInfinite ? -Float.greatestFiniteMagnitude : low,
                beta: high.isInfinite ? Float.greatestFiniteMagnitude : high
            )
        }
    }
}

/// A oneDNN primitive made for one set of shapes. Immutable; executions from several threads at once are safe
/// (each passes its own scratch memory).
final class DNNLPrimitive: @unchecked Sendable {
    let pointer: OpaquePointer
    private init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { sy_dnnl_primitive_destroy(self.pointer) }

    /// Bytes of scratch memory an execution needs.
    var scratchBytes: Int { sy_dnnl_primitive_scratch_bytes(self.pointer) }
    /// oneDNN's name for the kernel it chose.
    var implementation: String { String(cString: sy_dnnl_primitive_impl(self.pointer)) }

    /// The descriptor the primitive settled on for an argument (`SY_DNNL_ARG_WEIGHTS`, ...).
    func descriptor(_ role: Int32) -> DNNLDescriptor? {
        sy_dnnl_primitive_md(self.pointer, role).map { DNNLDescriptor(copying: $0) }
    }

    static func convolution(
        source: DNNLDescriptor,
        weights: DNNLDescriptor,
        bias: DNNLDescriptor?,
        destination: DNNLDescriptor,
        window: sy_dnnl_window,
        postOps: [DNNLPostOp],
        what: String
    ) throws(EngineError) -> DNNLPrimitive {
        var window = window
        return try Self.make(postOps, what) { post, count, out in
            sy_dnnl_convolution(
                source.pointer,
                weights.pointer,
                bias?.pointer,
                destination.pointer,
                &window,
                post,
                count,
                out
            )
        }
    }

    /// An int8 convolution: uint8 source, int8 weights, float bias in accumulator units; the accumulators plus
    /// bias times `scales` (one, or one per output channel), the post-ops, then `destinationZero` added when the
    /// destination is uint8.
    static func quantizedConvolution(
        source: DNNLDescriptor,
        weights: DNNLDescriptor,
        bias: DNNLDescriptor?,
        destination: DNNLDescriptor,
        window: sy_dnnl_window,
        postOps: [DNNLPostOp],
        scales: [Float],
        sourceZero: Int32,
        destinationZero: Int32,
        what: String
    ) throws(EngineError) -> DNNLPrimitive {
        var window = window
        return try Self.make(postOps, what) { post, count, out in
            scales.withUnsafeBufferPointer { scalePointer in
                sy_dnnl_qconvolution(
                    source.pointer,
                    weights.pointer,
                    bias?.pointer,
                    destination.pointer,
                    &window,
                    post,
                    count,
                    scalePointer.baseAddress,
                    Int32(scales.count),
                    sourceZero,
                    destinationZero,
                    out
                )
            }
        }
    }

    static func matmul(
        source: DNNLDescriptor,
        weights: DNNLDescriptor,
        bias: DNNLDescriptor?,
        destination: DNNLDescriptor,
        postOps: [DNNLPostOp],
        what: String
    ) throws(EngineError) -> DNNLPrimitive {
        try Self.make(postOps, what) { post, count, out in
            sy_dnnl_matmul(source.pointer, weights.pointer, bias?.pointer, destination.pointer, post, count, out)
        }
    }

    static func maxPooling(
        source: DNNLDescriptor,
        destination: DNNLDescriptor,
        window: sy_dnnl_window,
        what: String
    ) throws(EngineError) -> DNNLPrimitive {
        var window = window
        return try Self.make([], what) { _, _, out in
            sy_dnnl_max_pooling(source.pointer, destination.pointer, &window, out)
        }
    }

    static func reorder(
        source: DNNLDescriptor,
        destination: DNNLDescriptor,
        what: String
    ) throws(EngineError)
        -> DNNLPrimitive
    {
        try Self.make([], what) { _, _, out in sy_dnnl_reorder(source.pointer, destination.pointer, out) }
    }

    private static func make(
        _ postOps: [DNNLPostOp],
        _ what: String,
        _ body: (UnsafePointer<sy_dnnl_post_op>?, Int32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    ) throws(EngineError) -> DNNLPrimitive {
        let ops: [sy_dnnl_post_op] = postOps.map { op in
            switch op {
            case .eltwise(let kind, let alpha, let beta): sy_dnnl_post_op(kind: kind, alpha: alpha, beta: beta)
            }
        }
        var out: OpaquePointer? = nil
        let status = ops.withUnsafeBufferPointer { body($0.baseAddress, Int32($0.count), &out) }
        guard status == 0, let out else { throw OneDNN.error(status, what) }
        return DNNLPrimitive(out)
    }

    /// Runs the primitive on `threads` threads with `arguments` as (role, pointer) pairs (roles are
    /// `SY_DNNL_ARG_SRC`, ...) and `scratch` of at least ``scratchBytes`` bytes; `sourceZero` for an int8
    /// convolution made to take its source zero point at each execution.
    func execute(
        threads: Int,
        _ arguments: [(Int32, UnsafeMutableRawPointer)],
        scratch: UnsafeMutableRawPointer,
        sourceZero: Int32 = 0,
        what: @autoclosure () -> String
    ) throws(EngineError) {
        var roles: (Int32, Int32, Int32, Int32, Int32, Int32) = (0, 0, 0, 0, 0, 0)
        var pointers:
            (
                UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
                UnsafeMutableRawPointer?, UnsafeMutableRawPointer?
            ) = (nil, nil, nil, nil, nil, nil)
        let count = min(arguments.count, 6)
        let status = withUnsafeMutableBytes(of: &roles) { rolesRaw in
            withUnsafeMutableBytes(of: &pointers) { pointersRaw in
                let r = rolesRaw.baseAddress!.assumingMemoryBound(to: Int32.self)
                let p = pointersRaw.baseAddress!.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
                for index in 0..<count {
                    r[index] = arguments[index].0
                    p[index] = arguments[index].1
                }
                return sy_dnnl_execute_zero(self.pointer, Int32(threads), Int32(count), r, p, scratch, sourceZero)
            }
        }
        guard status == 0 else {
            throw EngineError(
                .invalidInput,
                "\(what()): oneDNN failed (\(String(cString: sy_dnnl_status_name(status))))"
            )
        }
    }
}

/// Argument roles, as Swift constants.
enum DNNLArgument {
    static let source = Int32(SY_DNNL_ARG_SRC)
    static let weights = Int32(SY_DNNL_ARG_WEIGHTS)
    static let bias = Int32(SY_DNNL_ARG_BIAS)
    static let destination = Int32(SY_DNNL_ARG_DST)
}
