"""The Switchyard wire protocol, version 1 (revision 1.2), as ``protocols/wire-v1.md`` specifies it.

Frames encode to bytes and decode from them with every check of the spec's §3.1, in its order, so that a
malformed frame gets the same error name (:class:`FrameError` ``.name``) as in any other implementation.
Tensors are numpy arrays: decoding makes views of the payload (``np.frombuffer``), never a Python loop
over elements (only the variable-length ``bytes`` dtype is walked element by element).

``bf16`` (revision 1.2) has no numpy type: with ``ml_dtypes`` installed (JAX and TensorFlow bring it) its tensors
are ``ml_dtypes.bfloat16`` arrays; without it they are arrays of :data:`BFLOAT16_BITS`, a structured dtype holding
each element's 16 bits, which numpy refuses to compute on rather than misread. :func:`to_bfloat16` and
:func:`from_bfloat16` convert from and to float32. Either kind is sent as ``bf16``.

This module has no I/O; :mod:`switchyard.aio` runs connections on it.
"""

from __future__ import annotations

import math
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

BFLOAT16_BITS = np.dtype([("bf16", "<u2")])
"""bf16 elements as their raw bits, where ``ml_dtypes`` is not installed."""
try:
    import ml_dtypes as _ml_dtypes

    _BFLOAT16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # optional: bf16 tensors are then BFLOAT16_BITS arrays
    _BFLOAT16 = BFLOAT16_BITS

# dtype code -> (name, numpy dtype or None for bytes)
DTYPES: dict[int, tuple[str, np.dtype | None]] = {
    1: ("f32", np.dtype("<f4")), 2: ("u8", np.dtype("u1")), 3: ("i8", np.dtype("i1")), 6: ("i32", np.dtype("<i4")),
    7: ("i64", np.dtype("<i8")), 8: ("bytes", None), 9: ("bool", np.dtype("?")), 10: ("f16", np.dtype("<f2")),
    11: ("f64", np.dtype("<f8")), 16: ("bf16", _BFLOAT16),
}
ADDED_DTYPES = frozenset({16})
"""Codes added after revision 1.1: sent only to a peer whose HELLO announces them in ``tensor.dtypes`` (§5.2)."""
TENSOR_DTYPES = "tensor.dtypes"


def announced_dtypes(parameters: Sequence[tuple[str, str]]) -> frozenset[int]:
    """The added dtype codes a HELLO's ``tensor.dtypes`` announces (unknown codes and junk ignored)."""
    codes = set()
    for key, value in parameters:
        if key == TENSOR_DTYPES:
            for part in value.split(","):
                part = part.strip()
                if part.isdigit() and int(part) in ADDED_DTYPES:
                    codes.add(int(part))
    return frozenset(codes)


def to_bfloat16(values: object) -> np.ndarray:
    """float values as a bf16 tensor, rounded to nearest even (``ml_dtypes.bfloat16`` or :data:`BFLOAT16_BITS`)."""
    floats = np.ascontiguousarray(values, dtype="<f4")
    if _BFLOAT16 is not BFLOAT16_BITS:
        return floats.astype(_BFLOAT16)
    bits = floats.view("<u4")
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    nan = np.isnan(floats)
    rounded[nan] = ((bits[nan] >> 16) | 0x0040).astype("<u2")
    return rounded.view(BFLOAT16_BITS)


def from_bfloat16(array: np.ndarray) -> np.ndarray:
    """A bf16 tensor's values as float32 (exact)."""
    if array.dtype == BFLOAT16_BITS:
        return (array.view("<u2").astype("<u4") << 16).view("<f4")
    return np.asarray(array, dtype="<f4")
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
    if array.dtype == BFLOAT16_BITS or array.dtype.name == "bfloat16":
        return 16
    code = _CODE_BY_KIND.get((kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(f"dtype {array.dtype} has no wire dtype (f32, f16, bf16, f64, u8, i8, i32, i64, bool, bytes)")
    return code


def as_tensor(value: object) -> np.ndarray:
    """A numpy array as the wire carries it: C-contiguous, little-endian; lists and scalars are converted."""
    if type(value) is np.ndarray and value.dtype in _CODES and value.flags.c_contiguous:
        return value  # the common case: nothing to convert
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        return array
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.copy(array, order="C")  # keeps rank 0


def tensor_bytes(array: np.ndarray, code: int | None = None) -> bytes | memoryview:
    """The data section of one tensor: the raw bytes, or for ``bytes`` tensors length-prefixed elements."""
    code = code if code is not None else dtype_code(array)
    if code != 8:
        if array.size == 0:
            return b""
        return _raw(as_tensor(array), code)
    parts = []
    for item in array.reshape(-1):  # variable-length: one element at a time is the format
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(_U32.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _raw(array: np.ndarray, code: int) -> memoryview:
    """The data bytes of a fixed-width tensor, without a copy (bf16 through its 16-bit words)."""
    return memoryview(array.view("<u2") if code == 16 else array).cast("B")


def _element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)  # exact (Python integers): 0 when a dimension is 0, however large the others (§5)


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


_DESCRIPTORS = [struct.Struct(f"<BB{rank}III") for rank in range(MAX_RANK + 1)]
_ZEROS = bytes(ALIGNMENT)
_CODES = {dtype: code for code, (_, dtype) in DTYPES.items() if dtype is not None}  # little-endian dtypes only
_CODES[BFLOAT16_BITS] = 16
_NAMES: dict[str, bytes] = {}


def tensor_section(tensors: Sequence[tuple[str, np.ndarray]], start: int) -> tuple[list[bytes | memoryview], int]:
    """The tensor section's parts and their total size, for a section that starts at payload offset ``start``.

    The arrays must be as :func:`as_tensor` makes them. The data parts are views of the arrays: the only copy
    is the one into the outgoing buffer.
    """
    count = len(tensors)
    if count == 0:
        return [b"\0\0"], 2
    if count == 1:
        return _one_tensor(tensors[0][0], tensors[0][1], start)
    if count > MAX_TENSORS:
        raise ValueError(f"{count} tensors, the limit is {MAX_TENSORS}")
    described = []
    position = start + 2
    for name, array in tensors:
        encoded = _NAMES.get(name)
        if encoded is None:
            encoded = _string(name)
            if len(_NAMES) < 4096:
                _NAMES[name] = encoded
        code = _CODES.get(array.dtype) or dtype_code(array)
        shape = array.shape
        rank = len(shape)
        if rank > MAX_RANK:
            raise ValueError(f"tensor '{name}' has rank {rank}, the limit is {MAX_RANK}")
        data = _raw(array, code) if code != 8 and rank and array.size else tensor_bytes(array, code)
        described.append((encoded, code, shape, rank, data))
        position += len(encoded) + 10 + 4 * rank
    parts: list[bytes | memoryview] = [_U16.pack(count)]
    for encoded, code, shape, rank, data in described:
        position = -(-position // ALIGNMENT) * ALIGNMENT
        parts.append(encoded)
        parts.append(_DESCRIPTORS[rank].pack(code, rank, *shape, position, len(data)))
        position += len(data)
    size = position - start
    position = start + sum(len(part) for part in parts)
    for _, _, _, _, data in described:
        padding = -position % ALIGNMENT
        if padding:
            parts.append(_ZEROS[:padding])
        parts.append(data)
        position += padding + len(data)
    return parts, size


_ONE = _U16.pack(1)


def _one_tensor(name: str, array: np.ndarray, start: int) -> tuple[list[bytes | memoryview], int]:
    """The tensor section of a single tensor (most calls): one header part, one data part."""
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = _string(name)
        if len(_NAMES) < 4096:
            _NAMES[name] = encoded
    code = _CODES.get(array.dtype) or dtype_code(array)
    shape = array.shape
    rank = len(shape)
    if rank > MAX_RANK:
        raise ValueError(f"tensor '{name}' has rank {rank}, the limit is {MAX_RANK}")
    data = _raw(array, code) if code != 8 and rank and array.size else tensor_bytes(array, code)
    descriptor_end = start + 12 + len(encoded) + 4 * rank
    offset = -(-descriptor_end // ALIGNMENT) * ALIGNMENT
    head = (_ONE + encoded + _DESCRIPTORS[rank].pack(code, rank, *shape, offset, len(data))
            + _ZEROS[:offset - descriptor_end])
    return [head, data], offset + len(data) - start


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
        payload = [prefix] + tensor_section([(n, as_tensor(t)) for n, t in frame.tensors], len(prefix))[0]
    elif isinstance(frame, Response):
        prefix = encode_parameters(frame.parameters)
        payload = [prefix] + tensor_section([(n, as_tensor(t)) for n, t in frame.tensors], len(prefix))[0]
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


class _Truncated(Exception):
    """Internal: a field runs past the end of the payload (reported as ``malformedPayload``)."""


def _string_at(data: bytes, position: int, end: int, what: str) -> tuple[str, int]:
    if end - position < 2:
        raise _Truncated(what)
    length = data[position] | data[position + 1] << 8
    position += 2
    stop = position + length
    if stop > end:
        raise _Truncated(what)
    try:
        return str(data[position:stop], "utf-8"), stop
    except UnicodeDecodeError:
        raise FrameError("malformedPayload", f"{what} is not valid UTF-8") from None


def _parameters_at(data: bytes, position: int, end: int) -> tuple[list[tuple[str, str]], int]:
    if end - position < 2:
        raise _Truncated("parameter count")
    count = data[position] | data[position + 1] << 8
    position += 2
    if count > MAX_PARAMETERS:
        raise FrameError("limitExceeded", f"{count} parameters, the limit is {MAX_PARAMETERS}")
    parameters = []
    for _ in range(count):
        key, position = _string_at(data, position, end, "parameter key")
        value, position = _string_at(data, position, end, "parameter value")
        parameters.append((key, value))
    return parameters, position


_DIMS = [struct.Struct(f"<{rank}III") for rank in range(MAX_RANK + 1)]


def _tensors_at(data: bytes, position: int, end: int) -> list[tuple[str, np.ndarray]]:
    """The tensor section (wire-v1.md §5): descriptors first, each field checked as read, then each tensor's data."""
    if end - position < 2:
        raise _Truncated("tensor count")
    count = data[position] | data[position + 1] << 8
    position += 2
    if count > MAX_TENSORS:
        raise FrameError("limitExceeded", f"{count} tensors, the limit is {MAX_TENSORS}")
    descriptors = []
    for _ in range(count):
        name, position = _string_at(data, position, end, "tensor name")
        if position >= end:
            raise _Truncated("dtype")
        code = data[position]
        if code not in DTYPES:
            raise FrameError("badTensor", f"tensor '{name}' has unknown dtype code {code}")
        if position + 1 >= end:
            raise _Truncated("rank")
        rank = data[position + 1]
        if rank > MAX_RANK:
            raise FrameError("limitExceeded", f"tensor '{name}' has rank {rank}, the limit is {MAX_RANK}")
        layout = _DIMS[rank]
        if end - position - 2 < layout.size:
            raise _Truncated("tensor descriptor")
        *dims, offset, length = layout.unpack_from(data, position + 2)
        position += 2 + layout.size
        descriptors.append((name, code, dims, offset, length))
    tensors = []
    expected = -(-position // ALIGNMENT) * ALIGNMENT
    for name, code, dims, offset, length in descriptors:
        if offset != expected:
            raise FrameError("badTensor", f"tensor '{name}' data at offset {offset}, expected {expected}")
        if length > end - offset:
            raise FrameError("badTensor", f"tensor '{name}' data runs past the end of the payload")
        tensors.append((name, _tensor(data, name, code, dims, offset, length)))
        position = offset + length
        expected = -(-position // ALIGNMENT) * ALIGNMENT
    if position != end:
        where = "the last tensor" if count else "the tensor section"
        raise FrameError("malformedPayload", f"{end - position} bytes after {where}")
    return tensors


def _tensor(payload: bytes, name: str, code: int, dims: list[int], offset: int, length: int) -> np.ndarray:
    dtype = DTYPES[code][1]
    if dtype is not None:
        count = _element_count(dims)
        if count * dtype.itemsize != length:
            raise FrameError("badTensor", f"tensor '{name}' needs {count * dtype.itemsize} bytes of data, got {length}")
        array = np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
        return array if len(dims) == 1 else array.reshape(dims)
    # bytes: count elements, each a u32 length then the bytes, consuming the data exactly
    count = _element_count(dims)
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


def decode_response_parts(payload: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, np.ndarray]]]:
    """A RESPONSE payload (a client's hot path): its parameters, and tensors that are views of ``payload``."""
    try:
        end = len(payload)
        if end >= 4 and payload[0] == 0 and payload[1] == 0:
            return [], _tensors_at(payload, 2, end)
        parameters, position = _parameters_at(payload, 0, end)
        return parameters, _tensors_at(payload, position, end)
    except _Truncated as short:
        raise FrameError("malformedPayload", f"payload ends inside {short}") from None


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
    if ftype == RESPONSE:
        return Response(request_id, *decode_response_parts(payload))
    try:
        return _decode_other(ftype, flags, request_id, payload, len(payload))
    except _Truncated as short:
        raise FrameError("malformedPayload", f"payload ends inside {short}") from None


def _fixed(payload: bytes, position: int, layout: struct.Struct, what: str) -> tuple:
    if len(payload) - position < layout.size:
        raise _Truncated(what)
    return layout.unpack_from(payload, position)


def _done(position: int, end: int, what: str) -> None:
    if position != end:
        raise FrameError("malformedPayload", f"{end - position} bytes after the end of the {what} payload")


_U8 = struct.Struct("<B")


def _decode_other(ftype: int, flags: int, request_id: int, data: bytes, end: int) -> Frame:
    if ftype == ERROR:
        (status,) = _fixed(data, 0, _U16, "status code")
        message, position = _string_at(data, 2, end, "message")
        _done(position, end, "ERROR")
        return Error(request_id, status, message)
    if ftype == REQUEST:
        (timeout,) = _fixed(data, 0, _U64, "timeout")
        if timeout > MAX_TIMEOUT_US:
            raise FrameError("malformedPayload", f"timeout of {timeout} µs is out of range")
        high, low = _fixed(data, 8, struct.Struct("<QQ"), "trace id")
        (priority,) = _fixed(data, 24, _U8, "priority")
        (reserved,) = _fixed(data, 25, _U8, "reserved")
        if reserved:
            raise FrameError("reservedNotZero", "REQUEST byte 25 must be zero")
        method, position = _string_at(data, 26, end, "method")
        model, position = _string_at(data, position, end, "model")
        version, position = _string_at(data, position, end, "version")
        key, position = _string_at(data, position, end, "routing key")
        parameters, position = _parameters_at(data, position, end)
        return Request(request_id, method, model, version, key, timeout, (high, low), priority,
                       bool(flags & FLAG_IDEMPOTENT), parameters, _tensors_at(data, position, end))
    if ftype == HELLO:
        low, high = _fixed(data, 0, struct.Struct("<BB"), "versions")
        if low < 1 or low > high:
            raise FrameError("malformedPayload", f"HELLO version range {low}...{high} is empty")
        if _fixed(data, 2, _U16, "reserved")[0]:
            raise FrameError("reservedNotZero", "HELLO bytes 2-3 must be zero")
        (max_payload,) = _fixed(data, 4, _U32, "max payload")
        if max_payload < MIN_MAX_PAYLOAD:
            raise FrameError("malformedPayload", f"HELLO max payload {max_payload} is under {MIN_MAX_PAYLOAD}")
        max_in_flight, idle = _fixed(data, 8, struct.Struct("<II"), "limits")
        identity, position = _string_at(data, 16, end, "identity")
        parameters, position = _parameters_at(data, position, end)
        _done(position, end, "HELLO")
        return Hello(low, high, max_payload, max_in_flight, idle, identity, parameters)
    if ftype == CANCEL:
        _done(0, end, "CANCEL")
        return Cancel(request_id)
    if ftype in (PING, PONG):
        (opaque,) = _fixed(data, 0, _U64, "opaque data")
        _done(8, end, TYPE_NAMES[ftype])
        return Ping(opaque, pong=ftype == PONG)
    (last,) = _fixed(data, 0, _U32, "last request id")
    (status,) = _fixed(data, 4, _U16, "status code")
    message, position = _string_at(data, 6, end, "message")
    _done(position, end, "GOAWAY")
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
