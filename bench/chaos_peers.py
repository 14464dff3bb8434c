#!/usr/bin/env python3
"""Hostile peers for bench/chaos.sh, on loopback only; each prints one JSON line of what it saw.

  slow   N connections that each claim a 16 MiB REQUEST frame and send it slowly (64 KiB every 50 ms)
  idle   N connections that complete TLS and HELLO, then only answer PINGs, for a while
  bomb   REQUESTs carrying a tiny PNG that claims 16384 x 16384 pixels, through the router's preprocess stage
  summary FILE   one line for the results table from a JSON line written by one of the above

Every connection and every wait is bounded by --seconds; every socket is closed on exit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl  # noqa: F401 - the contexts' type
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python", "src"))

import numpy as np  # noqa: E402

from switchyard import AsyncClient, SwitchyardError  # noqa: E402
from switchyard import wire  # noqa: E402


def context(args: argparse.Namespace) -> ssl.SSLContext:
    """The client library's context: TLS 1.3, the switchyard/1 ALPN name, this peer's certificate."""
    ctx = AsyncClient.make_ssl_context(args.ca, args.cert, args.key)
    ctx.check_hostname = False
    return ctx


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    header = await reader.readexactly(16)
    _, _, ftype, _, _, request_id, length = wire._HEADER.unpack(header)
    return ftype, request_id, await reader.readexactly(length)


async def open_peer(args: argparse.Namespace, ctx: ssl.SSLContext, identity: str):
    """TLS, then HELLO both ways; returns the streams."""
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=ctx)
    writer.write(wire.encode(wire.Hello(identity=identity)))
    await writer.drain()
    ftype, _, _ = await read_frame(reader)
    if ftype != wire.HELLO:
        raise ConnectionError(f"frame type {ftype} instead of HELLO")
    return reader, writer


def close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.transport.abort()
    except Exception:  # noqa: BLE001 - already closed
        pass


async def slow(args: argparse.Namespace) -> dict:
    ctx = context(args)
    claim = args.frame_bytes
    outcome = {"connections": args.connections, "claimed_bytes_each": claim}
    counts = {"goaway_resource_exhausted": 0, "closed_other": 0, "still_sending": 0, "completed": 0, "no_connection": 0}
    sent_total = [0]
    stop = time.monotonic() + args.seconds

    async def one(index: int) -> None:
        try:
            reader, writer = await asyncio.wait_for(open_peer(args, ctx, f"slow-{index}"), 10)
        except Exception:  # noqa: BLE001 - refused at the cap, or the handshake failed
            counts["no_connection"] += 1
            return
        closed = asyncio.ensure_future(read_frame(reader))
        try:
            writer.write(wire.header(wire.REQUEST, 1, claim))
            sent = 0
            chunk = bytes(64 << 10)
            while sent < claim and time.monotonic() < stop and not closed.done():
                piece = chunk[: min(len(chunk), claim - sent - 1)]  # never completes the frame
                if not piece:
                    break
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
                sent_total[0] += len(piece)
                await asyncio.sleep(0.05)
            if closed.done():
                try:
                    ftype, _, payload = closed.result()
                    status = struct.unpack_from("<H", payload, 4)[0] if ftype == wire.GOAWAY else None
                    counts["goaway_resource_exhausted" if status == 8 else "closed_other"] += 1
                except Exception:  # noqa: BLE001 - closed without a frame
                    counts["closed_other"] += 1
            else:
                counts["still_sending" if sent < claim - 1 else "completed"] += 1
        except (ConnectionError, OSError):
            counts["closed_other"] += 1
        finally:
            closed.cancel()
            close(writer)

    await asyncio.gather(*(one(i) for i in range(args.connections)))
    outcome.update(counts)
    outcome["bytes_sent"] = sent_total[0]
    return outcome


async def idle(args: argparse.Namespace) -> dict:
    ctx = context(args)
    writers: list[asyncio.StreamWriter] = []
    counts = {"opened": 0, "refused": 0, "closed_by_server": 0}
    stop = time.monotonic() + args.seconds
    semaphore = asyncio.Semaphore(args.parallel)

    async def one(index: int) -> None:
        async with semaphore:
            if time.monotonic() >= stop:
                return
            try:
                reader, writer = await asyncio.wait_for(open_peer(args, ctx, f"idle-{index}"), 10)
            except Exception:  # noqa: BLE001 - closed at accept past the cap
                counts["refused"] += 1
                return
        counts["opened"] += 1
        writers.append(writer)
        try:
            while time.monotonic() < stop:
                ftype, _, payload = await asyncio.wait_for(read_frame(reader), max(0.1, stop - time.monotonic()))
                if ftype == wire.PING:
                    writer.write(wire.header(wire.PONG, 0, len(payload)) + payload)
                    await writer.drain()
                elif ftype == wire.GOAWAY:
                    counts["closed_by_server"] += 1
                    return
        except asyncio.TimeoutError:
            pass
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            counts["closed_by_server"] += 1

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.connections)))
    for writer in writers:
        close(writer)
    return {"connections": args.connections, **counts, "seconds": round(time.monotonic() - started, 1)}


def claiming_png(width: int, height: int) -> bytes:
    """A PNG signature, a header claiming width x height gray pixels, an empty image data chunk and its end."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


async def bomb(args: argparse.Namespace) -> dict:
    client = AsyncClient("127.0.0.1", args.port, ca=args.ca, cert=args.cert, key=args.key, identity="png-bomb")
    png = claiming_png(16384, 16384)
    codes: dict[str, int] = {}
    example = ""
    stop = time.monotonic() + args.seconds
    sent = 0
    semaphore = asyncio.Semaphore(args.parallel)

    async def one() -> None:
        nonlocal example
        async with semaphore:
            images = np.empty((args.images,), dtype=object)
            images[:] = [png] * args.images
            try:
                await client.infer(args.model, {"image": images}, timeout=5.0, idempotent=False)
                codes["ok"] = codes.get("ok", 0) + 1
            except SwitchyardError as error:
                name = type(error).__name__
                codes[name] = codes.get(name, 0) + 1
                example = example or str(error)

    await client.connect()
    tasks = []
    while sent < args.requests and time.monotonic() < stop:
        tasks.append(asyncio.ensure_future(one()))
        sent += 1
        if len(tasks) >= args.parallel:
            await asyncio.gather(*tasks)
            tasks = []
    await asyncio.gather(*tasks)
    await client.close()
    return {"requests": sent, "png_bytes": len(png), "claimed_pixels": 16384 * 16384, "codes": codes,
            "example": example}


def summary(path: str) -> str:
    o = json.load(open(path))
    if o["mode"] == "slow":
        return (f"{o['goaway_resource_exhausted']} closed with GOAWAY resource exhausted, {o['still_sending']} held to "
                f"the end, {o['closed_other']} closed otherwise (keepalive), {o['no_connection']} not connected; "
                f"{o['bytes_sent'] / 2**20:.0f} MiB sent")
    if o["mode"] == "idle":
        return (f"{o['opened']} opened, {o['refused']} closed at accept, {o['closed_by_server']} closed later "
                f"(over {o['seconds']} s)")
    codes = ", ".join(f"{name} {count}" for name, count in sorted(o["codes"].items()))
    return f"{o['requests']} requests of {o['png_bytes']}-byte PNGs: {codes}; e.g. \"{o['example'][:100]}\""


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        try:
            print(summary(sys.argv[2]))
        except (OSError, ValueError, KeyError) as error:
            print(f"no result ({error})")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["slow", "idle", "bomb"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--connections", type=int, default=60)
    parser.add_argument("--frame-bytes", type=int, default=16 << 20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--parallel", type=int, default=64, help="connections opened (or requests sent) at once")
    parser.add_argument("--model", default="digits-png")
    parser.add_argument("--images", type=int, default=4, help="bomb: PNGs per request")
    parser.add_argument("--requests", type=int, default=2000, help="bomb: requests sent")
    args = parser.parse_args()
    if not 1 <= args.connections <= 100_000 or not 0 < args.seconds <= 600:
        parser.error("--connections 1..100000, --seconds up to 600")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.connections + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 1024)), hard))
    result = asyncio.run(asyncio.wait_for({"slow": slow, "idle": idle, "bomb": bomb}[args.mode](args),
                                          args.seconds + 60))
    print(json.dumps({"mode": args.mode, **result}))


if __name__ == "__main__":
    main()
