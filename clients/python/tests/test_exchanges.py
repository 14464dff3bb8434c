"""The exchange vectors of protocols/vectors (wire-v1.md §9.2): server-role ones against the real echo service
(this file plays the client byte by byte), client-role ones against this package's client (this file plays a
scripted TLS server)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct

import pytest

import switchyard
from switchyard import wire
from conftest import start_echo
from vectors import exchanges, field_value

EXCHANGES = exchanges()
SERVER_ROLE = [e for e in EXCHANGES if e.role == "server"]
CLIENT_ROLE = [e for e in EXCHANGES if e.role == "client"]
STEP_TIMEOUT = 5.0


def check_frame(exchange, step, frame) -> None:
    assert frame is not None, f"{exchange.name}: expected {step.text}, the connection closed"
    text = frame.text()
    assert text.split(" ", 1)[0] == step.text, f"{exchange.name}: expected {step.text}, got {text}"
    for name, value, prefix in step.fields:
        actual = field_value(name, text)
        assert actual is not None and (actual.startswith(value) if prefix else actual == value), \
            f"{exchange.name}: expected {name}={value} in {text}"
    if exchange.expect != "ok" and isinstance(frame, wire.GoAway) and frame.status != 0:
        assert frame.message.startswith(f"protocol error: {exchange.expect}: "), frame.message


class RawPeer:
    """A blocking TLS client that sends bytes as they are and reads frames one by one."""

    def __init__(self, port: int, certificates) -> None:
        context = switchyard.AsyncClient.make_ssl_context(certificates.ca, *certificates.pair("client"))
        sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
        self.sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.buffer = b""

    def read_exactly(self, count: int) -> bytes | None:
        while len(self.buffer) < count:
            try:
                chunk = self.sock.recv(65536)
            except (ssl.SSLError, ConnectionError):
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def next_frame(self):
        head = self.read_exactly(16)
        if head is None:
            return None
        length = struct.unpack_from("<I", head, 12)[0]
        payload = self.read_exactly(length)
        assert payload is not None, "the connection closed inside a frame"
        return wire.decode(head + payload)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("exchange", SERVER_ROLE, ids=[e.name for e in SERVER_ROLE])
def test_echo_server_follows_the_exchange(exchange, echo, certificates):
    service = echo
    limited = None
    if "max_in_flight" in exchange.config:
        limited = service = start_echo(certificates, "--max-in-flight", exchange.config["max_in_flight"])
    peer = RawPeer(service.port, certificates)
    try:
        for step in exchange.steps:
            if step.kind == "send":
                peer.sock.sendall(step.data)
            elif step.kind == "recv":
                check_frame(exchange, step, peer.next_frame())
            elif step.kind == "closed":
                frame = peer.next_frame()
                assert frame is None, f"{exchange.name}: expected the server to close, got {frame.text()}"
            else:
                pytest.fail(f"{exchange.name}: a server-role exchange has no {step.kind} steps")
    finally:
        peer.close()
        if limited is not None:
            limited.stop()


class ScriptedServer:
    """A TLS server for one connection whose bytes a test scripts."""

    def __init__(self, certificates) -> None:
        cert, key = certificates.pair("server")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certificates.ca)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(cert, key)
        self.context.set_alpn_protocols([wire.ALPN])
        self.context.verify_mode = ssl.CERT_OPTIONAL
        self.connections: asyncio.Queue = asyncio.Queue()
        self.server = None
        self.reader = self.writer = None

    async def start(self) -> int:
        async def accepted(reader, writer):
            await self.connections.put((reader, writer))
        self.server = await asyncio.start_server(accepted, "127.0.0.1", 0, ssl=self.context)
        return self.server.sockets[0].getsockname()[1]

    async def accept(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(self.connections.get(), STEP_TIMEOUT)

    async def next_frame(self):
        try:
            head = await asyncio.wait_for(self.reader.readexactly(16), STEP_TIMEOUT)
            payload = await asyncio.wait_for(self.reader.readexactly(struct.unpack_from("<I", head, 12)[0]),
                                             STEP_TIMEOUT)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return None
        return wire.decode(head + payload)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.server.close()
        await self.server.wait_closed()


async def run_client_exchange(exchange, certificates) -> None:
    server = ScriptedServer(certificates)
    port = await server.start()
    # the exchanges check what the wire says; the client's own retry of unprocessed requests is tested elsewhere
    client = switchyard.AsyncClient("127.0.0.1", port, connect_timeout=STEP_TIMEOUT, retry_unprocessed=False,
                                    **certificates.client())
    connecting = asyncio.ensure_future(client.connect())
    calls: dict[int, asyncio.Task] = {}
    try:
        await server.accept()
        for step in exchange.steps:
            if step.kind == "send":
                await server.send(step.data)
            elif step.kind == "recv":
                check_frame(exchange, step, await server.next_frame())
            elif step.kind == "call":
                await asyncio.wait([connecting], timeout=STEP_TIMEOUT)
                timeout = step.deadline_ms / 1000 if step.deadline_ms is not None else None
                calls[step.number] = asyncio.ensure_future(
                    client.call(step.method, parameters=step.parameters, timeout=timeout))
            elif step.kind == "outcome":
                done, _ = await asyncio.wait([calls[step.number]], timeout=STEP_TIMEOUT)
                assert done, f"{exchange.name}: call {step.number} did not complete"
                error = calls[step.number].exception()
                status = "ok" if error is None else getattr(error, "status_name", repr(error))
                assert status == step.status, f"{exchange.name}: call {step.number}: {error!r}"
            elif step.kind == "closed":
                frame = await server.next_frame()
                assert frame is None, f"{exchange.name}: expected the client to close, got {frame.text()}"
    finally:
        for task in list(calls.values()) + [connecting]:
            task.cancel()
        await asyncio.gather(*calls.values(), connecting, return_exceptions=True)
        await client.close()
        await server.close()


@pytest.mark.parametrize("exchange", CLIENT_ROLE, ids=[e.name for e in CLIENT_ROLE])
def test_client_follows_the_exchange(exchange, certificates):
    asyncio.run(asyncio.wait_for(run_client_exchange(exchange, certificates), 60))
