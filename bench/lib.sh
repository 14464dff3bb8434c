# Shared by the bench scripts (sourced, not run). Builds in release mode, makes a work folder that is removed on exit
# together with every service started, and starts services on 127.0.0.1 with bounded waits.
# After sourcing: $bin (release binaries), $work (temporary folder), $certs ($work/certs; call make_certs).

[ -n "${SKIP_BUILD:-}" ] || swift build -c release >&2  # SKIP_BUILD=1: the binaries as they are
bin=${BIN:-$(swift build -c release --show-bin-path)}  # BIN: another build's binaries
work=$(mktemp -d -t "switchyard-$(basename "$0" .sh).XXXXXX")
certs=$work/certs
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

make_certs() {  # identity...: a CA and a certificate per identity in $certs
  bash ops/certs/make-certs.sh "$certs" "$@" >/dev/null
}

start() {  # name port args...: starts switchyard-<name> with its certificate, waits (at most 20 s) for its listening line
  local name=$1 port=$2; shift 2
  local log=$work/$name-$port.log
  "$bin/switchyard-$name" --host 127.0.0.1 --port "$port" --ca "$certs/ca.pem" --cert "$certs/$name.pem" --key "$certs/$name.key" \
    "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -qs listening "$log" && return
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "$(basename "$0"): $name did not start:" >&2; cat "$log" >&2; exit 1
}

gateway_bodies() {  # token: one synth row as an OIP infer body in $work/binary.body (Triton's binary extension,
  # its JSON header's length in $hlen) and $work/json.body, and wrk scripts posting each with the bearer token
  local token=$1
python3 - "$work" <<'PY'
import json, random, struct, sys
work = sys.argv[1]
random.seed(1)
floats = struct.pack("<784f", *[random.random() * 16 for _ in range(784)])
header = json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32",
                                 "parameters": {"binary_data_size": len(floats)}}],
                     "parameters": {"binary_data_output": True}}).encode()
open(f"{work}/binary.body", "wb").write(header + floats)
open(f"{work}/binary.hlen", "w").write(str(len(header)))
data = list(struct.unpack("<784f", floats))  # as tritonclient writes JSON: Python's repr of float32 values
open(f"{work}/json.body", "w").write(json.dumps({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32",
                                                             "data": data}]}))
PY
  hlen=$(cat "$work/binary.hlen")
  for kind in binary json; do  # wrk takes its body from a script
    { echo "local f = io.open(\"$work/$kind.body\", \"rb\"); wrk.body = f:read(\"*a\"); f:close()"
      echo 'wrk.method = "POST"'
      echo "wrk.headers[\"authorization\"] = \"Bearer $token\""
      if [ "$kind" = binary ]; then
        echo 'wrk.headers["content-type"] = "application/octet-stream"'
        echo "wrk.headers[\"inference-header-content-length\"] = \"$hlen\""
      else
        echo 'wrk.headers["content-type"] = "application/json"'
      fi
    } > "$work/$kind.lua"
  done
}
