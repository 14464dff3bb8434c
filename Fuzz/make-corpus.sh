#!/usr/bin/env bash
# Regenerates the fuzzers' seed corpus from the wire vectors: the bytes of each .vector (one frame) go to
# Fuzz/corpus/frames, the bytes a scripted peer sends in each .exchange (a stream of frames) to Fuzz/corpus/streams.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf Fuzz/corpus && mkdir -p Fuzz/corpus/frames Fuzz/corpus/streams
hex() { sed -e 's/#.*//' "$1" | grep -E '^[0-9a-fA-F]{2}( |$)' | tr -d ' \n' || true; }
for f in protocols/vectors/*.vector; do hex "$f" | xxd -r -p > "Fuzz/corpus/frames/$(basename "$f" .vector)"; done
for f in protocols/vectors/*.exchange; do hex "$f" | xxd -r -p > "Fuzz/corpus/streams/$(basename "$f" .exchange)"; done
find Fuzz/corpus -type f -empty -delete
echo "frames: $(ls Fuzz/corpus/frames | wc -l), streams: $(ls Fuzz/corpus/streams | wc -l)"
