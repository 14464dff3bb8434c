"""The client against the real echo service: tensors of every dtype, many calls on one connection, deadlines and
CANCEL, cancellation, the server's in-flight limit, keepalive, GOAWAY and reconnect, TLS, typed errors."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

import switchyard
from switchyard import wire
from conftest import free_port, start_echo


def connections_of(service) -> int:
    """Established TCP connections to the service's port, from /proc (client side of loopback)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[2].split(":")[1], 16) == service.port:
                    count += 1
    return count


EVERY_DTYPE = {
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f16": np.array([[0.5, -2.0, 65504.0]], dtype=np.float16),
    "f64": np.array([np.pi, -np.e, 1e300]),
    "u8": np.arange(256, dtype=np.uint8).reshape(16, 16),
    "i8": np.array([-128, 0, 127], dtype=np.int8),
    "i32": np.array([[-(2 ** 31), 2 ** 31 - 1]], dtype=np.int32),
    "i64": np.array([-(2 ** 63), 2 ** 63 - 1, 7], dtype=np.int64),
    "bool": np.array([[True, False], [False, True]]),
    "scalar": np.array(3.25, dtype=np.float32),
    "empty": np.zeros((0, 784), dtype=np.float32),
    "big-endian": np.array([1.5, 2.5], dtype=">f4"),
    "not-contiguous": np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2],
}


def test_every_dtype_round_trips(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        strings = np.array([b"one", b"", "tw\u00f6".encode()], dtype=object)
        result = client.call("echo", tensors={**EVERY_DTYPE, "bytes": strings}, parameters={"k": "v"})
        for name, sent in EVERY_DTYPE.items():
            got = result[name]
            assert got.shape == sent.shape, name
            np.testing.assert_array_equal(got, sent, err_msg=name)
        assert list(result["bytes"]) == [b"one", b"", "tw\u00f6".encode()]
        assert result.parameter("k") == "v"
        assert result["f32"].dtype == np.float32 and result["big-endian"].dtype == np.dtype("<f4")


def test_bfloat16_round_trips(echo, certificates):
    """bf16 (revision 1.2) as ``ml_dtypes.bfloat16`` or as raw bits; the echo service announces it (§5.2)."""
    values = np.array([[1.0, -2.5, 3.140625], [0.1, 1e30, -0.0]], dtype=np.float32)
    native = wire.to_bfloat16(values)
    bits = (values.view("<u4") >> 16).astype("<u2").view(wire.BFLOAT16_BITS)  # truncated: exact for most of these
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        result = client.call("echo", tensors={"native": native, "bits": bits})
        assert wire.dtype_code(result["native"]) == 16 and result["native"].shape == (2, 3)
        np.testing.assert_array_equal(wire.from_bfloat16(result["native"]), wire.from_bfloat16(native))
        np.testing.assert_array_equal(wire.from_bfloat16(result["bits"]), wire.from_bfloat16(bits))
    # nearest even: 1 + 2**-8 is halfway and rounds to 1.0; 0.1 rounds up to 0.10009765625
    rounded = wire.from_bfloat16(wire.to_bfloat16(np.array([1 + 2 ** -8, 0.1], np.float32)))
    np.testing.assert_array_equal(rounded, np.array([1.0, 0.10009765625], np.float32))


def test_a_large_tensor_arrives_in_many_reads(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        big = np.random.default_rng(2).random((3000, 1000), dtype=np.float32)  # 12 MB: hundreds of TLS records
        small = np.arange(10, dtype=np.int64)
        futures = [client.submit("echo", tensors={"x": big}), client.submit("echo", tensors={"y": small})]
        np.testing.assert_array_equal(futures[0].result(timeout=30)["x"], big)
        np.testing.assert_array_equal(futures[1].result(timeout=30)["y"], small)


def test_answers_are_views_of_the_received_frame(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        x = np.random.default_rng(1).random((1, 784), dtype=np.float32)
        got = client.call("echo", tensors={"x": x})["x"]
        assert not got.flags.owndata and got.base is not None  # np.frombuffer over the payload: no copy, no loop
        assert got.ctypes.data % 16 == 0
        np.testing.assert_array_equal(got, x)


def test_many_calls_in_flight_share_one_connection(echo, certificates):
    async def main():
        async with switchyard.AsyncClient("127.0.0.1", echo.port, **certificates.client()) as client:
            rows = [np.full((1, 784), i, dtype=np.float32) for i in range(300)]
            results = await asyncio.gather(*(client.call("echo", tensors={"x": row}) for row in rows))
            for row, result in zip(rows, results):
                np.testing.assert_array_equal(result["x"], row)
            assert connections_of(echo) == 1
    asyncio.run(main())


def test_sync_submit_pipelines(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        futures = [client.submit("echo", tensors={"i": np.array([i])}) for i in range(100)]
        assert [int(f.result(timeout=10)["i"][0]) for f in futures] == list(range(100))


def test_deadline_fails_the_call_and_the_connection_carries_on(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        with pytest.raises(switchyard.DeadlineExceeded) as caught:
            client.call("echo", parameters={"echo.delay_ms": "5000"}, timeout=0.2)
        assert caught.value.status == 4
        assert client.health().parameter("status") == "serving"


def test_cancelling_the_task_cancels_the_call(echo, certificates):
    async def main():
        async with switchyard.AsyncClient("127.0.0.1", echo.port, **certificates.client()) as client:
            task = asyncio.ensure_future(client.call("echo", parameters={"echo.delay_ms": "5000"}))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not client._connection.pending  # CANCEL went out; nothing waits for the answer
            assert (await client.health()).parameter("status") == "serving"
    asyncio.run(main())


def test_calls_beyond_the_servers_limit_wait_for_a_slot(certificates):
    limited = start_echo(certificates, "--max-in-flight", "4")
    try:
        async def main():
            async with switchyard.AsyncClient("127.0.0.1", limited.port, **certificates.client()) as client:
                hello = await client.connect()
                assert hello.max_in_flight == 4
                calls = [client.call("echo", parameters={"echo.delay_ms": "100"}, tensors={"i": np.array([i])})
                         for i in range(24)]
                results = await asyncio.gather(*calls)  # none refused: the client keeps within the limit
                assert [int(r["i"][0]) for r in results] == list(range(24))
        asyncio.run(main())
    finally:
        limited.stop()


def test_keepalive_pings_a_busy_server_and_the_call_completes(echo, certificates):
    # a PING goes out after 0.1 s without a frame; the answer takes 3 s, so a server that left PINGs unanswered for
    # the 1 s keepalive timeout would be dropped and the call fail
    options = dict(keepalive_interval=0.1, keepalive_timeout=1.0, **certificates.client())
    with switchyard.Client("127.0.0.1", echo.port, **options) as client:
        assert client.call("echo", parameters={"echo.delay_ms": "3000"}).parameter("echo.delay_ms") == "3000"


def test_a_server_that_stops_answering_is_declared_dead(certificates):
    async def main():
        # a TLS server that completes the handshake and HELLO, then never sends another byte
        from test_exchanges import ScriptedServer
        server = ScriptedServer(certificates)
        port = await server.start()
        client = switchyard.AsyncClient("127.0.0.1", port, keepalive_interval=0.2, keepalive_timeout=0.3,
                                        default_timeout=None, **certificates.client())
        connecting = asyncio.ensure_future(client.connect())
        await server.accept()
        assert isinstance(await server.next_frame(), wire.Hello)
        await server.send(wire.encode(wire.Hello(max_in_flight=8, identity="mute")))
        await asyncio.wait_for(connecting, 5)
        call = asyncio.ensure_future(client.call("echo"))
        assert isinstance(await server.next_frame(), wire.Request)
        assert isinstance(await server.next_frame(), wire.Ping)  # after 0.2 s without a frame
        with pytest.raises(switchyard.Unavailable, match="keepalive"):
            await asyncio.wait_for(call, 5)
        await client.close()
        await server.close()
    asyncio.run(main())


def test_drain_answers_in_flight_calls_then_the_client_reconnects(certificates):
    port = free_port()
    first = start_echo(certificates, port=port)
    second = None
    try:
        with switchyard.Client("127.0.0.1", port, **certificates.client()) as client:
            slow = client.submit("echo", parameters={"echo.delay_ms": "1500"}, tensors={"x": np.ones(3)})
            client.health()  # answered after the slow one was read: same connection, in order
            first.terminate()  # SIGTERM: GOAWAY, the slow call is still answered, then the process exits
            np.testing.assert_array_equal(slow.result(timeout=10)["x"], np.ones(3))
            assert first.wait(20) == 0
            with pytest.raises(switchyard.Unavailable):
                client.health(timeout=2)
            second = start_echo(certificates, port=port)
            assert client.health().parameter("status") == "serving"  # a new connection, on demand
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_request_the_server_drained_without_processing_goes_again_on_a_new_connection(certificates):
    async def main():
        from test_exchanges import ScriptedServer
        server = ScriptedServer(certificates)
        port = await server.start()
        client = switchyard.AsyncClient("127.0.0.1", port, **certificates.client())
        call = asyncio.ensure_future(client.call("echo", tensors={"x": np.arange(4)}, idempotent=False))
        hello = wire.encode(wire.Hello(max_in_flight=8, identity="scripted"))
        await server.accept()
        assert isinstance(await server.next_frame(), wire.Hello)
        await server.send(hello)
        first = await server.next_frame()
        assert isinstance(first, wire.Request)
        await server.send(wire.encode(wire.GoAway(0, 0, "draining")))  # not processed: id 1 > last 0
        await server.accept()  # the client's second connection
        assert isinstance(await server.next_frame(), wire.Hello)
        await server.send(hello)
        again = await server.next_frame()
        assert isinstance(again, wire.Request) and again.idempotent is False
        np.testing.assert_array_equal(again.tensors[0][1], np.arange(4))
        await server.send(wire.encode(wire.Response(again.request_id, [], again.tensors)))
        np.testing.assert_array_equal((await asyncio.wait_for(call, 5))["x"], np.arange(4))
        await client.close()
        await server.close()
    asyncio.run(main())


def test_typed_errors_carry_the_wire_status(echo, certificates):
    with switchyard.Client("127.0.0.1", echo.port, **certificates.client()) as client:
        with pytest.raises(switchyard.NotFound) as caught:
            client.call("no.such.method")
        assert caught.value.status == 5 and "echo and health" in caught.value.message
        with pytest.raises(switchyard.InvalidArgument) as caught:
            client.call("echo", parameters={"echo.delay_ms": "soon"})
        assert caught.value.status == 3 and caught.value.status_name == "invalid argument"
        with pytest.raises(switchyard.InvalidArgument, match="limit"):
            client.call("echo", tensors={"big": np.zeros(5 << 20, dtype=np.float32)})  # 20 MiB > the 16 MiB limit
        with pytest.raises(switchyard.InvalidArgument, match="65535"):
            client.call("echo", routing_key="k" * 70_000)
        with pytest.raises(switchyard.InvalidArgument, match="dtype"):
            client.call("echo", tensors={"c": np.zeros(2, dtype=np.complex64)})
        with pytest.raises(switchyard.InvalidArgument, match="rank"):
            client.call("echo", tensors={"r": np.zeros((1,) * 9, dtype=np.float32)})
        with pytest.raises(switchyard.InvalidArgument, match="parameters"):
            client.call("echo", parameters={f"p{i}": "" for i in range(257)})
        assert client.health().parameter("status") == "serving"


def test_mutual_tls_is_required_and_a_client_without_a_certificate_connects_where_it_is_not(echo, certificates):
    with pytest.raises(switchyard.Unavailable):
        with switchyard.Client("127.0.0.1", echo.port, ca=certificates.ca, connect_timeout=3) as client:
            client.health()
    open_echo = start_echo(certificates, "--no-client-auth")
    try:
        with switchyard.Client("127.0.0.1", open_echo.port, ca=certificates.ca) as client:
            assert client.health().parameter("status") == "serving"
    finally:
        open_echo.stop()


def test_hello_announces_the_identity_and_the_added_dtypes(certificates):
    async def main():
        from test_exchanges import ScriptedServer
        server = ScriptedServer(certificates)
        port = await server.start()
        client = switchyard.AsyncClient("127.0.0.1", port, ca=certificates.ca, identity="batch-job")
        connecting = asyncio.ensure_future(client.connect())
        await server.accept()
        hello = await server.next_frame()
        assert hello.parameters == [("tensor.dtypes", "16")]
        assert hello.identity == "batch-job"
        connecting.cancel()
        await client.close()
        await server.close()
    asyncio.run(main())


def test_bfloat16_is_not_sent_to_a_server_that_did_not_announce_it(certificates):
    """A revision 1.1 server announces no ``tensor.dtypes``: a bf16 call fails alone, unsent (wire-v1.md §5.2)."""
    async def main():
        from test_exchanges import ScriptedServer
        server = ScriptedServer(certificates)
        port = await server.start()
        client = switchyard.AsyncClient("127.0.0.1", port, **certificates.client())
        connecting = asyncio.ensure_future(client.connect())
        await server.accept()
        assert isinstance(await server.next_frame(), wire.Hello)
        await server.send(wire.encode(wire.Hello(max_in_flight=8, identity="old-server")))
        await asyncio.wait_for(connecting, 5)
        half = wire.to_bfloat16(np.array([1.0, 2.0], np.float32))
        with pytest.raises(switchyard.FailedPrecondition, match="'h' is bf16.*old-server"):
            await client.call("echo", tensors={"h": half}, timeout=5.0)
        # the connection carries on: the next call is sent
        call = asyncio.ensure_future(client.call("echo", tensors={"x": np.ones(2, np.float32)}, timeout=5.0))
        sent = await server.next_frame()
        assert sent.request_id == 1 and [name for name, _ in sent.tensors] == ["x"]
        call.cancel()
        await client.close()
        await server.close()
    asyncio.run(main())


def test_closed_client_refuses_calls(echo, certificates):
    client = switchyard.Client("127.0.0.1", echo.port, **certificates.client())
    client.health()
    client.close()
    client.close()  # twice is fine
    assert not client._thread.is_alive()
    with pytest.raises(switchyard.Unavailable, match="closed"):
        client.health()


def test_deadlines_of_different_lengths_each_expire_and_send_cancel(certificates):
    async def main():
        from test_exchanges import ScriptedServer
        server = ScriptedServer(certificates)  # answers HELLO, then nothing: every deadline is the client's own
        port = await server.start()
        client = switchyard.AsyncClient("127.0.0.1", port, **certificates.client())
        connecting = asyncio.ensure_future(client.connect())
        await server.accept()
        assert isinstance(await server.next_frame(), wire.Hello)
        await server.send(wire.encode(wire.Hello(max_in_flight=8, identity="silent")))
        await asyncio.wait_for(connecting, 5)
        calls = [asyncio.ensure_future(client.call("echo", timeout=t)) for t in (30.0, 0.6, 0.2)]
        sent = [await server.next_frame() for _ in calls]
        assert [f.request_id for f in sent] == [1, 2, 3]
        cancels = [await server.next_frame(), await server.next_frame()]
        assert [f.text() for f in cancels] == ["CANCEL id=3", "CANCEL id=2"]  # the later, shorter one first
        for call in calls[1:]:
            with pytest.raises(switchyard.DeadlineExceeded):
                await call
        assert not calls[0].done()
        calls[0].cancel()
        assert (await server.next_frame()).text() == "CANCEL id=1"  # a cancelled task cancels its call
        await client.close()
        await server.close()
    asyncio.run(main())
