import CInt8GEMM

/// The dynamic int8 convolution's per-call passes around oneDNN's channels-last kernels (CInt8GEMM's image
/// kernels, AVX-512 where the CPU has it): quantize-and-transpose in, rescale-and-transpose out.
enum ImageKernels {
    /// DynamicQuantizeLinear of a whole [batch, channels, pixels] image, written [batch, pixels, channels].
    static func quantizeChannelsLast(
        _ x: UnsafePointer<Float>,
        batch: Int,
        channels: Int,
        pixels: Int,
        into target: UnsafeMutablePointer<UInt8>
    ) -> (scale: Float, zero: UInt8) {
        var scale: Float = 1
        var zero: UInt8 = 0
        sy_quantize_dynamic_nhwc(x, Int64(batch), Int64(channels), Int64(pixels), target, &scale, &zero)
        return (scale, zero)
    }

    /// Lets the vector kernels run (on CPUs that have AVX-512) or not, returning the previous setting; for tests,
    /// which check both against the operators.
    static func useVector(_ enabled: Bool) -> Bool { sy_image_kernels_use_vector(enabled ? 1 : 0) != 0 }
}

/// The dynamic convolution's epilogue — × the input's scale, + bias, then at most one ReLU or Clip — on a
/// channels-last result, written back as N×C×H×W by ``sy_rescale_nchw``; `nil` for other activations.
struct ImageEpilogue {
    let activation: Int32
    let low: Float
    let high: Float

    init?(_ activations: [Activation]) {
        guard activations.count <= 1 else { return nil }
        switch activations.first {
        case nil: (self.activation, self.low, self.high) = (Int32(SY_ACTIVATION_NONE), 0, 0)
        case .relu: (self.activation, self.low, self.high) = (Int32(SY_ACTIVATION_RELU), 0, 0)
        case .clip(let low, let high): (self.activation, self.low, self.high) = (Int32(SY_ACTIVATION_CLIP), low, high)
        default: return nil
        }
    }

    func run(
        _ source: UnsafePointer<Float>,
        batch: Int,
        channels: Int,
        pixels: Int,
        scale: Float,
        bias: [Float]?,
        into target: UnsafeMutablePointer<Float>
    ) {
        let (n, c, p) = (Int64(batch), Int64(channels), Int64(pixels))
        guard let bias else {
            sy_rescale_nchw(source, n, c, p, scale, nil, self.activation, self.low, self.high, target)
            return
        }
        bias.withUnsafeBufferPointer {
            sy_rescale_nchw(source, n, c, p, scale, $0.baseAddress, self.activation, self.low, self.high, target)
        }
    }
}
