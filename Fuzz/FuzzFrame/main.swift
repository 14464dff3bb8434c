import CFuzzDriver
import SwitchyardTensor
import SwitchyardWire

// Feeds arbitrary bytes to the frame decoder the transport uses: header checks, then the payload parser.
// Any crash, trap or sanitizer report is a bug; a thrown WireError is the expected outcome for junk.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= FrameHeader.size else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? FrameHeader(parsing: bytes, maxPayload: 1 << 20) else { return 0 }
    let end = FrameHeader.size + Int(header.payloadLength)
    guard end <= size else { return 0 }
    let payload = ByteView(copying: UnsafeRawBufferPointer(rebasing: bytes[FrameHeader.size..<end]))
    guard let frame = try? Frame(header: header, payload: payload) else { return 0 }
    if case .skipped = frame { return 0 }
    // padding and may-ignore flag bits are not checked on receive, so compare meaning, not bytes:
    // what decodes must encode to a frame that decodes to the same thing
    let again = try? Frame(decoding: frame.encoded(), maxPayload: 1 << 20)
    precondition(again == frame, "decode(encode(frame)) differs from frame")
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
_ = LLVMFuzzerRunDriver(&argc, &argv) { fuzz($0, $1) }
