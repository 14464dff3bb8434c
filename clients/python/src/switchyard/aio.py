"""The asyncio client: many calls in flight on one TLS connection, deadlines, CANCEL, keepalive, GOAWAY, reconnect.

::

    async with switchyard.AsyncClient("127.0.0.1", 7400, ca="ca.pem", cert="app.pem", key="app.key") as client:
        result = await client.infer("digits", {"X": rows}, timeout=0.5, routing_key=user_id)
        print(result["label"], result.model_version)
"""

from __future__ import annotations

import asyncio
import heapq
import random
import ssl
import struct
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from . import wire
from .errors import (DeadlineExceeded, FailedPrecondition, InvalidArgument, ProtocolError, SwitchyardError, Unavailable,
                     error_for)

__all__ = ["AsyncClient", "Result"]

_HEADER = struct.Struct("<2sBBHHII")
_REQUEST_FIXED = struct.Struct("<QQQ")


class Result:
    """The answer of a call: output tensors by name and the answer's parameters.

    ``result["label"]`` is the output tensor ``label`` (a numpy array, a view of the received frame);
    ``result.model_version`` is the version that answered.
    """

    __slots__ = ("tensors", "parameters")

    def __init__(self, parameters: list[tuple[str, str]], tensors: dict[str, np.ndarray]) -> None:
        self.parameters = parameters
        """The answer's parameters in wire order (a key may repeat, e.g. ``model`` in ``health``)."""
        self.tensors = tensors
        """The output tensors by name."""

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    def parameter(self, key: str) -> Optional[str]:
        """The first value of ``key``, or ``None``."""
        for k, v in self.parameters:
            if k == key:
                return v
        return None

    @property
    def model_version(self) -> Optional[str]:
        """The model version that answered (parameter ``model.version``)."""
        return self.parameter("model.version")

    @property
    def request_id(self) -> Optional[str]:
        """The id to send a label under with ``feedback`` (parameter ``request.id``; during A/B comparisons)."""
        return self.parameter("request.id")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {a.dtype}{list(a.shape)}" for n, a in self.tensors.items())
        return f"Result(tensors={{{shapes}}}, parameters={self.parameters})"


class _NotProcessed(Exception):
    """Internal: the server drained before reading the request; the call goes again on a new connection."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Connection(asyncio.Protocol):
    """One connection: HELLO, request ids, answers, deadlines, CANCEL, keepalive and GOAWAY (wire-v1.md §2, §6)."""

    def __init__(self, client: "AsyncClient", loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.ready: asyncio.Future[wire.Hello] = loop.create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())  # a failure nobody awaits is no leak
        self.state = "handshaking"  # open, draining, closed
        self.pending: dict[int, asyncio.Future[Result]] = {}
        self.next_id = 1
        self.limit = 1
        self.waiters: list[asyncio.Future[None]] = []
        self.chunks: list[bytes] = []  # the start of an incomplete frame
        self.buffered = 0
        self.needed = 16  # bytes the incomplete frame needs before it can be parsed
        self.out: list[Any] = []
        self.flush_scheduled = False
        self.max_payload = wire.HELLO_MAX_PAYLOAD
        self.peer_max_payload = wire.MIN_MAX_PAYLOAD
        self.peer_dtypes: frozenset[int] = frozenset()
        self.peer_identity = "the server"
        self.last_frame_at = loop.time()
        self.ping_sent_at: Optional[float] = None
        self.ticker: Optional[asyncio.TimerHandle] = None
        self.lost = asyncio.Event()
        self.deadlines: list[tuple[float, int]] = []  # a heap of (deadline, request id); answered ones go lazily
        self.deadline_timer: Optional[asyncio.TimerHandle] = None
        self.armed_for = float("inf")

    # --- lifecycle ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn != wire.ALPN:
            self._fail_all(Unavailable(f"the server did not negotiate ALPN {wire.ALPN} (got {alpn})"))
            transport.close()
            return
        params = [(wire.TENSOR_DTYPES, ",".join(str(code) for code in sorted(wire.ADDED_DTYPES)))]
        hello = wire.Hello(max_payload=wire.DEFAULT_MAX_PAYLOAD, identity=self.client.identity, parameters=params)
        self._send(wire.encode_parts(hello))
        self._tick()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        reason = f": {exc}" if exc else ""
        self._fail_all(Unavailable(f"the connection to {self.client.address} closed{reason}"))
        self.lost.set()

    def shut_down(self) -> None:
        """The client is closing: a client GOAWAY (wire-v1.md §6.5) — graceful when nothing is in flight, else
        ``cancelled`` so that the server stops the work — then the calls in flight fail and the connection closes."""
        if self.state in ("open", "draining"):
            status, message = (1, "the client closed with calls in flight") if self.pending else (0, "the client closed")
            self._send(wire.encode_parts(wire.GoAway(0, status, message)))
        self._fail_all(Unavailable("the client was closed"))

    def _close(self) -> None:
        self.state = "closed"
        if self.ticker is not None:
            self.ticker.cancel()
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        if self.transport is not None:
            self._flush()
            self.transport.close()

    def _fail_all(self, error: SwitchyardError, above: int = -1, not_processed: bool = False) -> None:
        """Fails the calls with id > ``above``; all of them closes the connection."""
        if above < 0:
            if self.state == "closed" and not self.pending:
                return
            if not self.ready.done():
                self.ready.set_exception(error)
            self._close()
        for request_id in [i for i in self.pending if i > above]:
            future = self.pending.pop(request_id)
            if not future.done():
                future.set_exception(_NotProcessed(error.message) if not_processed else error)
        self._release_waiters()

    def _release_waiters(self) -> None:
        while self.waiters and (len(self.pending) < self.limit or self.state != "open"):
            waiter = self.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    # --- writing -----------------------------------------------------------------------------

    def _send(self, parts: list[Any]) -> None:
        """Queues a frame; frames queued in one event-loop turn leave in one write (one TLS record where they fit)."""
        self.out.extend(parts)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def _protocol_error(self, error: wire.FrameError) -> None:
        if self.state in ("open", "draining"):
            goaway = wire.GoAway(0, 3, f"protocol error: {error.name}: {error.message}")
            self._send(wire.encode_parts(goaway))
        self._fail_all(ProtocolError(error.name, f"the server broke the protocol: {error.message}"))

    # --- reading -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.last_frame_at = self.loop.time()
        self.ping_sent_at = None
        if self.chunks:  # the rest of a frame: gather until it is whole, then join once (no quadratic copying)
            self.chunks.append(data)
            self.buffered += len(data)
            if self.buffered < self.needed:
                return
            data = b"".join(self.chunks)
            self.chunks.clear()
        view = memoryview(data)
        end, position = len(data), 0
        pending, unpack, limit = self.pending, _HEADER.unpack_from, self.max_payload
        try:
            self.needed = 16
            while end - position >= 16:
                magic, version, ftype, flags, reserved, request_id, length = unpack(data, position)
                if magic != b"SY" or version != 1 or reserved or length > limit:
                    wire.check_header(data, position, limit)  # raises the error of the first check that fails
                stop = position + 16 + length
                if stop > end:
                    self.needed = 16 + length
                    break
                payload = bytes(view[position + 16:stop])  # one copy: the answer's arrays are views of it
                position = stop
                if ftype == wire.RESPONSE and not flags & 0xFF and request_id and self.state != "handshaking":
                    parameters, tensors = wire.decode_response_parts(payload)  # the hot path
                    future = pending.pop(request_id, None)
                    if future is None:
                        self._unmatched(request_id)
                    elif not future.done():
                        future.set_result(Result(parameters, dict(tensors)))
                    if self.waiters or self.state == "draining":
                        self._answered()
                else:
                    self._frame(ftype, flags, request_id, payload)
                    limit = self.max_payload  # HELLO raises it
                if self.state == "closed":
                    return
        except wire.FrameError as error:
            self._protocol_error(error)
            return
        finally:
            view.release()
        if position < end:
            self.chunks.append(data[position:])
            self.buffered = end - position

    def _frame(self, ftype: int, flags: int, request_id: int, payload: bytes) -> None:
        if self.state == "handshaking" and ftype != wire.HELLO:
            raise wire.FrameError("unexpectedFrame", f"the first frame must be HELLO, got type 0x{ftype:02X}")
        frame = wire.decode_payload(ftype, flags, request_id, payload)
        if isinstance(frame, wire.Error):
            if request_id == 0:
                return self._fail_all(Unavailable(f"the server reported a connection error: {frame.message}"))
            future = self.pending.pop(request_id, None)
            if future is None:
                return self._unmatched(request_id)
            if not future.done():
                future.set_exception(error_for(frame.status, frame.message))
            return self._answered()
        if isinstance(frame, wire.Hello):
            if self.state != "handshaking":
                raise wire.FrameError("unexpectedFrame", "a second HELLO")
            if not frame.min_version <= wire.VERSION <= frame.max_version:
                error = Unavailable(f"the server speaks protocol {frame.min_version}...{frame.max_version}, "
                                    f"this client {wire.VERSION}")
                return self._fail_all(error)
            self.state = "open"
            self.max_payload = wire.DEFAULT_MAX_PAYLOAD
            self.peer_max_payload = frame.max_payload
            self.peer_dtypes = wire.announced_dtypes(frame.parameters)
            self.peer_identity = frame.identity or "the server"
            self.limit = max(1, frame.max_in_flight)
            self.ready.set_result(frame)
        elif isinstance(frame, wire.Ping):
            if not frame.pong:
                self._send(wire.encode_parts(wire.Ping(frame.opaque, pong=True)))
        elif isinstance(frame, wire.GoAway):
            self._goaway(frame)
        elif isinstance(frame, (wire.Request, wire.Cancel)):
            raise wire.FrameError("unexpectedFrame", f"{wire.TYPE_NAMES[ftype]} sent to a client")
        # Skipped extension frames: nothing to do

    def _unmatched(self, request_id: int) -> None:
        if request_id >= self.next_id:  # never sent; lower ids were answered, cancelled or timed out
            raise wire.FrameError("unknownRequest", f"answer for request {request_id}, which was never sent")

    def _answered(self) -> None:
        if self.waiters:
            self._release_waiters()
        if self.state == "draining" and not self.pending:
            self._close()

    def _goaway(self, frame: wire.GoAway) -> None:
        if frame.status != 0:  # not graceful: nothing more comes for any request (wire-v1.md §6.5)
            for request_id in list(self.pending):
                processed = None if request_id <= frame.last_request_id else False
                future = self.pending.pop(request_id)
                if not future.done():
                    future.set_exception(Unavailable(f"the server ended the connection: {frame.message}", processed))
            return self._fail_all(Unavailable(f"the server ended the connection: {frame.message}"))
        if self.state == "open":
            self.state = "draining"
        self._fail_all(Unavailable("the server is draining and did not process the request", processed=False),
                       above=frame.last_request_id, not_processed=True)
        if not self.pending:
            self._close()

    # --- keepalive ---------------------------------------------------------------------------

    def _tick(self) -> None:
        interval, timeout = self.client.keepalive_interval, self.client.keepalive_timeout
        now = self.loop.time()
        if self.state == "closed":
            return
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at >= timeout:
                return self._fail_all(Unavailable("the server stopped answering (keepalive timeout)"))
        elif now - self.last_frame_at >= interval and self.state != "handshaking":
            self.ping_sent_at = now
            self._send(wire.encode_parts(wire.Ping(int(now * 1e9) & 0xFFFFFFFFFFFFFFFF)))
        self.ticker = self.loop.call_later(min(interval, timeout, 1.0), self._tick)

    # --- calls -------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return self.state == "open" and self.next_id <= 0xFFFFFFFF

    async def slot(self) -> None:
        """Waits while the server's ``max_in_flight`` calls are outstanding (wire-v1.md §6.2)."""
        while len(self.pending) >= self.limit and self.state == "open":
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            await waiter

    def send(self, prefix: bytes, flags: int, tensors: list[tuple[str, np.ndarray]],
             deadline: Optional[float]) -> tuple[int, "asyncio.Future[Result]"]:
        """Sends one request; returns its id and the future of its answer.

        ``prefix`` is the payload up to the tensor section; its first 24 bytes (timeout, trace id) are replaced.
        """
        if self.state != "open":
            raise _NotProcessed("the connection closed before the request was sent")
        for name, array in tensors:
            code = wire.dtype_code(array) if array.dtype.kind in "V" or array.dtype.name == "bfloat16" else 0
            if code in wire.ADDED_DTYPES and code not in self.peer_dtypes:
                # a server of an earlier revision would take it for a protocol error of the connection (§5.2)
                raise FailedPrecondition(
                    f"tensor '{name}' is {wire.DTYPES[code][0]}, which {self.peer_identity} does not accept (its HELLO "
                    f"announces no {wire.TENSOR_DTYPES}={code})")
        timeout_us = 0
        if deadline is not None:
            left = deadline - self.loop.time()
            if left <= 0:
                raise DeadlineExceeded("the deadline passed before the request was sent")
            timeout_us = max(1, int(left * 1e6))
        request_id = self.next_id
        self.next_id += 1
        head = _REQUEST_FIXED.pack(timeout_us, random.getrandbits(64), random.getrandbits(64))  # a fresh trace id
        try:
            parts, size = wire.tensor_section(tensors, len(prefix))
        except (ValueError, TypeError) as error:  # over a limit of the protocol, or a dtype it does not carry
            raise InvalidArgument(f"the request cannot be sent: {error}") from None
        length = len(prefix) + size
        if length > self.peer_max_payload:
            raise InvalidArgument(f"the request payload of {length} bytes is over the server's limit of "
                                  f"{self.peer_max_payload}")
        future: asyncio.Future[Result] = self.loop.create_future()
        self.pending[request_id] = future
        self._send([_HEADER.pack(b"SY", 1, wire.REQUEST, flags, 0, request_id, length), head, prefix[24:], *parts])
        if self.next_id > 0xFFFFFFFF and self.state == "open":
            self.state = "draining"  # ids are used up: this connection finishes, the client opens another
        if deadline is not None:
            self._watch(deadline, request_id)
        return request_id, future

    def _watch(self, deadline: float, request_id: int) -> None:
        """Deadlines share one timer per connection (a timer per call costs more than the rest of the call)."""
        deadlines = self.deadlines
        heapq.heappush(deadlines, (deadline, request_id))
        if len(deadlines) > 2 * len(self.pending) + 1024:  # drop answered calls' entries: amortised O(1)
            self.deadlines = deadlines = [entry for entry in deadlines if entry[1] in self.pending]
            heapq.heapify(deadlines)
        if deadline < self.armed_for:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        self.deadline_timer = self.loop.call_at(deadline, self._expire_due)
        self.armed_for = deadline

    def _expire_due(self) -> None:
        self.deadline_timer, self.armed_for = None, float("inf")
        deadlines, pending, now = self.deadlines, self.pending, self.loop.time()
        while deadlines and (deadlines[0][0] <= now or deadlines[0][1] not in pending):
            _, request_id = heapq.heappop(deadlines)
            if request_id in pending:
                self._expire(request_id)
        if deadlines and self.state != "closed":
            self._arm(deadlines[0][0])

    def _expire(self, request_id: int) -> None:
        future = self.pending.get(request_id)
        if future is not None and not future.done():
            self._abandon(request_id)
            future.set_exception(DeadlineExceeded("no answer within the deadline"))

    def _abandon(self, request_id: int) -> None:
        """The caller stopped waiting: tell the server to stop work (CANCEL)."""
        if self.pending.pop(request_id, None) is not None and self.state != "closed":
            self._send(wire.encode_parts(wire.Cancel(request_id)))
            self._answered()


class AsyncClient:
    """A client of a Switchyard router or service over the wire protocol (asyncio).

    One TLS connection carries many calls at once; calls are matched to answers by request id. Each call
    has a deadline (``timeout`` seconds, default ``default_timeout``) that the server is told and that the
    client enforces: when it passes, or when the awaiting task is cancelled, the client sends CANCEL.
    A lost connection is reopened on the next call; requests the server did not process (a graceful
    GOAWAY above them) are sent once more on a new connection unless ``retry_unprocessed`` is false.

    Args:
        host: the server's address or DNS name.
        port: its port (the router: 7400).
        ca: the CA bundle (PEM) the server's certificate must chain to; ``None``: the system's CAs.
        cert: this client's certificate (PEM) for mutual TLS.
        key: its private key (PEM).
        server_hostname: the name the server's certificate must carry; defaults to ``host``.
        identity: the name this client announces (in the server's logs).
        default_timeout: the deadline, in seconds, of calls that give none (``None``: no deadline).
        connect_timeout: seconds for TCP, TLS and HELLO.
        keepalive_interval: seconds without a frame before the client sends PING.
        keepalive_timeout: seconds after a PING without any frame before the connection is declared dead.
        ssl_context: a ready TLS context instead of ``ca``/``cert``/``key``.
        retry_unprocessed: send a request the server drained without processing once more on a new connection
            (safe even when not idempotent); otherwise it fails with :class:`Unavailable` (``processed=False``).
    """

    def __init__(self, host: str, port: int, *, ca: Optional[str] = None, cert: Optional[str] = None,
                 key: Optional[str] = None, server_hostname: Optional[str] = None,
                 identity: str = "python", default_timeout: Optional[float] = 30.0, connect_timeout: float = 5.0,
                 keepalive_interval: float = 10.0, keepalive_timeout: float = 5.0,
                 ssl_context: Optional[ssl.SSLContext] = None, retry_unprocessed: bool = True) -> None:
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        self.identity = identity
        self.default_timeout = default_timeout
        self.connect_timeout = connect_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.server_hostname = server_hostname or host
        self.ssl_context = ssl_context or self.make_ssl_context(ca, cert, key)
        self.retry_unprocessed = retry_unprocessed
        self._connection: Optional[_Connection] = None
        self._connecting: Optional[asyncio.Future[_Connection]] = None
        self._closed = False
        self._prefixes: dict[tuple[Any, ...], bytes] = {}

    @staticmethod
    def make_ssl_context(ca: Optional[str], cert: Optional[str], key: Optional[str]) -> ssl.SSLContext:
        """A TLS 1.3 client context with the ``switchyard/1`` ALPN name; ``cert`` and ``key`` for mutual TLS."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.set_alpn_protocols([wire.ALPN])
        if cert is not None:
            context.load_cert_chain(cert, key)
        return context

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> wire.Hello:
        """Opens the connection now (calls open it on demand); returns the server's HELLO.

        Raises:
            Unavailable: when the server cannot be reached, TLS fails or HELLO does not complete in time.
        """
        connection = await self._usable_connection()
        return connection.ready.result()

    async def close(self) -> None:
        """Closes the connection; calls in flight fail with :class:`Unavailable`."""
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.shut_down()
            try:  # bounded: the transport closes once its last bytes are written
                await asyncio.wait_for(connection.lost.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    async def _usable_connection(self) -> _Connection:
        if self._closed:
            raise Unavailable("the client was closed")
        connection = self._connection
        if connection is not None and connection.usable:
            return connection
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self, loop), self.host, self.port, ssl=self.ssl_context,
                                       server_hostname=self.server_hostname),
                self.connect_timeout)
            await asyncio.wait_for(asyncio.shield(connection.ready), self.connect_timeout)
        except SwitchyardError:
            raise
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as error:
            raise Unavailable(f"cannot connect to {self.address}: {error or 'timed out'}") from error
        self._connection = connection
        return connection

    def _prefix(self, method: str, model: str, version: str, routing_key: str,
                parameters: tuple[tuple[str, str], ...]) -> bytes:
        """The payload from byte 24 up to the tensor section (priority and reserved are patched per call)."""
        cache_key = (method, model, version, routing_key, parameters)
        prefix = self._prefixes.get(cache_key)
        if prefix is None:
            prefix = (bytes(26) + wire._string(method) + wire._string(model) + wire._string(version)
                      + wire._string(routing_key) + wire.encode_parameters(parameters))
            if len(self._prefixes) < 1024:
                self._prefixes[cache_key] = prefix
        return prefix

    async def call(self, method: str, *, model: str = "", version: str = "", routing_key: str = "",
                   parameters: Optional[Mapping[str, str] | Iterable[tuple[str, str]]] = None,
                   tensors: Optional[Mapping[str, Any]] = None, timeout: Optional[float] | str = "default",
                   idempotent: bool = True, priority: int = 0) -> Result:
        """Calls any method (see ``protocols/methods.md``) and returns its answer.

        Args:
            method: e.g. ``infer``, ``echo``, ``health``, ``rollout.status``.
            model: the model's name, for methods that take one.
            version: a pinned model version; empty lets the server choose.
            routing_key: a stable user or session key (sticky A/B arms and canary buckets).
            parameters: request parameters (strings).
            tensors: input tensors by name: numpy arrays (or anything ``np.asarray`` takes).
            timeout: seconds until the deadline; ``None``: no deadline; default: ``default_timeout``.
            idempotent: whether the call may be retried on another instance or mirrored.
            priority: 0-255, higher is more urgent.

        Returns:
            The answer's tensors and parameters.

        Raises:
            SwitchyardError: a subclass per wire status, e.g. :class:`NotFound`, :class:`DeadlineExceeded`.
        """
        loop = asyncio.get_running_loop()
        seconds = self.default_timeout if timeout == "default" else timeout
        deadline = None if seconds is None else loop.time() + float(seconds)  # type: ignore[arg-type]
        if parameters is None:
            params: tuple[tuple[str, str], ...] = ()
        elif isinstance(parameters, Mapping):
            params = tuple((str(k), str(v)) for k, v in parameters.items())
        else:
            params = tuple((str(k), str(v)) for k, v in parameters)
        try:
            prefix = self._prefix(method, model, version or "", routing_key or "", params)
            named = [(str(n), wire.as_tensor(t)) for n, t in tensors.items()] if tensors else []
        except ValueError as error:  # a string over 65,535 bytes, more than 256 parameters
            raise InvalidArgument(f"the request cannot be sent: {error}") from None
        if not 0 <= priority <= 255:
            raise InvalidArgument(f"priority must be 0...255, not {priority}")
        if priority:
            prefix = prefix[:24] + bytes((priority, 0)) + prefix[26:]
        flags = wire.FLAG_IDEMPOTENT if idempotent else 0
        for attempt in range(2):
            connection = self._connection
            if connection is None or not connection.usable:
                connection = await self._usable_connection()
            if len(connection.pending) >= connection.limit:
                await connection.slot()
            try:
                request_id, future = connection.send(prefix, flags, named, deadline)
                try:
                    return await future
                except asyncio.CancelledError:
                    connection._abandon(request_id)  # CANCEL: the server stops the work
                    raise
            except _NotProcessed as error:
                if attempt == 1 or self._closed or not self.retry_unprocessed:
                    raise Unavailable(error.message, processed=False) from None
        raise AssertionError("the loop returns or raises")  # pragma: no cover

    async def infer(self, model: str, inputs: Mapping[str, Any], *, version: Optional[str] = None,
                    routing_key: Optional[str] = None, parameters: Optional[Mapping[str, str]] = None,
                    timeout: Optional[float] | str = "default", idempotent: bool = True, priority: int = 0) -> Result:
        """Runs a model: ``inputs`` by name (batch first), the outputs by name in the result.

        Args:
            model: the model's name.
            inputs: input tensors by name, e.g. ``{"X": np.zeros((1, 64), np.float32)}``.
            version: pins a version; ``None`` lets the router choose (stable, canary, A/B arm).
            routing_key: keeps a user on one A/B arm or canary bucket.
            parameters: per-request options for the pipeline.
            timeout: seconds until the deadline (default: ``default_timeout``).
            idempotent: whether the router may retry it on another instance.
            priority: 0-255.

        Returns:
            The outputs; ``result.model_version`` names the version that answered.
        """
        return await self.call("infer", model=model, version=version or "", routing_key=routing_key or "",
                               parameters=parameters, tensors=inputs, timeout=timeout, idempotent=idempotent,
                               priority=priority)

    async def feedback(self, request_id: str, label: int, *, timeout: Optional[float] | str = "default") -> None:
        """Reports the true label of an earlier ``infer`` answered during an A/B comparison.

        Args:
            request_id: the answer's ``result.request_id``.
            label: the true class.
        """
        await self.call("feedback", parameters={"request_id": request_id, "label": str(int(label))}, timeout=timeout,
                        idempotent=False)

    async def health(self, *, timeout: Optional[float] | str = 5.0) -> Result:
        """Asks the server whether it serves (raises :class:`Unavailable` with the reason when not)."""
        return await self.call("health", timeout=timeout)
