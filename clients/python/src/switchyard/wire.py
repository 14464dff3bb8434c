"""The Switchyard wire protocol, version 1 (revision 1.1), as ``protocols/wire-v1.md`` specifies it.

Frames encode to bytes and decode from them with every check of the spec's §3.1, in its order, so that a
malformed frame gets the same error name (:class:`FrameError` ``.name``) as in any other implementation.
Tensors are numpy arrays: decoding makes views of the payload (``np.frombuffer``), never a Python loop
over elements (only the variable-length ``bytes`` dtype is walked element by element).

This module has no I/O; :mod:`switchyard.aio` runs connections on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

MAGIC = b"SY"
VERSION = 1
ALPN = "switchyard/1"
HEADER_SIZE = 16
HELLO_MAX_PAYLOAD = 65_536
MIN_MAX_PAYLOAD = 65_536
DEFAULT_MAX_PAYLOAD = 16 << 20
MAX_PARAMETERS = 256
MAX_TENSORS = 1024
MAX_RANK = 8
ALIGNMENT = 64
MAX_TIMEOUT_US = (1 << 63) - 1

HELLO, REQUEST, RESPONSE, ERROR, CANCEL, PING, PONG, GOAWAY = range(1, 9)
TYPE_NAMES = {HELLO: "HELLO", REQUEST: "REQUEST", RESPONSE: "RESPONSE", ERROR: "ERROR", CANCEL: "CANCEL",
              PING: "PING", PONG: "PONG", GOAWAY: "GOAWAY"}
FLAG_IDEMPOTENT = 0x0001
_KNOWN_FLAGS = {REQUEST: FLAG_IDEMPOTENT}
_CONNECTION_LEVEL = (HELLO, PING, PONG, GOAWAY)
_PER_REQUEST = (REQUEST, RESPONSE, CANCEL)

# dtype code -> (name, numpy dtype or None for bytes)
DTYPES: dict[int, tuple[str, np.dtype | None]] = {
    1: ("f32", np.dtype("<f4")), 2: ("u8", np.dtype("u1")), 3: ("i8", np.dtype("i1")), 6: ("i32", np.dtype("<i4")),
    7: ("i64", np.dtype("<i8")), 8: ("bytes", None), 9: ("bool", np.dtype("?")), 10: ("f16", np.dtype("<f2")),
    11: ("f64", np.dtype("<f8")),
}
_CODE_BY_KIND: dict[tuple[str, int], int] = {
    ("f", 4): 1, ("u", 1): 2, ("i", 1): 3, ("i", 4): 6, ("i", 8): 7, ("b", 1): 9, ("f", 2): 10, ("f", 8): 11,
}
_ELEMENT_SIZE = {code: (dt.itemsize if dt is not None else 0) for code, (_, dt) in DTYPES.items()}

_HEADER = struct.Struct("<2sBBHHII")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_REQUEST_FIXED = struct.Struct("<QQQBB")
_DESCRIPTOR_TAIL = struct.Struct("<II")

Tensor = np.ndarray
"""A tensor is a numpy array; ``bytes`` tensors are arrays of dtype ``object`` holding ``bytes``."""


class FrameError(ValueError):
    """A violation of the wire protocol, named as in wire-v1.md §8 (``badTensor``, ``malformedPayload``, ...)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


# --- frames -----------------------------------------------------------------------------------


def _params_text(params: Sequence[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{k}={v}" for k, v in params) + "]"


def _tensors_text(tensors: Sequence[tuple[str, np.ndarray]]) -> str:
    items = []
    for name, array in tensors:
        code = dtype_code(array)
        items.append(f"{name}:{DTYPES[code][0]}[{','.join(str(d) for d in array.shape)}]={tensor_bytes(array, code).hex()}")
    return "[" + ", ".join(items) + "]"


@dataclass
class Hello:
    """HELLO: what a peer speaks and accepts."""

    min_version: int = VERSION
    max_version: int = VERSION
    max_payload: int = DEFAULT_MAX_PAYLOAD
    max_in_flight: int = 0
    idle_timeout_ms: int = 0
    identity: str = ""
    parameters: list[tuple[str, str]] = field(default_factory=list)
    type = HELLO
    request_id = 0

    def text(self) -> str:
        return (f"HELLO versions={self.min_version}...{self.max_version} max_payload={self.max_payload} "
                f"max_in_flight={self.max_in_flight} idle_ms={self.idle_timeout_ms} identity={self.identity} "
                f"params={_params_text(self.parameters)}")


@dataclass
class Request:
    """REQUEST: a call; ``tensors`` are (name, array) pairs in wire order."""

    request_id: int
    method: str
    model: str = ""
    version: str = ""
    routing_key: str = ""
    timeout_us: int = 0
    trace_id: tuple[int, int] = (0, 0)
    priority: int = 0
    idempotent: bool = True
    parameters: list[tuple[str, str]] = field(default_factory=list)
    tensors: list[tuple[str, np.ndarray]] = field(default_factory=list)
    type = REQUEST

    def text(self) -> str:
        return (f"REQUEST id={self.request_id} idempotent={'true' if self.idempotent else 'false'} "
                f"timeout_us={self.timeout_us} trace={self.trace_id[0]:016x}{self.trace_id[1]:016x} "
                f"priority={self.priority} method={self.method} model={self.model} version={self.version} "
                f"routing_key={self.routing_key} params={_params_text(self.parameters)} "
                f"tensors={_tensors_text(self.tensors)}")


@dataclass
class Response:
    """RESPONSE: the answer to a request."""

    request_id: int
    parameters: list[tuple[str, str]] = field(default_factory=list)
    tensors: list[tuple[str, np.ndarray]] = field(default_factory=list)
    type = RESPONSE

    def text(self) -> str:
        return (f"RESPONSE id={self.request_id} params={_params_text(self.parameters)} "
                f"tensors={_tensors_text(self.tensors)}")


@dataclass
class Error:
    """ERROR: a failed request (id ≥ 1) or a connection-level failure (id 0)."""

    request_id: int
    status: int
    message: str
    type = ERROR

    def text(self) -> str:
        return f"ERROR id={self.request_id} status={self.status} message={self.message}"


@dataclass
class Cancel:
    """CANCEL: the client no longer wants the answer."""

    request_id: int
    type = CANCEL

    def text(self) -> str:
        return f"CANCEL id={self.request_id}"


@dataclass
class Ping:
    """PING (or PONG when ``pong``): keepalive with an opaque value."""

    opaque: int
    pong: bool = False
    request_id = 0

    @property
    def type(self) -> int:
        return PONG if self.pong else PING

    def text(self) -> str:
        return f"{'PONG' if self.pong else 'PING'} opaque={self.opaque}"


@dataclass
class GoAway:
    """GOAWAY: the sender ends the connection; see wire-v1.md §6.5."""

    last_request_id: int
    status: int
    message: str
    type = GOAWAY
    request_id = 0

    def text(self) -> str:
        return f"GOAWAY last_id={self.last_request_id} status={self.status} message={self.message}"


@dataclass
class Skipped:
    """An extension frame (type ≥ 0x80) this implementation does not know; its payload was skipped."""

    type: int
    request_id: int

    def text(self) -> str:
        return f"SKIPPED type=0x{self.type:02X} id={self.request_id}"


Frame = Union[Hello, Request, Response, Error, Cancel, Ping, GoAway, Skipped]


# --- tensors ----------------------------------------------------------------------------------


def dtype_code(array: np.ndarray) -> int:
    """The wire dtype code of a numpy array (``object`` arrays of bytes/str are ``bytes``).

    Raises:
        TypeError: for a dtype the protocol does not carry (e.g. complex, unsigned 16-bit).
    """
    kind = array.dtype.kind
    if kind in "OSU":
        return 8
    code = _CODE_BY_KIND.get((kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(f"dtype {array.dtype} has no wire dtype (f32, f16, f64, u8, i8, i32, i64, bool, bytes)")
    return code


def as_tensor(value: object) -> np.ndarray:
    """A numpy array as the wire carries it: C-contiguous, little-endian; lists and scalars are converted."""
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        return array
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.copy(array, order="C")  # keeps rank 0


def tensor_bytes(array: np.ndarray, code: int | None = None) -> bytes | memoryview:
    """The data section of one tensor: the raw bytes, or for ``bytes`` tensors length-prefixed elements."""
    if (code if code is not None else dtype_code(array)) != 8:
        if array.size == 0:
            return b""
        return memoryview(as_tensor(array).reshape(-1)).cast("B")
    parts = []
    for item in array.reshape(-1):  # variable-length: one element at a time is the format
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(_U32.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _element_count(shape: Sequence[int]) -> int:
    if 0 in shape:  # exact: zero however large the other dimensions (wire-v1.md §5)
        return 0
    count = 1
    for dim in shape:
        count *= dim
    return count


# --- encoding ---------------------------------------------------------------------------------


def _string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError(f"string of {len(data)} bytes is over the limit of 65535")
    return _U16.pack(len(data)) + data


def encode_parameters(params: Iterable[tuple[str, str]]) -> bytes:
    """The parameter block: a count, then key and value strings."""
    params = list(params)
    if len(params) > MAX_PARAMETERS:
        raise ValueError(f"{len(params)} parameters, the limit is {MAX_PARAMETERS}")
    return _U16.pack(len(params)) + b"".join(_string(k) + _string(v) for k, v in params)


def tensor_section(tensors: Sequence[tuple[str, np.ndarray]], start: int) -> list[bytes | memoryview]:
    """The tensor section's parts, for a section that starts at payload offset ``start``.

    The data parts are views of the arrays: the only copy is the one into the outgoing buffer.
    """
    if len(tensors) > MAX_TENSORS:
        raise ValueError(f"{len(tensors)} tensors, the limit is {MAX_TENSORS}")
    datas = []
    descriptors = [_U16.pack(len(tensors))]
    for name, array in tensors:
        code = dtype_code(array)
        if array.ndim > MAX_RANK:
            raise ValueError(f"tensor '{name}' has rank {array.ndim}, the limit is {MAX_RANK}")
        data = tensor_bytes(array, code)
        datas.append(data)
        descriptors.append(_string(name) + struct.pack(f"<BB{array.ndim}I", code, array.ndim, *array.shape))
    position = start + sum(len(d) for d in descriptors) + 8 * len(tensors)
    parts: list[bytes | memoryview] = []
    tails = []
    for data in datas:
        offset = -(-position // ALIGNMENT) * ALIGNMENT
        tails.append(_DESCRIPTOR_TAIL.pack(offset, len(data)))
        position = offset + len(data)
    parts.append(descriptors[0])
    for descriptor, tail in zip(descriptors[1:], tails):
        parts.append(descriptor)
        parts.append(tail)
    position = start + sum(len(p) for p in parts)
    for data in datas:
        padding = -position % ALIGNMENT
        if padding:
            parts.append(bytes(padding))
        parts.append(data)
        position += padding + len(data)
    return parts


def header(ftype: int, request_id: int, length: int, flags: int = 0) -> bytes:
    """The 16-byte frame header."""
    return _HEADER.pack(MAGIC, VERSION, ftype, flags, 0, request_id, length)


def encode_parts(frame: Frame) -> list[bytes | memoryview]:
    """A frame as a list of byte parts (header first), for a scatter write or ``b"".join``."""
    flags = 0
    if isinstance(frame, Hello):
        payload: list[bytes | memoryview] = [
            struct.pack("<BBHIII", frame.min_version, frame.max_version, 0, frame.max_payload, frame.max_in_flight,
                        frame.idle_timeout_ms),
            _string(frame.identity), encode_parameters(frame.parameters)]
    elif isinstance(frame, Request):
        if frame.request_id == 0:
            raise ValueError("request id 0 is reserved")
        if frame.idempotent:
            flags = FLAG_IDEMPOTENT
        prefix = (_REQUEST_FIXED.pack(frame.timeout_us, frame.trace_id[0], frame.trace_id[1], frame.priority, 0)
                  + _string(frame.method) + _string(frame.model) + _string(frame.version) + _string(frame.routing_key)
                  + encode_parameters(frame.parameters))
        payload = [prefix] + tensor_section(frame.tensors, len(prefix))
    elif isinstance(frame, Response):
        prefix = encode_parameters(frame.parameters)
        payload = [prefix] + tensor_section(frame.tensors, len(prefix))
    elif isinstance(frame, Error):
        payload = [_U16.pack(frame.status) + _string(frame.message)]
    elif isinstance(frame, Cancel):
        payload = []
    elif isinstance(frame, Ping):
        payload = [_U64.pack(frame.opaque)]
    elif isinstance(frame, GoAway):
        payload = [_U32.pack(frame.last_request_id) + _U16.pack(frame.status) + _string(frame.message)]
    else:
        raise ValueError(f"{frame!r} cannot be encoded")
    length = sum(len(p) for p in payload)
    return [header(frame.type, frame.request_id, length, flags)] + payload


def encode(frame: Frame) -> bytes:
    """A frame as bytes."""
    return b"".join(encode_parts(frame))


# --- decoding ---------------------------------------------------------------------------------


class _Reader:
    """Front-to-back reads that check each field as soon as it is read (wire-v1.md §3.1, checks 9-14)."""

    __slots__ = ("data", "position", "end")

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data
        self.position = 0
        self.end = len(data)

    def need(self, count: int, what: str) -> None:
        if self.end - self.position < count:
            raise FrameError("malformedPayload", f"payload ends inside {what}")

    def u8(self, what: str) -> int:
        self.need(1, what)
        self.position += 1
        return self.data[self.position - 1]

    def u16(self, what: str) -> int:
        self.need(2, what)
        self.position += 2
        return _U16.unpack_from(self.data, self.position - 2)[0]

    def u32(self, what: str) -> int:
        self.need(4, what)
        self.position += 4
        return _U32.unpack_from(self.data, self.position - 4)[0]

    def u64(self, what: str) -> int:
        self.need(8, what)
        self.position += 8
        return _U64.unpack_from(self.data, self.position - 8)[0]

    def string(self, what: str) -> str:
        length = self.u16(what)
        self.need(length, what)
        start = self.position
        self.position += length
        try:
            return str(self.data[start:self.position], "utf-8")
        except UnicodeDecodeError:
            raise FrameError("malformedPayload", f"{what} is not valid UTF-8") from None

    def parameters(self) -> list[tuple[str, str]]:
        count = self.u16("parameter count")
        if count > MAX_PARAMETERS:
            raise FrameError("limitExceeded", f"{count} parameters, the limit is {MAX_PARAMETERS}")
        return [(self.string("parameter key"), self.string("parameter value")) for _ in range(count)]

    def done(self, what: str) -> None:
        if self.position != self.end:
            raise FrameError("malformedPayload", f"{self.end - self.position} bytes after the end of the {what}")

    def tensors(self, payload: bytes) -> list[tuple[str, np.ndarray]]:
        count = self.u16("tensor count")
        if count > MAX_TENSORS:
            raise FrameError("limitExceeded", f"{count} tensors, the limit is {MAX_TENSORS}")
        descriptors = []
        for _ in range(count):
            name = self.string("tensor name")
            code = self.u8("dtype")
            if code not in DTYPES:
                raise FrameError("badTensor", f"tensor '{name}' has unknown dtype code {code}")
            rank = self.u8("rank")
            if rank > MAX_RANK:
                raise FrameError("limitExceeded", f"tensor '{name}' has rank {rank}, the limit is {MAX_RANK}")
            self.need(4 * rank, "dimensions")
            dims = struct.unpack_from(f"<{rank}I", self.data, self.position)
            self.position += 4 * rank
            offset = self.u32("data offset")
            length = self.u32("data length")
            descriptors.append((name, code, dims, offset, length))
        expected = -(-self.position // ALIGNMENT) * ALIGNMENT
        tensors = []
        for name, code, dims, offset, length in descriptors:
            if offset != expected:
                raise FrameError("badTensor", f"tensor '{name}' data at offset {offset}, expected {expected}")
            if length > self.end - offset:
                raise FrameError("badTensor", f"tensor '{name}' data runs past the end of the payload")
            tensors.append((name, _tensor(payload, name, code, dims, offset, length)))
            self.position = offset + length
            expected = -(-self.position // ALIGNMENT) * ALIGNMENT
        if count == 0:
            self.done("payload")
        elif self.position != self.end:
            raise FrameError("malformedPayload", f"{self.end - self.position} bytes after the last tensor")
        return tensors


def _tensor(payload: bytes, name: str, code: int, dims: tuple[int, ...], offset: int, length: int) -> np.ndarray:
    count = _element_count(dims)
    dtype = DTYPES[code][1]
    if dtype is not None:
        if count * dtype.itemsize != length:
            raise FrameError("badTensor", f"tensor '{name}' needs {count * dtype.itemsize} bytes of data, got {length}")
        return np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(dims)
    # bytes: count elements, each a u32 length then the bytes, consuming the data exactly
    if count * 4 > length:
        raise FrameError("badTensor", f"tensor '{name}' has {count} bytes elements in {length} bytes")
    items = []
    position, end = offset, offset + length
    for _ in range(count):
        if end - position < 4:
            raise FrameError("badTensor", f"tensor '{name}': a length prefix runs past the data")
        size = _U32.unpack_from(payload, position)[0]
        position += 4
        if end - position < size:
            raise FrameError("badTensor", f"tensor '{name}': an element runs past the data")
        items.append(payload[position:position + size])
        position += size
    if position != end:
        raise FrameError("badTensor", f"tensor '{name}' has {end - position} bytes after its {count} elements")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(dims)


def check_header(data: bytes | memoryview, offset: int, max_payload: int, version: int = VERSION) -> tuple[int, int, int, int]:
    """Checks 1-4 of wire-v1.md §3.1 on the header at ``offset``; returns (type, flags, request id, length)."""
    magic, frame_version, ftype, flags, reserved, request_id, length = _HEADER.unpack_from(data, offset)
    if magic != MAGIC:
        raise FrameError("badMagic", f"magic is {bytes(magic)!r}, expected b'SY'")
    if frame_version != version:
        raise FrameError("badVersion", f"frame has version {frame_version}, the connection speaks {version}")
    if reserved:
        raise FrameError("reservedNotZero", "header bytes 6-7 must be zero")
    if length > max_payload:
        raise FrameError("frameTooLarge", f"payload of {length} bytes is over the limit of {max_payload}")
    return ftype, flags, request_id, length


def decode_payload(ftype: int, flags: int, request_id: int, payload: bytes) -> Frame:
    """Checks 6-14 of wire-v1.md §3.1: decodes the payload of a frame whose header passed checks 1-4."""
    if ftype not in TYPE_NAMES:
        if ftype >= 0x80:
            return Skipped(ftype, request_id)  # flags and id belong to the extension (§3.2)
        raise FrameError("unknownFrameType", f"unknown critical frame type 0x{ftype:02X}")
    unknown = flags & 0x00FF & ~_KNOWN_FLAGS.get(ftype, 0)
    if unknown:
        raise FrameError("unknownFlags", f"{TYPE_NAMES[ftype]} has unknown must-understand flags 0x{unknown:02X}")
    if ftype in _CONNECTION_LEVEL and request_id != 0:
        raise FrameError("malformedPayload", f"{TYPE_NAMES[ftype]} must have request id 0, has {request_id}")
    if ftype in _PER_REQUEST and request_id == 0:
        raise FrameError("malformedPayload", f"{TYPE_NAMES[ftype]} must not use request id 0")
    reader = _Reader(payload)
    if ftype == RESPONSE:
        parameters = reader.parameters()
        return Response(request_id, parameters, reader.tensors(payload))
    if ftype == ERROR:
        status = reader.u16("status code")
        message = reader.string("message")
        reader.done("ERROR payload")
        return Error(request_id, status, message)
    if ftype == REQUEST:
        timeout = reader.u64("timeout")
        if timeout > MAX_TIMEOUT_US:
            raise FrameError("malformedPayload", f"timeout of {timeout} µs is out of range")
        trace = (reader.u64("trace id"), reader.u64("trace id"))
        priority = reader.u8("priority")
        if reader.u8("reserved") != 0:
            raise FrameError("reservedNotZero", "REQUEST byte 25 must be zero")
        method, model, version, key = (reader.string("method"), reader.string("model"), reader.string("version"),
                                       reader.string("routing key"))
        parameters = reader.parameters()
        return Request(request_id, method, model, version, key, timeout, trace, priority,
                       bool(flags & FLAG_IDEMPOTENT), parameters, reader.tensors(payload))
    if ftype == HELLO:
        low, high = reader.u8("min version"), reader.u8("max version")
        if low < 1 or low > high:
            raise FrameError("malformedPayload", f"HELLO version range {low}...{high} is empty")
        if reader.u16("reserved") != 0:
            raise FrameError("reservedNotZero", "HELLO bytes 2-3 must be zero")
        max_payload = reader.u32("max payload")
        if max_payload < MIN_MAX_PAYLOAD:
            raise FrameError("malformedPayload", f"HELLO max payload {max_payload} is under {MIN_MAX_PAYLOAD}")
        max_in_flight, idle = reader.u32("max in flight"), reader.u32("idle timeout")
        identity = reader.string("identity")
        parameters = reader.parameters()
        reader.done("HELLO payload")
        return Hello(low, high, max_payload, max_in_flight, idle, identity, parameters)
    if ftype == CANCEL:
        reader.done("CANCEL payload")
        return Cancel(request_id)
    if ftype in (PING, PONG):
        opaque = reader.u64("opaque data")
        reader.done(f"{TYPE_NAMES[ftype]} payload")
        return Ping(opaque, pong=ftype == PONG)
    last = reader.u32("last request id")
    status = reader.u16("status code")
    message = reader.string("message")
    reader.done("GOAWAY payload")
    return GoAway(last, status, message)


def decode(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Decodes exactly one frame from a complete buffer (as the test vectors are decoded).

    Raises:
        FrameError: with the name of the first check of wire-v1.md §3.1 that fails.
    """
    if len(data) < HEADER_SIZE:
        raise FrameError("truncatedFrame", f"header needs {HEADER_SIZE} bytes, got {len(data)}")
    ftype, flags, request_id, length = check_header(data, 0, max_payload)
    end = HEADER_SIZE + length
    if len(data) < end:
        raise FrameError("truncatedFrame", f"frame needs {end} bytes, got {len(data)}")
    if len(data) > end:
        raise FrameError("malformedPayload", f"{len(data) - end} bytes after the end of the frame")
    return decode_payload(ftype, flags, request_id, bytes(data[HEADER_SIZE:]))
