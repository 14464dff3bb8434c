#!/usr/bin/env bash
# Regenerates the fuzzers' seed corpus from the wire vectors: the bytes of each .vector (one frame) go to
# Fuzz/corpus/frames; the frames a scripted client sends in each server .exchange become an event program for
# FuzzConnection in Fuzz/corpus/connection (TLS done, then each frame followed by an answer and a timer tick).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf Fuzz/corpus && mkdir -p Fuzz/corpus/frames Fuzz/corpus/connection
hex() { sed -e 's/#.*//' "$1" | grep -E '^[0-9a-fA-F]{2}( |$)' | tr -d ' \n' || true; }
for f in protocols/vectors/*.vector; do hex "$f" | xxd -r -p > "Fuzz/corpus/frames/$(basename "$f" .vector)"; done
for f in protocols/vectors/server-*.exchange; do
    out="Fuzz/corpus/connection/$(basename "$f" .exchange)"
    printf '\x04\x08\x00' > "$out"  # max in flight 5, TLS done with the wire ALPN
    # each `send` block (what the scripted client sends) is one frame
    sed -e 's/#.*//' "$f" | awk '
        /^send /{ if (frame != "") print frame; frame = ""; inside = 1; next }
        /^[a-z@]/{ if (frame != "") print frame; frame = ""; inside = 0; next }
        inside && /^[0-9a-fA-F][0-9a-fA-F]( |$)/{ gsub(/ /, ""); frame = frame $0 }
        END { if (frame != "") print frame }' |
        while read -r frame; do
            length=$((${#frame} / 2))
            printf '%02x%02x%02x%s0500043c' 0 $((length & 255)) $((length >> 8)) "$frame" | xxd -r -p >> "$out"
        done
done
find Fuzz/corpus -type f -empty -delete
echo "frames: $(ls Fuzz/corpus/frames | wc -l), connection programs: $(ls Fuzz/corpus/connection | wc -l)"
