#!/usr/bin/env bash
# Builds the libFuzzer targets (AddressSanitizer on) and runs each for a bounded time from the committed seed corpus.
# Usage: ops/fuzz.sh [SECONDS per target, default 60] [extra libFuzzer flags, e.g. -runs=10000000]
# A crash, a sanitizer report or a failed property stops the run with the reproducer's path; new corpus entries go
# to a temporary folder (copy them into Fuzz/corpus to keep them).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
for product in FuzzFrame FuzzConnection; do
    FUZZ=1 swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -sanitize=address \
        -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer,address --product "$product"
done
bin=$(FUZZ=1 swift build --scratch-path .build-fuzz --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # target, seed folder
    local target=$1 seeds=$2
    shift 2
    mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
    cp "$seeds"/* "$work/$target/corpus/"
    echo "== $target: ${seconds} s from $(ls "$seeds" | wc -l) seeds"
    if ! "$bin/$target" "$work/$target/corpus" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$work/$target/artifacts/" "$@" > "$work/$target/log" 2>&1; then
        tail -n 60 "$work/$target/log"
        mkdir -p .build-fuzz/findings && cp "$work/$target/artifacts/"* .build-fuzz/findings/ 2>/dev/null || true
        echo "$target found a failure; reproducer in .build-fuzz/findings/ (run: $bin/$target FILE)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' "$work/$target/log"
}
run FuzzFrame Fuzz/corpus/frames "$@"
run FuzzConnection Fuzz/corpus/connection "$@"
