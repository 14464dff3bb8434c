"""The digits model through the Switchyard router from Python: one call, a batch, 64 calls in flight, errors.

Run while the demo mesh serves (ops/demo.sh), from the repository's root:

    python3 clients/python/examples/digits.py

Other meshes: --host, --port, --ca, --cert, --key.
"""

import argparse
import asyncio
import time

import numpy as np

import switchyard


async def many_in_flight(client: switchyard.AsyncClient, pixels: np.ndarray, in_flight: int) -> np.ndarray:
    """Every row as its own call, ``in_flight`` at a time on one connection; the labels in row order."""
    slots = asyncio.Semaphore(in_flight)

    async def one(row: int) -> np.ndarray:
        async with slots:
            result = await client.infer("digits", {"X": pixels[row:row + 1]}, timeout=2.0, routing_key=f"user-{row}")
            return result["label"]

    return np.concatenate(await asyncio.gather(*(one(row) for row in range(len(pixels)))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7400)
    parser.add_argument("--ca", default="ops/certs/out/ca.pem")
    parser.add_argument("--cert", default="ops/certs/out/client.pem")
    parser.add_argument("--key", default="ops/certs/out/client.key")
    parser.add_argument("--data", default="Tests/Fixtures/engine/digits")
    args = parser.parse_args()
    tls = dict(ca=args.ca, cert=args.cert, key=args.key)
    pixels = np.load(f"{args.data}/x_test.npy").astype(np.float32)
    truth = np.load(f"{args.data}/y_test.npy").reshape(-1)

    with switchyard.Client(args.host, args.port, **tls) as client:
        print("router:", dict(client.health().parameters))
        result = client.infer("digits", {"X": pixels[:1]}, timeout=1.0, routing_key="user-42")
        print(f"one row: label {result['label'][0]}, version {result.model_version}, "
              f"p = {result['probabilities'][0].max():.3f}")
        batch = client.infer("digits", {"X": pixels[:16]}, version="1")  # pinned version, 16 rows in one call
        print("a batch of 16 rows:", batch["label"].tolist())
        try:  # every answer has a request_id; its label counts while a rollout or A/B comparison judges it
            client.feedback(result.request_id, int(truth[0]))
            print("feedback: scored")
        except switchyard.NotFound:
            print("feedback: no rollout or comparison of digits judged this answer")
        try:
            client.infer("digits", {"X": pixels[:1, :63]})
        except switchyard.InvalidArgument as error:
            print(f"a wrong shape: {error.status_name} ({error.status}): {error.message}")
        try:
            client.infer("no-such-model", {"X": pixels[:1]})
        except switchyard.NotFound as error:
            print(f"an unknown model: {error.status_name}: {error.message}")

    async def concurrent() -> None:
        async with switchyard.AsyncClient(args.host, args.port, **tls) as client:
            started = time.perf_counter()
            labels = await many_in_flight(client, pixels, 64)
            seconds = time.perf_counter() - started
            print(f"{len(pixels)} rows, 64 in flight: {len(pixels) / seconds:,.0f} calls/s, "
                  f"accuracy {np.mean(labels == truth):.4f}")

    asyncio.run(concurrent())


if __name__ == "__main__":
    main()
