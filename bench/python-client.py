"""The Python client's throughput and CPU per call against the echo service (bench/python-client.sh runs it).

Closed loop: ``--in-flight`` coroutines on one AsyncClient (one connection), each sending a ``--floats``-float f32
tensor and awaiting the echo, for ``--seconds`` after ``--warmup``. Prints one JSON object: calls/s, this process's
CPU per call (user + system, all threads), the echo server's CPU per call (from /proc), and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time

import numpy as np

import switchyard
from switchyard.client import new_event_loop


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace) -> dict:
    client = switchyard.AsyncClient("127.0.0.1", args.port, ca=args.ca, cert=args.cert, key=args.key,
                                    default_timeout=10.0)
    await client.connect()
    x = np.random.default_rng(7).random((1, args.floats), dtype=np.float32)
    check = await client.call("echo", tensors={"x": x})
    np.testing.assert_array_equal(check["x"], x)  # the bench measures correct answers only
    phase = {"measuring": False, "stop": False}
    latencies: list[float] = []
    count = [0]

    async def worker() -> None:
        clock = time.perf_counter  # uvloop's loop.time() counts whole milliseconds
        while not phase["stop"]:
            started = clock()
            result = await client.call("echo", tensors={"x": x})
            if phase["measuring"]:
                count[0] += 1
                if len(latencies) < 200_000:
                    latencies.append(clock() - started)
            if result["x"].shape != x.shape:
                raise AssertionError("wrong answer")

    workers = [asyncio.ensure_future(worker()) for _ in range(args.in_flight)]
    await asyncio.sleep(args.warmup)
    phase["measuring"] = True
    wall, cpu, server = time.perf_counter(), own_cpu_seconds(), process_cpu_seconds(args.server_pid)
    await asyncio.sleep(args.seconds)
    phase["measuring"] = False
    wall, cpu = time.perf_counter() - wall, own_cpu_seconds() - cpu
    server = process_cpu_seconds(args.server_pid) - server
    calls = count[0]
    phase["stop"] = True
    await asyncio.gather(*workers)
    await client.close()
    lat = np.sort(np.array(latencies)) * 1e3
    return {
        "loop": args.loop, "in_flight": args.in_flight, "floats": args.floats, "seconds": round(wall, 3),
        "calls": calls, "calls_per_second": calls / wall, "client_cpu_us_per_call": cpu / calls * 1e6,
        "client_cpu_cores": cpu / wall, "server_cpu_us_per_call": server / calls * 1e6,
        "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "python": sys.version.split()[0], "numpy": np.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--floats", type=int, default=784)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    args = parser.parse_args()
    loop = new_event_loop(use_uvloop=args.loop == "uvloop")
    try:
        print(json.dumps(loop.run_until_complete(run(args))))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
