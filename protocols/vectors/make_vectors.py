#!/usr/bin/env python3
"""Writes the wire v1 test vectors (protocols/vectors/*.vector) from the spec, independently of the Swift codec.

Each vector is annotated hex: every line is the bytes of one field with its meaning beside it after `#`.
Header lines: `@name`, `@expect ok` or `@expect error <code>`, and for valid frames `@frame <summary>`, the
summary the Swift decoder must produce (see Frame.summary). Regenerate with: python3 make_vectors.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {"HELLO": 1, "REQUEST": 2, "RESPONSE": 3, "ERROR": 4, "CANCEL": 5, "PING": 6, "PONG": 7, "GOAWAY": 8}
DTYPES = {"f32": 1, "u8": 2, "i8": 3, "i32": 6, "i64": 7, "bytes": 8, "bool": 9, "f16": 10, "f64": 11}


class Payload:
    def __init__(self):
        self.parts = []  # (bytes, meaning)

    def size(self):
        return sum(len(b) for b, _ in self.parts)

    def add(self, data, meaning):
        self.parts.append((data, meaning))

    def u8(self, v, m): self.add(struct.pack("<B", v), m)
    def u16(self, v, m): self.add(struct.pack("<H", v), m)
    def u32(self, v, m): self.add(struct.pack("<I", v), m)
    def u64(self, v, m): self.add(struct.pack("<Q", v), m)

    def string(self, s, m):
        b = s.encode()
        self.u16(len(b), f"{m} length {len(b)}")
        if b:
            self.add(b, f"{m} {s!r}")

    def params(self, ps):
        self.u16(len(ps), f"parameter count {len(ps)}")
        for k, v in ps:
            self.string(k, "key")
            self.string(v, "value")

    def tensors(self, ts):
        """ts: list of (name, dtype, shape, data bytes)."""
        self.u16(len(ts), f"tensor count {len(ts)}")
        desc = sum(2 + len(n.encode()) + 2 + 4 * len(s) + 8 for n, _, s, _ in ts)
        offset = self.size() + desc
        offsets = []
        for name, dt, shape, data in ts:
            offset = (offset + 63) // 64 * 64
            offsets.append(offset)
            self.string(name, "tensor name")
            self.u8(DTYPES[dt], f"dtype {dt}")
            self.u8(len(shape), f"rank {len(shape)}")
            for d in shape:
                self.u32(d, f"dim {d}")
            self.u32(offset, f"data offset {offset}")
            self.u32(len(data), f"data length {len(data)}")
            offset += len(data)
        for (name, dt, shape, data), off in zip(ts, offsets):
            pad = off - self.size()
            if pad:
                self.add(b"\0" * pad, f"{pad} bytes of zero padding to offset {off}")
            if data:
                self.add(data, f"data of '{name}'")


def frame(ftype, rid, payload, flags=0, version=1, magic=b"SY", reserved=0, length=None):
    t = TYPES.get(ftype, ftype)
    n = payload.size() if length is None else length
    head = [
        (magic, "magic \"SY\"" if magic == b"SY" else f"magic {magic!r} (wrong)"),
        (struct.pack("<B", version), f"version {version}"),
        (struct.pack("<B", t), f"type {ftype}" if isinstance(ftype, str) else f"type 0x{t:02X}"),
        (struct.pack("<H", flags), f"flags 0x{flags:04X}"),
        (struct.pack("<H", reserved), "reserved"),
        (struct.pack("<I", rid), f"request id {rid}"),
        (struct.pack("<I", n), f"payload length {n}"),
    ]
    return head + payload.parts


def write(name, parts, expect, summary=None, truncate=None):
    lines = [f"@name {name}", f"@expect {expect}"]
    if summary:
        lines.append(f"@frame {summary}")
    data = b"".join(b for b, _ in parts)
    if truncate is not None:
        # keep the annotated lines that fit, then cut the last one
        kept, total = [], 0
        for b, m in parts:
            if total >= truncate:
                break
            take = b[: truncate - total]
            kept.append((take, m + (" (cut)" if len(take) < len(b) else "")))
            total += len(take)
        parts = kept
    for b, m in parts:
        for i in range(0, len(b), 16):
            chunk = b[i:i + 16]
            lines.append(f"{chunk.hex(' '):<48}# {m}" if i == 0 else f"{chunk.hex(' '):<48}#   ...")
    with open(os.path.join(HERE, name + ".vector"), "w") as f:
        f.write("\n".join(lines) + "\n")


def hexdata(b):
    return b.hex()


# --- valid frames ---------------------------------------------------------------------------
p = Payload()
p.u8(1, "min version 1"); p.u8(1, "max version 1"); p.u16(0, "reserved")
p.u32(16 << 20, "max payload 16777216"); p.u32(256, "max in flight 256"); p.u32(30000, "idle timeout 30000 ms")
p.string("inference-1", "identity"); p.params([("auth.token", "s3cret")])
write("hello", frame("HELLO", 0, p), "ok",
      "HELLO versions=1...1 max_payload=16777216 max_in_flight=256 idle_ms=30000 identity=inference-1 params=[auth.token=s3cret]")

x = struct.pack("<4f", 0.0, 1.0, -2.5, 255.0)
p = Payload()
p.u64(50000, "timeout 50000 µs"); p.u64(0x0102030405060708, "trace id high"); p.u64(0x090A0B0C0D0E0F10, "trace id low")
p.u8(2, "priority 2"); p.u8(0, "reserved")
p.string("infer", "method"); p.string("digits", "model"); p.string("", "version"); p.string("user-42", "routing key")
p.params([]); p.tensors([("x", "f32", [1, 4], x)])
write("request", frame("REQUEST", 7, p, flags=1), "ok",
      "REQUEST id=7 idempotent=true timeout_us=50000 trace=0102030405060708090a0b0c0d0e0f10 priority=2 method=infer "
      f"model=digits version= routing_key=user-42 params=[] tensors=[x:f32[1,4]={hexdata(x)}]")

a = struct.pack("<2q", -1, 7)
b = bytes([1, 0, 1])
s = struct.pack("<I", 3) + b"one" + struct.pack("<I", 0)
p = Payload()
p.u64(0, "no timeout"); p.u64(0, "trace id high"); p.u64(0, "trace id low"); p.u8(0, "priority 0"); p.u8(0, "reserved")
p.string("echo", "method"); p.string("", "model"); p.string("", "version"); p.string("", "routing key")
p.params([("top_k", "3")]); p.tensors([("ids", "i64", [2], a), ("mask", "bool", [3], b), ("names", "bytes", [2], s)])
write("request-three-tensors", frame("REQUEST", 8, p), "ok",
      "REQUEST id=8 idempotent=false timeout_us=0 trace=00000000000000000000000000000000 priority=0 method=echo "
      f"model= version= routing_key= params=[top_k=3] tensors=[ids:i64[2]={hexdata(a)}, mask:bool[3]={hexdata(b)}, "
      f"names:bytes[2]={hexdata(s)}]")

probs = struct.pack("<3f", 0.25, 0.5, 0.25)
p = Payload()
p.params([("model.version", "2")]); p.tensors([("probabilities", "f32", [1, 3], probs)])
write("response", frame("RESPONSE", 7, p), "ok",
      f"RESPONSE id=7 params=[model.version=2] tensors=[probabilities:f32[1,3]={hexdata(probs)}]")

p = Payload(); p.params([]); p.tensors([])
write("response-empty", frame("RESPONSE", 9, p), "ok", "RESPONSE id=9 params=[] tensors=[]")

p = Payload(); p.u16(3, "status 3 (invalid argument)"); p.string("expected x:f32[*,64]", "message")
write("error", frame("ERROR", 7, p), "ok", "ERROR id=7 status=3 message=expected x:f32[*,64]")

write("cancel", frame("CANCEL", 7, Payload()), "ok", "CANCEL id=7")

p = Payload(); p.u64(0xDEADBEEF, "opaque 0xDEADBEEF")
write("ping", frame("PING", 0, p), "ok", "PING opaque=3735928559")
p = Payload(); p.u64(0xDEADBEEF, "opaque 0xDEADBEEF")
write("pong", frame("PONG", 0, p), "ok", "PONG opaque=3735928559")

p = Payload(); p.u32(41, "last request id 41"); p.u16(0, "status 0 (ok: graceful drain)"); p.string("shutting down", "message")
write("goaway", frame("GOAWAY", 0, p), "ok", "GOAWAY last_id=41 status=0 message=shutting down")

p = Payload(); p.u32(5, "opaque extension data")
write("extension-skipped", frame(0x90, 3, p, flags=0x0101), "ok", "SKIPPED type=0x90 id=3")

# --- malformed frames ----------------------------------------------------------------------
p = Payload(); p.u64(1, "opaque")
write("bad-magic", frame("PING", 0, p, magic=b"GE"), "error badMagic")
write("bad-version", frame("PING", 0, p, version=2), "error badVersion")
write("unknown-critical-type", frame(0x33, 0, p), "error unknownFrameType")
write("unknown-must-understand-flag", frame("PING", 0, p, flags=0x0004), "error unknownFlags")
write("reserved-not-zero", frame("PING", 0, p, reserved=1), "error reservedNotZero")
write("truncated-header", frame("PING", 0, p), "error truncatedFrame", truncate=10)
write("truncated-payload", frame("PING", 0, p), "error truncatedFrame", truncate=20)
write("too-large", frame("PING", 0, Payload(), length=0xFFFFFFF0), "error frameTooLarge")
p = Payload(); p.u64(1, "opaque"); p.u8(0, "one byte too many")
write("ping-trailing-byte", frame("PING", 0, p), "error malformedPayload")
write("cancel-id-zero", frame("CANCEL", 0, Payload()), "error malformedPayload")


def request_with(tensor_parts, name):
    p = Payload()
    p.u64(0, "no timeout"); p.u64(0, "trace high"); p.u64(0, "trace low"); p.u8(0, "priority"); p.u8(0, "reserved")
    for f in ("method", "model", "version", "routing key"):
        p.string("", f)
    p.params([])
    tensor_parts(p)
    return frame("REQUEST", 1, p)


def bad_length(p):  # f32 [2,2] needs 16 bytes, carries 12
    p.tensors([("x", "f32", [2, 2], b"\0" * 12)])
write("tensor-length-mismatch", request_with(bad_length, "x"), "error badTensor")


def absurd_rank(p):
    p.u16(1, "tensor count 1"); p.string("x", "tensor name"); p.u8(1, "dtype f32"); p.u8(200, "rank 200 (over 8)")
    p.add(b"\1\0\0\0" * 4, "the first dims (the rest are missing)")
write("tensor-absurd-rank", request_with(absurd_rank, "x"), "error limitExceeded")


def absurd_dim(p):  # claims 4e9 x 4e9 floats with 4 bytes of data
    p.tensors([("x", "f32", [4_000_000_000, 4_000_000_000], b"\0" * 4)])
write("tensor-absurd-dimension", request_with(absurd_dim, "x"), "error badTensor")


def unknown_dtype(p):
    p.u16(1, "tensor count 1"); p.string("x", "tensor name"); p.u8(99, "dtype 99 (unknown)"); p.u8(1, "rank 1")
    p.u32(1, "dim 1"); p.u32(64, "offset"); p.u32(1, "length")
write("tensor-unknown-dtype", request_with(unknown_dtype, "x"), "error badTensor")


def too_many_tensors(p):
    p.u16(5000, "tensor count 5000 (over 1024)")
write("too-many-tensors", request_with(too_many_tensors, "x"), "error limitExceeded")


def bad_utf8(p):
    p.add(struct.pack("<H", 2) + b"\xff\xfe", "tensor name: invalid UTF-8")
write_p = Payload()
write_p.u16(3, "status 3"); write_p.add(struct.pack("<H", 2) + b"\xff\xfe", "message: 2 bytes of invalid UTF-8")
write("error-invalid-utf8", frame("ERROR", 1, write_p), "error malformedPayload")

p = Payload(); p.u16(3, "status 3"); p.u16(500, "message length 500, but only 3 bytes follow"); p.add(b"abc", "message")
write("string-overrun", frame("ERROR", 1, p), "error malformedPayload")

print("wrote vectors to", HERE)
