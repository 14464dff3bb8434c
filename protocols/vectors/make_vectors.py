#!/usr/bin/env python3
"""Writes the wire v1 test vectors (protocols/vectors/*.vector) from the spec, independently of the Swift codec.

Each vector is annotated hex: every line is the bytes of one field with its meaning beside it after `#`.
Header lines: `@name`, `@expect ok` or `@expect error <code>`, for valid frames `@frame <text form>` (the
grammar is in wire-v1.md §9.3) and, where re-encoding normalises the bytes, `@reencoded <hex>`. The `*.exchange`
files script connection-level behaviour (wire-v1.md §9.2). Regenerate with: python3 make_vectors.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {"HELLO": 1, "REQUEST": 2, "RESPONSE": 3, "ERROR": 4, "CANCEL": 5, "PING": 6, "PONG": 7, "GOAWAY": 8}
DTYPES = {"f32": 1, "u8": 2, "i8": 3, "i32": 6, "i64": 7, "bytes": 8, "bool": 9, "f16": 10, "f64": 11, "bf16": 16}


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


def write(name, parts, expect, summary=None, truncate=None, reencoded=None):
    lines = [f"@name {name}", f"@expect {expect}"]
    if summary:
        lines.append(f"@frame {summary}")
    if reencoded is not None:
        lines.append("@reencoded " + b"".join(b for b, _ in reencoded).hex(" "))
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
    lines += hexlines(parts)
    with open(os.path.join(HERE, name + ".vector"), "w") as f:
        f.write("\n".join(lines) + "\n")


def hexlines(parts):
    """Annotated hex: up to 16 bytes a line, each field's meaning after '#'."""
    lines = []
    for b, m in parts:
        for i in range(0, len(b), 16):
            chunk = b[i:i + 16]
            lines.append(f"{chunk.hex(' '):<48}# {m}" if i == 0 else f"{chunk.hex(' '):<48}#   ...")
    return lines


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


def request_with(tensor_parts, name=""):
    """A REQUEST with empty strings and no parameters whose tensor section `tensor_parts(p)` writes."""
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



# --- builders for the vectors below -----------------------------------------------------------
def params_text(ps):
    return "[" + ", ".join(f"{k}={v}" for k, v in ps) + "]"


def tensors_text(ts):
    return "[" + ", ".join(f"{n}:{dt}[{','.join(str(d) for d in shape)}]={data.hex()}" for n, dt, shape, data in ts) + "]"


def hello(minv=1, maxv=1, max_payload=16 << 20, max_in_flight=0, idle=0, identity="peer", params=(), reserved=0):
    """A HELLO payload and its text form."""
    p = Payload()
    p.u8(minv, f"min version {minv}"); p.u8(maxv, f"max version {maxv}")
    p.u16(reserved, "reserved" if reserved == 0 else f"reserved {reserved} (must be 0)")
    p.u32(max_payload, f"max payload {max_payload}"); p.u32(max_in_flight, f"max in flight {max_in_flight}")
    p.u32(idle, f"idle timeout {idle} ms"); p.string(identity, "identity"); p.params(list(params))
    text = (f"HELLO versions={minv}...{maxv} max_payload={max_payload} max_in_flight={max_in_flight} idle_ms={idle} "
            f"identity={identity} params={params_text(params)}")
    return p, text


def request(rid, method="echo", model="", version="", key="", timeout=0, priority=0, params=(), tensors=(),
            idempotent=True, reserved=0, trace=(0, 0)):
    """A REQUEST payload and its text form; `tensors` is a list of (name, dtype, shape, data)."""
    p = Payload()
    p.u64(timeout, f"timeout {timeout} µs" if timeout else "no timeout")
    p.u64(trace[0], "trace id high"); p.u64(trace[1], "trace id low")
    p.u8(priority, f"priority {priority}"); p.u8(reserved, "reserved" if reserved == 0 else f"reserved {reserved} (must be 0)")
    p.string(method, "method"); p.string(model, "model"); p.string(version, "version"); p.string(key, "routing key")
    p.params(list(params)); p.tensors(list(tensors))
    text = (f"REQUEST id={rid} idempotent={'true' if idempotent else 'false'} timeout_us={timeout} "
            f"trace={trace[0]:016x}{trace[1]:016x} priority={priority} method={method} model={model} version={version} "
            f"routing_key={key} params={params_text(params)} tensors={tensors_text(tensors)}")
    return p, text


def response(rid, params=(), tensors=()):
    p = Payload(); p.params(list(params)); p.tensors(list(tensors))
    return p, f"RESPONSE id={rid} params={params_text(params)} tensors={tensors_text(tensors)}"


def error(rid, status, message):
    p = Payload(); p.u16(status, f"status {status}"); p.string(message, "message")
    return p, f"ERROR id={rid} status={status} message={message}"


def goaway(last, status, message):
    p = Payload(); p.u32(last, f"last request id {last}"); p.u16(status, f"status {status}"); p.string(message, "message")
    return p, f"GOAWAY last_id={last} status={status} message={message}"


def ping(kind, opaque):
    p = Payload(); p.u64(opaque, f"opaque {opaque}")
    return p, f"{kind} opaque={opaque}"


# --- valid frames at the edges ------------------------------------------------------------------
p, t = ping("PING", 1)
write("ping-may-ignore-flag", frame("PING", 0, p, flags=0x0100), "ok", t, reencoded=frame("PING", 0, p))

scalar = struct.pack("<f", 3.5)
p, t = request(2, method="echo", tensors=[("s", "f32", [], scalar), ("e", "f32", [0], b""),
                                          ("z", "i64", [4_000_000_000, 0], b"")])
write("request-scalar-and-empty-tensors", frame("REQUEST", 2, p, flags=1), "ok", t)

p, t = request(3, method="echo", timeout=(1 << 63) - 1)
write("request-longest-timeout", frame("REQUEST", 3, p, flags=1), "ok", t)

many = [(f"p{i:03d}", "") for i in range(256)]
p, t = request(4, method="echo", params=many)
write("request-256-parameters", frame("REQUEST", 4, p, flags=1), "ok", t)

p, t = error(0, 13, "connection failed")
write("error-connection-level", frame("ERROR", 0, p), "ok", t)

# revision 1.2: bf16 (the upper half of each binary32: 1.0, -2.5, 3.140625) and the HELLO that announces it
bf16 = struct.pack("<3H", 0x3F80, 0xC020, 0x4049)
p, t = request(5, method="echo", tensors=[("h", "bf16", [1, 3], bf16)])
write("request-bf16", frame("REQUEST", 5, p, flags=1), "ok", t)
p, t = hello(max_in_flight=64, identity="inference-1", params=[("tensor.dtypes", "16")])
write("hello-tensor-dtypes", frame("HELLO", 0, p), "ok", t)

# --- one vector per error case (wire-v1.md §3.1 and §8) ----------------------------------------
p, _ = hello(reserved=1)
write("hello-reserved-not-zero", frame("HELLO", 0, p), "error reservedNotZero")
p, _ = hello(minv=2, maxv=1)
write("hello-version-range-empty", frame("HELLO", 0, p), "error malformedPayload")
p, _ = hello(minv=0, maxv=1)
write("hello-min-version-zero", frame("HELLO", 0, p), "error malformedPayload")
p, _ = hello(max_payload=65535)
write("hello-max-payload-too-small", frame("HELLO", 0, p), "error malformedPayload")
p, _ = hello(); p.u8(0, "one byte after the parameters")
write("hello-trailing-byte", frame("HELLO", 0, p), "error malformedPayload")
p, _ = hello()
write("hello-nonzero-id", frame("HELLO", 1, p), "error malformedPayload")

p, _ = request(1, reserved=1)
write("request-reserved-not-zero", frame("REQUEST", 1, p), "error reservedNotZero")
p, _ = request(1, timeout=1 << 63)
write("request-timeout-out-of-range", frame("REQUEST", 1, p), "error malformedPayload")
p, _ = request(1)
write("request-id-zero", frame("REQUEST", 0, p), "error malformedPayload")
write("request-unknown-must-understand-flag", frame("REQUEST", 1, p, flags=0x0002), "error unknownFlags")
p, _ = request(1); p.u8(0, "one byte after the (empty) tensor section")
write("request-trailing-byte", frame("REQUEST", 1, p), "error malformedPayload")
p, _ = request(1, params=[(f"p{i:03d}", "") for i in range(257)])
write("too-many-parameters", frame("REQUEST", 1, p), "error limitExceeded")

p = Payload()
p.u64(0, "no timeout"); p.u64(0, "trace high"); p.u64(0, "trace low"); p.u8(0, "priority"); p.u8(0, "reserved")
for f in ("method", "model", "version", "routing key"):
    p.string("", f)
p.u16(1, "parameter count 1"); p.u16(40, "key length 40, but 3 bytes follow"); p.add(b"abc", "key")
write("parameter-key-overrun", frame("REQUEST", 1, p), "error malformedPayload")

p, _ = response(1, tensors=[("y", "f32", [2], struct.pack("<2f", 1, 2))]); p.add(b"\0" * 4, "4 bytes after the last tensor")
write("response-trailing-bytes", frame("RESPONSE", 1, p), "error malformedPayload")
p, _ = response(1)
write("response-id-zero", frame("RESPONSE", 0, p), "error malformedPayload")
p = Payload(); p.u8(3, "one byte: the status needs two")
write("error-status-truncated", frame("ERROR", 1, p), "error malformedPayload")
p, _ = ping("PING", 1)
write("ping-nonzero-id", frame("PING", 4, p), "error malformedPayload")
write("pong-nonzero-id", frame("PONG", 4, p), "error malformedPayload")
p, _ = goaway(0, 0, "bye")
write("goaway-nonzero-id", frame("GOAWAY", 4, p), "error malformedPayload")


def descriptor(p, name, dt, shape, offset, length, dtype_code=None):
    p.string(name, "tensor name"); p.u8(dtype_code if dtype_code is not None else DTYPES[dt], f"dtype {dt}")
    p.u8(len(shape), f"rank {len(shape)}")
    for d in shape:
        p.u32(d, f"dim {d}")
    p.u32(offset, f"data offset {offset}"); p.u32(length, f"data length {length}")


def pad_to(p, offset):
    if offset > p.size():
        p.add(b"\0" * (offset - p.size()), f"zero padding to offset {offset}")


def offset_case(offset):
    def parts(p):  # f32 [4]; the canonical offset is 64 (the descriptor ends at 51)
        p.u16(1, "tensor count 1"); descriptor(p, "x", "f32", [4], offset, 16)
        pad_to(p, offset); p.add(b"\0" * 16, "data of 'x'")
    return parts
write("tensor-offset-past-canonical", request_with(offset_case(128)), "error badTensor")
write("tensor-offset-unaligned", request_with(offset_case(52)), "error badTensor")


def data_past_end(p):
    p.u16(1, "tensor count 1"); descriptor(p, "x", "f32", [4], 64, 16)
    pad_to(p, 64); p.add(b"\0" * 8, "8 of the 16 bytes of 'x': the payload ends here")
write("tensor-data-past-end", request_with(data_past_end), "error badTensor")


def bytes_overrun(p):  # one element whose length says 10 with 2 bytes left
    p.tensors([("s", "bytes", [1], struct.pack("<I", 10) + b"ab")])
write("tensor-bytes-element-overrun", request_with(bytes_overrun), "error badTensor")


def bytes_count(p):  # shape says 2 elements, the data holds 1
    p.tensors([("s", "bytes", [2], struct.pack("<I", 2) + b"ab")])
write("tensor-bytes-count-mismatch", request_with(bytes_count), "error badTensor")


def name_not_utf8(p):
    p.u16(1, "tensor count 1"); bad_utf8(p)
write("tensor-name-invalid-utf8", request_with(name_not_utf8), "error malformedPayload")

# --- the order of checks: each breaks two rules, the first checked names the error ----------------
p, _ = ping("PING", 1)
write("order-magic-before-version", frame("PING", 0, p, magic=b"GE", version=2), "error badMagic")
write("order-version-before-reserved", frame("PING", 0, p, version=2, reserved=1), "error badVersion")
write("order-reserved-before-length", frame("PING", 0, p, reserved=1, length=0xFFFFFFF0), "error reservedNotZero")
write("order-length-before-type", frame(0x33, 0, Payload(), length=0xFFFFFFF0), "error frameTooLarge")
write("order-type-before-flags", frame(0x33, 0, p, flags=0x0004), "error unknownFrameType")
write("order-flags-before-request-id", frame("PING", 5, p, flags=0x0004), "error unknownFlags")
write("order-truncated-header-before-magic", frame("PING", 0, p, magic=b"GE"), "error truncatedFrame", truncate=8)
p, _ = request(0, reserved=1)
write("order-request-id-before-payload", frame("REQUEST", 0, p), "error malformedPayload")
p, _ = hello(minv=0, maxv=1, reserved=1)
write("order-hello-versions-before-reserved", frame("HELLO", 0, p), "error malformedPayload")
p, _ = hello(reserved=1, max_payload=100)
write("order-hello-reserved-before-max-payload", frame("HELLO", 0, p), "error reservedNotZero")
p, _ = request(1, timeout=1 << 63, reserved=1)
write("order-timeout-before-reserved", frame("REQUEST", 1, p), "error malformedPayload")

p = Payload()
p.u64(0, "no timeout"); p.u64(0, "trace high"); p.u64(0, "trace low"); p.u8(0, "priority"); p.u8(0, "reserved")
p.string("echo", "method"); p.string("", "model"); p.string("", "version")
p.add(struct.pack("<H", 2) + b"\xff\xfe", "routing key: invalid UTF-8"); p.u16(300, "parameter count 300 (over 256)")
write("order-fields-in-payload-order", frame("REQUEST", 1, p), "error malformedPayload")


def dtype_before_rank(p):
    p.u16(1, "tensor count 1"); p.string("x", "tensor name"); p.u8(99, "dtype 99 (unknown)"); p.u8(9, "rank 9 (over 8)")
write("order-dtype-before-rank", request_with(dtype_before_rank), "error badTensor")


def descriptors_before_data(p):  # tensor 1's offset is wrong (a data check), tensor 2's rank is over 8 (a descriptor check)
    p.u16(2, "tensor count 2"); descriptor(p, "a", "f32", [1], 0, 4)
    p.string("b", "tensor name"); p.u8(1, "dtype f32"); p.u8(9, "rank 9 (over 8)")
write("order-descriptors-before-data", request_with(descriptors_before_data), "error limitExceeded")


def tensor_before_trailing(p):  # f32 [2,2] needs 16 bytes, carries 12; 4 stray bytes follow
    p.tensors([("x", "f32", [2, 2], b"\0" * 12)]); p.add(b"\0" * 4, "4 bytes after the last tensor")
write("order-tensor-before-trailing-bytes", request_with(tensor_before_trailing), "error badTensor")


# --- exchanges: connection-level rules (wire-v1.md §9.2) ----------------------------------------
class Exchange:
    def __init__(self, name, role, expect, config=None):
        self.lines = [f"@name {name}", f"@role {role}"]
        if config:
            self.lines.append(f"@config {config}")
        self.lines.append(f"@expect {expect}")
        self.name = name

    def send(self, kind, rid, built, **kw):
        payload, text = built
        self.lines.append(f"send {text}")
        self.lines += hexlines(frame(kind, rid, payload, **kw))
        return self

    def step(self, line):
        self.lines.append(line)
        return self

    def save(self):
        with open(os.path.join(HERE, self.name + ".exchange"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def server_session(name, expect="ok", config=None):
    """The implementation is the server: open with the client's HELLO."""
    return Exchange(name, "server", expect, config).send("HELLO", 0, hello(identity="exchange")).step("recv HELLO")


def client_session(name, expect="ok"):
    """The implementation is the client: it sends HELLO, the scripted server answers."""
    return (Exchange(name, "client", expect).step("recv HELLO")
            .send("HELLO", 0, hello(max_in_flight=8, identity="scripted-server")))


delayed = lambda ms: [("echo.delay_ms", str(ms))]

# server role
server_session("server-ping").send("PING", 0, ping("PING", 42)).step("recv PONG opaque=42").save()
(Exchange("server-first-frame-not-hello", "server", "error unexpectedFrame")
    .send("PING", 0, ping("PING", 1)).step("closed").save())
(server_session("server-second-hello", "error unexpectedFrame").send("HELLO", 0, hello(identity="exchange"))
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(Exchange("server-hello-no-common-version", "server", "ok")
    .send("HELLO", 0, hello(minv=2, maxv=3, identity="exchange")).step("recv GOAWAY last_id=0 status=9")
    .step("closed").save())
(server_session("server-response-sent-to-server", "error unexpectedFrame").send("RESPONSE", 1, response(1))
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(server_session("server-error-sent-to-server", "error unexpectedFrame").send("ERROR", 3, error(3, 13, "oops"))
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(server_session("server-request-id-not-increasing", "error unexpectedFrame")
    .send("REQUEST", 5, request(5, method="health"), flags=1).step("recv RESPONSE id=5")
    .send("REQUEST", 5, request(5, method="health"), flags=1)
    .step("recv GOAWAY last_id=5 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(server_session("server-cancel-unknown-id-ignored").send("CANCEL", 9, (Payload(), "CANCEL id=9"))
    .send("PING", 0, ping("PING", 7)).step("recv PONG opaque=7").save())
(server_session("server-extension-frame-skipped").send(0x90, 3, (Payload(), "SKIPPED type=0x90 id=3"), flags=0x0101)
    .send("PING", 0, ping("PING", 7)).step("recv PONG opaque=7").save())
(server_session("server-deadline-exceeded")
    .send("REQUEST", 1, request(1, timeout=50_000, params=delayed(5000)), flags=1).step("recv ERROR id=1 status=4").save())
(server_session("server-protocol-error-answers-nothing", "error malformedPayload")
    .send("REQUEST", 1, request(1, params=delayed(5000)), flags=1)
    .send("PING", 0, (Payload(), "PING with an empty payload (needs 8 bytes)"))
    .step("recv GOAWAY last_id=1 status=3 message^=protocol error: malformedPayload").step("closed").save())
(server_session("server-client-goaway-drains")  # the delay outlasts the steps before the answer, even on a starved host
    .send("REQUEST", 1, request(1, params=delayed(5000)), flags=1)
    .send("GOAWAY", 0, goaway(0, 0, "client done"))
    .step("recv GOAWAY last_id=1 status=0")
    .send("REQUEST", 2, request(2), flags=1)
    .step("recv RESPONSE id=1").step("closed").save())
(server_session("server-client-goaway-not-graceful")
    .send("REQUEST", 1, request(1, params=delayed(5000)), flags=1)
    .send("GOAWAY", 0, goaway(0, 3, "protocol error: unknownRequest: answer for request 9"))
    .step("closed").save())
(server_session("server-over-max-in-flight", config="max_in_flight=1")  # request 1 is cancelled before its delay ends
    .send("REQUEST", 1, request(1, params=delayed(5000)), flags=1)
    .send("REQUEST", 2, request(2), flags=1).step("recv ERROR id=2 status=8")
    .send("PING", 0, ping("PING", 5)).step("recv PONG opaque=5")
    .send("CANCEL", 1, (Payload(), "CANCEL id=1"))
    .send("REQUEST", 3, request(3), flags=1).step("recv RESPONSE id=3").save())

# revision 1.2 (§5.2): bf16 only to a client that announced it; otherwise that request alone fails
announced = [("tensor.dtypes", "16")]
(Exchange("server-bf16-announced", "server", "ok")
    .send("HELLO", 0, hello(identity="exchange", params=announced)).step("recv HELLO params=[tensor.dtypes=16]")
    .send("REQUEST", 1, request(1, tensors=[("h", "bf16", [3], bf16)]), flags=1)
    .step(f"recv RESPONSE id=1 params=[] tensors=[h:bf16[3]={bf16.hex()}]").save())
(server_session("server-bf16-not-announced")
    .send("REQUEST", 1, request(1, tensors=[("h", "bf16", [3], bf16)]), flags=1)
    .step("recv ERROR id=1 status=9")
    .send("REQUEST", 2, request(2, tensors=[("x", "f32", [1], struct.pack("<f", 1.0))]), flags=1)
    .step("recv RESPONSE id=2").save())

# client role
(client_session("client-response-for-unsent-request", "error unknownRequest")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .send("RESPONSE", 99, response(99))
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unknownRequest")
    .step("outcome 1 unavailable").step("closed").save())
(client_session("client-request-sent-to-client", "error unexpectedFrame")
    .send("REQUEST", 1, request(1), flags=1)
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(client_session("client-second-hello", "error unexpectedFrame")
    .send("HELLO", 0, hello(max_in_flight=8, identity="scripted-server"))
    .step("recv GOAWAY last_id=0 status=3 message^=protocol error: unexpectedFrame").step("closed").save())
(Exchange("client-hello-no-common-version", "client", "ok").step("recv HELLO")
    .send("HELLO", 0, hello(minv=2, maxv=2, max_in_flight=8, identity="scripted-server")).step("closed").save())
(client_session("client-ping").send("PING", 0, ping("PING", 7)).step("recv PONG opaque=7").save())
(client_session("client-late-answer-ignored")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .send("RESPONSE", 1, response(1)).step("outcome 1 ok")
    .send("RESPONSE", 1, response(1)).send("ERROR", 1, error(1, 13, "late"))
    .send("PING", 0, ping("PING", 7)).step("recv PONG opaque=7").save())
(client_session("client-error-answer")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .send("ERROR", 1, error(1, 5, "no such method")).step("outcome 1 not found").save())
(client_session("client-deadline-sends-cancel")
    .step("call 1 echo deadline_ms=1000").step("recv REQUEST id=1 method=echo")
    .step("outcome 1 deadline exceeded").step("recv CANCEL id=1").save())
(client_session("client-goaway-graceful")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .step("call 2 echo").step("recv REQUEST id=2 method=echo")
    .send("GOAWAY", 0, goaway(1, 0, "draining")).step("outcome 2 unavailable")
    .send("RESPONSE", 1, response(1)).step("outcome 1 ok").step("closed").save())
(client_session("client-goaway-not-graceful")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .step("call 2 echo").step("recv REQUEST id=2 method=echo")
    .send("GOAWAY", 0, goaway(1, 3, "protocol error: badTensor: tensor 'x'"))
    .step("outcome 1 unavailable").step("outcome 2 unavailable").step("closed").save())
(client_session("client-connection-error")
    .step("call 1 echo").step("recv REQUEST id=1 method=echo")
    .send("ERROR", 0, error(0, 13, "connection failed"))
    .step("outcome 1 unavailable").step("closed").save())

print("wrote vectors to", HERE)
