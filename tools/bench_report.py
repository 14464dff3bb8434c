#!/usr/bin/env python3
"""Joins bench/out/engine-t<N>.json and bench/out/onnxruntime-t<N>.json into one markdown table.

    python3 tools/bench_report.py 1 2      # thread counts to include

Rates are rows/s at the median latency (batch / p50), the steady figure on a shared machine; the
mean-based rates are in the JSON files.
"""
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "out")


def main():
    threads = sys.argv[1:] or ["1"]
    print("| threads | model | batch | engine rows/s | engine p50 µs | bare sgemm rows/s | engine / bare "
          "| onnxruntime rows/s | onnxruntime p50 µs | engine / onnxruntime (throughput) | engine p50 / onnxruntime p50 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in threads:
        engine = json.load(open(os.path.join(OUT, f"engine-t{t}.json")))
        ort_path = os.path.join(OUT, f"onnxruntime-t{t}.json")
        ort = {(r["model"], r["batch"]): r for r in json.load(open(ort_path))} if os.path.exists(ort_path) else {}
        for row in engine:
            o = ort.get((row["model"], row["batch"]))
            cells = [t, row["model"], row["batch"], f'{row["engine_rows_per_s_p50"]:.0f}', f'{row["engine_p50_us"]:.1f}',
                     f'{row["bare_rows_per_s_p50"]:.0f}', f'{row["engine_rows_per_s_p50"] / row["bare_rows_per_s_p50"]:.2f}']
            if o:
                cells += [f'{o["ort_rows_per_s_p50"]:.0f}', f'{o["ort_p50_us"]:.1f}',
                          f'{row["engine_rows_per_s_p50"] / o["ort_rows_per_s_p50"]:.2f}',
                          f'{row["engine_p50_us"] / o["ort_p50_us"]:.2f}']
            else:
                cells += ["–"] * 4
            print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
