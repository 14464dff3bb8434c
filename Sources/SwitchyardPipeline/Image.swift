import CLibPNG

/// 8-bit images: PNG decoding (libpng) and bilinear resizing.
enum Image {
    /// Decodes a PNG into 8-bit pixels with `channels` channels (1: gray, 3: RGB), row-major, interleaved.
    /// Pixels are counted against `budget` from the PNG's header, before anything is allocated for them.
    static func decodePNG(_ bytes: [UInt8], channels: Int, budget: inout PixelBudget) throws(PipelineError)
        -> (pixels: [UInt8], height: Int, width: Int)
    {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let opened = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard opened != 0 else {
            throw PipelineError(.invalidInput, "not a PNG image (\(Self.message(image)))")
        }
        defer { png_image_free(&image) }
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        let width = Int(image.width)
        let height = Int(image.height)
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw PipelineError(.invalidInput, "PNG of \(width)x\(height) pixels is out of range (at most 16384 per side)")
        }
        try budget.take(height: height, width: width)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let finished = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard finished != 0 else { throw PipelineError(.invalidInput, "PNG could not be decoded (\(Self.message(image)))") }
        return (pixels, height, width)
    }

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Bilinear resize of interleaved 8-bit pixels (half-pixel centres, as OpenCV and PIL do), to floats; only the
    /// result is widened, so a large image costs its bytes, not four times them.
    static func resize(
        _ pixels: some RandomAccessCollection<UInt8>, height: Int, width: Int, channels: Int, toHeight: Int, toWidth: Int
    ) -> [Float] {
        if height == toHeight, width == toWidth { return pixels.map(Float.init) }
        let pixels = ContiguousArray(pixels)
        var result = [Float](repeating: 0, count: toHeight * toWidth * channels)
        let scaleY = Float(height) / Float(toHeight)
        let scaleX = Float(width) / Float(toWidth)
        for y in 0..<toHeight {
            let sy = max(0, (Float(y) + 0.5) * scaleY - 0.5)
            let y0 = min(Int(sy), height - 1)
            let y1 = min(y0 + 1, height - 1)
            let fy = sy - Float(y0)
            for x in 0..<toWidth {
                let sx = max(0, (Float(x) + 0.5) * scaleX - 0.5)
                let x0 = min(Int(sx), width - 1)
                let x1 = min(x0 + 1, width - 1)
                let fx = sx - Float(x0)
                for c in 0..<channels {
                    func at(_ yy: Int, _ xx: Int) -> Float { Float(pixels[(yy * width + xx) * channels + c]) }
                    let top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
                    let bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
                    result[(y * toWidth + x) * channels + c] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return result
    }
}

/// The pixels one request may still decode: a cap per image and one for the whole request (all its images), so that
/// a small PNG claiming a huge size, or a batch of many, is refused before it is decoded.
public struct PixelBudget: Sendable, Hashable {
    /// Most pixels (height × width) of one image.
    public var perImage: Int
    /// Most pixels of all images of one request together.
    public var perRequest: Int

    /// The defaults: 16 megapixels an image (4096 × 4096), 32 a request.
    public static let defaults = PixelBudget(perImage: 16 << 20, perRequest: 32 << 20)

    /// Makes limits.
    /// - Parameters:
    ///   - perImage: most pixels of one image.
    ///   - perRequest: most pixels of a request's images together.
    public init(perImage: Int, perRequest: Int) {
        self.perImage = perImage
        self.perRequest = perRequest
    }

    /// Pixels counted so far in this request.
    private var used = 0

    /// Counts an image of `height` × `width` pixels, or refuses it.
    mutating func take(height: Int, width: Int) throws(PipelineError) {
        let (pixels, overflow) = height.multipliedReportingOverflow(by: width)
        guard !overflow, pixels <= self.perImage else {
            throw PipelineError(
                .invalidInput, "an image of \(width)x\(height) pixels is over the limit of \(self.perImage) pixels an image")
        }
        guard pixels <= self.perRequest - self.used else {
            throw PipelineError(
                .invalidInput, "the request's images come to more than the limit of \(self.perRequest) pixels a request")
        }
        self.used += pixels
    }
}
