#!/usr/bin/env bash
# The demo: installs what is missing, builds in release mode, makes development certificates, starts
# switchyard-echo on loopback over mutual TLS and sends traffic through the client library with `yard echo`.
# Serves until Ctrl-C; `--exit` stops after the run. (The full mesh with the digits model replaces this
# demo once the router and stage services exist.)
set -euo pipefail
cd "$(dirname "$0")/.."
exit_after=false
for arg in "$@"; do
  case "$arg" in
    --exit) exit_after=true ;;
    *) echo "usage: ops/demo.sh [--exit]" >&2; exit 2 ;;
  esac
done
bash ops/setup.sh
echo "demo: building (release)..."
swift build -c release --product yard >/dev/null
swift build -c release --product switchyard-echo >/dev/null
bin=$(swift build -c release --show-bin-path)
certs=ops/certs/out
[ -f "$certs/client.pem" ] || bash ops/certs/make-certs.sh "$certs" >/dev/null
port=${SWITCHYARD_DEMO_PORT:-7401}
log=$(mktemp -t switchyard-echo.XXXXXX.log)
"$bin/switchyard-echo" --host 127.0.0.1 --port "$port" --ca "$certs/ca.pem" --cert "$certs/echo.pem" --key "$certs/echo.key" >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do  # bounded wait for the listener
  grep -q listening "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
grep -q listening "$log" || { echo "demo: switchyard-echo did not start" >&2; cat "$log" >&2; exit 1; }
echo "demo: switchyard-echo listening on 127.0.0.1:$port (mutual TLS, ALPN switchyard/1); log: $log"
client=(--target "127.0.0.1:$port" --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key")
"$bin/yard" echo "${client[@]}" --requests 2000 --concurrency 1
"$bin/yard" echo "${client[@]}" --requests 20000 --concurrency 64 --connections 2
if $exit_after; then
  exit 0
fi
echo "demo: serving on 127.0.0.1:$port until Ctrl-C. Try: $bin/yard echo ${client[*]}"
wait $server
