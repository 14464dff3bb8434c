#!/usr/bin/env bash
# A fleet on one machine: hosts as network namespaces on one bridge, a real DNS server (dnsmasq) for discovery, the
# services as separate processes on their hosts, steady load from a client host, and every request counted.
#
#   host a 10.203.0.1  router (inference pool: dns:inference.fleet:7402, pre- and postprocess pools: SRV records
#                      _wire._tcp.preprocess.fleet and _wire._tcp.postprocess.fleet; re-resolved every second)
#   host b 10.203.0.2  inference          host c 10.203.0.3  inference
#   host d 10.203.0.4  preprocess, postprocess, dnsmasq (inference.fleet -> b, c; the SRV records -> d's ports)
#   host e 10.203.0.5  inference, not in DNS at first
#   host x 10.203.0.9  the load client (yard load, open loop, a line per request)
#
# Under the load, each at its own time (bench/out/fleet/events.tsv): add e by adding its DNS record; drain c
# (yard pool drain) and remove it by deleting its record; rotate every certificate (new keys, SIGHUP to every
# service, then yard admin reload on the router); restart the router (SIGTERM, start again); give c its record back; cut c's link (ip link set down).
# Then counts every request by phase and checks: no failure while adding, draining, removing and rotating; e
# serving; after the link cut, no more failures than requests in flight to c at the cut plus a margin. Prints a
# summary (bench/out/fleet/summary.md) with the times and counts. Bounded: about two minutes. Root only.
#
#   ops/fleet-test.sh [BIN_DIR]   (default: dist/bin, the packaged binaries from ops/package.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:-dist/bin}" && pwd)
for b in switchyard-router switchyard-inference switchyard-preprocess switchyard-postprocess yard; do
  [ -x "$bin/$b" ] || { echo "fleet-test: no $bin/$b (run ops/package.sh, or pass a bin directory)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "fleet-test: needs root (network namespaces)" >&2; exit 1; }
command -v dnsmasq >/dev/null || { echo "fleet-test: needs dnsmasq (apt-get install dnsmasq-base)" >&2; exit 1; }

out=bench/out/fleet
rm -rf "$out"
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
certs="$out/certs"
rate=${FLEET_RATE:-100}
interval_ms=1000
prefix=syf
hosts=(a b c d e x)
declare -A ip=([a]=10.203.0.1 [b]=10.203.0.2 [c]=10.203.0.3 [d]=10.203.0.4 [e]=10.203.0.5 [x]=10.203.0.9)
declare -A pids

t0=$(date +%s.%N)
event() {
  local now
  now=$(date +%s.%N)
  printf '%s\t%s\n' "$now" "$1" >> "$out/events.tsv"
  echo "fleet-test: $(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%6.1f", a - b }') s  $1"
}
in_host() { local h=$1; shift; ip netns exec "$prefix-$h" "$@"; }

cleanup() {
  exec 2>/dev/null  # the shell's notes on the processes it kills here
  for key in "${!pids[@]}"; do kill "${pids[$key]}" 2>/dev/null || true; done
  sleep 0.5
  for key in "${!pids[@]}"; do kill -9 "${pids[$key]}" 2>/dev/null || true; done
  for h in "${hosts[@]}" sw; do ip netns del "$prefix-$h" 2>/dev/null || true; rm -rf "/etc/netns/$prefix-$h"; done
}
trap cleanup EXIT
for h in "${hosts[@]}" sw; do ip netns del "$prefix-$h" 2>/dev/null || true; done  # a run that was killed

# the network: a bridge in its own namespace, one veth per host, addresses only inside the namespaces
ip netns add "$prefix-sw"
in_host sw ip link add br0 type bridge
in_host sw ip link set br0 up
in_host sw ip link set lo up
for h in "${hosts[@]}"; do
  ip netns add "$prefix-$h"
  ip link add "$prefix-$h-0" type veth peer name "$prefix-$h-1"
  ip link set "$prefix-$h-0" netns "$prefix-$h"
  ip link set "$prefix-$h-1" netns "$prefix-sw"
  in_host sw ip link set "$prefix-$h-1" master br0 up
  in_host "$h" ip link set lo up
  in_host "$h" ip link set "$prefix-$h-0" name eth0
  in_host "$h" ip addr add "${ip[$h]}/24" dev eth0
  in_host "$h" ip link set eth0 up
  # ip netns exec bind-mounts this over /etc/resolv.conf: every host asks host d's dnsmasq
  mkdir -p "/etc/netns/$prefix-$h"
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "${ip[d]}" > "/etc/netns/$prefix-$h/resolv.conf"
  printf '127.0.0.1 localhost\n' > "/etc/netns/$prefix-$h/hosts"
done

# certificates: the inference instances answer for the DNS name the router found them under
bash ops/certs/make-certs.sh "$certs" "router@${ip[a]}" "inference@inference.fleet,${ip[b]},${ip[c]},${ip[e]}" \
  "preprocess@preprocess.fleet,${ip[d]}" "postprocess@postprocess.fleet,${ip[d]}" client ops:admin >/dev/null
chmod 0644 "$certs"/*

# DNS: dnsmasq on host d serves inference.fleet from a hosts file, re-read on SIGHUP, and the SRV records (with
# their targets' addresses) of the pre- and postprocess instances
records="$out/inference.hosts"
printf '%s inference.fleet\n%s inference.fleet\n' "${ip[b]}" "${ip[c]}" > "$records"
printf '%s preprocess.fleet postprocess.fleet\n' "${ip[d]}" > "$out/stages.hosts"
# (ip netns exec execs the program: $! is the program's own pid, for the signals below)
ip netns exec "$prefix-d" dnsmasq --keep-in-foreground --no-resolv --no-hosts --addn-hosts="$records" \
  --addn-hosts="$out/stages.hosts" --srv-host=_wire._tcp.preprocess.fleet,preprocess.fleet,7404 \
  --srv-host=_wire._tcp.postprocess.fleet,postprocess.fleet,7403 --listen-address="${ip[d]}" --bind-interfaces \
  --local-ttl=0 --user=root --pid-file="$out/dnsmasq.pid" --log-facility="$out/logs/dnsmasq.log" &
pids[dnsmasq]=$!
dns() { kill -HUP "${pids[dnsmasq]}"; }

tls() { echo --ca "$certs/ca.pem" --cert "$certs/$1.pem" --key "$certs/$1.key"; }
start() {  # host name binary args...
  local h=$1 name=$2 binary=$3
  shift 3
  ip netns exec "$prefix-$h" "$bin/$binary" "$@" >>"$out/logs/$name.log" 2>&1 &
  pids[$name]=$!
}
for h in b c e; do
  start "$h" "inference-$h" switchyard-inference --host "${ip[$h]}" --port 7402 --metrics-port 9402 \
    --models models $(tls inference) --threads 1 --drain-seconds 5
done
start d preprocess switchyard-preprocess --host "${ip[d]}" --port 7404 --metrics-port 9404 --models models \
  $(tls preprocess) --drain-seconds 5
start d postprocess switchyard-postprocess --host "${ip[d]}" --port 7403 --metrics-port 9403 --models models \
  $(tls postprocess) --drain-seconds 5
router_args=(--host "${ip[a]}" --port 7400 --metrics-port 9400 --models models $(tls router) --drain-seconds 5
  --inference dns:inference.fleet:7402 --preprocess srv:_wire._tcp.preprocess.fleet
  --postprocess srv:_wire._tcp.postprocess.fleet
  --discovery-interval-ms $interval_ms --health-check-interval-ms 1000 --event-loops 1)
router_ready_ms=""
start_router() {  # sets router_ready_ms (not in a subshell: pids[router] must stay in this shell)
  local started
  started=$(date +%s%N)
  start a router switchyard-router "${router_args[@]}"
  for _ in $(seq 1 400); do
    if in_host a curl -fsS -o /dev/null "http://${ip[a]}:9400/readyz" 2>/dev/null; then
      router_ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
      return 0
    fi
    sleep 0.05
  done
  echo "fleet-test: the router did not become ready" >&2
  return 1
}
start_router
ready_first=$router_ready_ms
event "router ready (${ready_first} ms from start)"
served() {  # requests host h's inference instance has answered
  in_host "$1" curl -fsS "http://${ip[$1]}:9402/metrics" 2>/dev/null \
    | awk '/^switchyard_requests_total\{/ && /method="infer"/ && /code="ok"/ {s += $NF} END {print s + 0}'
}
admin=(--router "${ip[a]}:7400" --ca "$certs/ca.pem" --cert "$certs/ops.pem" --key "$certs/ops.key")

# steady load from host x, every request logged
duration=95
ip netns exec "$prefix-x" "$bin/yard" load --target "${ip[a]}:7400" $(tls client) --model digits --shape 64 --rate "$rate" \
  --duration "${duration}s" --warmup 0 --timeout 5s --connections 2 --request-log "$out/requests.csv" \
  > "$out/logs/load.log" 2>&1 &
pids[load]=$!
event "load started ($rate req/s, open loop, ${duration} s)"
sleep 8

# 1. add e by its DNS record
before_e=$(served e)
printf '%s inference.fleet\n' "${ip[e]}" >> "$records"
dns
add_at=$(date +%s%N)
event "phase add: e's record added to DNS"
e_serving_ms=""
for _ in $(seq 1 300); do
  if [ "$(served e)" -gt "$before_e" ]; then e_serving_ms=$(( ($(date +%s%N) - add_at) / 1000000 )); break; fi
  sleep 0.05
done
event "e serving after ${e_serving_ms:-never} ms"
sleep 6

# 2. drain c, then remove its record
event "phase drain: yard pool drain c"
in_host x "$bin/yard" pool drain "${admin[@]}" --stage inference --instance "${ip[c]}:7402" > "$out/logs/drain.log"
sleep 3
sed -i "/^${ip[c]} /d" "$records"
dns
event "phase remove: c's record removed from DNS"
sleep 4
c_after_remove=$(served c)
sleep 3
[ "$(served c)" = "$c_after_remove" ] || { echo "fleet-test: c still gets requests after its removal" >&2; exit 1; }
in_host x "$bin/yard" pool list "${admin[@]}" > "$out/logs/pool-after-remove.txt"

# 3. rotate every certificate: new keys from the same CA, SIGHUP to every service
event "phase rotate: new certificates, SIGHUP to every service"
old_fingerprint=$(openssl x509 -in "$certs/inference.pem" -noout -fingerprint -sha256)
bash ops/certs/make-certs.sh "$certs" "router@${ip[a]}" "inference@inference.fleet,${ip[b]},${ip[c]},${ip[e]}" \
  "preprocess@preprocess.fleet,${ip[d]}" "postprocess@postprocess.fleet,${ip[d]}" client >/dev/null
chmod 0644 "$certs"/*
for name in router inference-b inference-c inference-e preprocess postprocess; do kill -HUP "${pids[$name]}"; done
sleep 6
new_fingerprint=$(in_host x sh -c "openssl s_client -connect ${ip[b]}:7402 -alpn switchyard/1 -CAfile $certs/ca.pem \
  -cert $certs/client.pem -key $certs/client.key </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
[ "$new_fingerprint" != "$old_fingerprint" ] && [ "$new_fingerprint" = "$(openssl x509 -in "$certs/inference.pem" -noout -fingerprint -sha256)" ] \
  || { echo "fleet-test: inference b does not present its new certificate after SIGHUP" >&2; exit 1; }
event "rotation done: b presents its new certificate"
# the same through the admin call (the files are unchanged now: nothing needs a restart)
in_host x "$bin/yard" admin reload --target "${ip[a]}:7400" --ca "$certs/ca.pem" --cert "$certs/ops.pem" \
  --key "$certs/ops.key" > "$out/logs/admin-reload.log"
grep -q "^${ip[a]}:7400: reloaded$" "$out/logs/admin-reload.log" \
  || { echo "fleet-test: yard admin reload did not reload the router" >&2; cat "$out/logs/admin-reload.log" >&2; exit 1; }

# 4. restart the router host's router
event "phase router-restart: SIGTERM to the router"
kill -TERM "${pids[router]}"
wait "${pids[router]}" 2>/dev/null || true
start_router
ready_again=$router_ready_ms
event "router ready again (${ready_again} ms from start)"
sleep 5

# 5. c comes back, then its link is cut
printf '%s inference.fleet\n' "${ip[c]}" >> "$records"
dns
in_host x "$bin/yard" pool add "${admin[@]}" --stage inference --instance "${ip[c]}:7402" > /dev/null
event "c back in DNS and added by the operator (it was removed)"
before_c=$(served c)
for _ in $(seq 1 200); do [ "$(served c)" -gt "$before_c" ] && break; sleep 0.05; done
sleep 12
inflight_c=$(in_host x "$bin/yard" pool list "${admin[@]}" --json | python3 -c '
import json, sys
pools = json.load(sys.stdin)
print(sum(i["in_flight"] for s in pools["stages"] for i in s["instances"] if i["id"] == sys.argv[1]))' "${ip[c]}:7402")
in_host c ip link set eth0 down
event "phase link-cut: c's link down ($inflight_c requests in flight to c a moment before)"
wait "${pids[load]}" 2>/dev/null || true
unset 'pids[load]'
event "load finished"

# count every request by phase
python3 - "$out" "$rate" "$e_serving_ms" "$interval_ms" "$inflight_c" "$ready_first" "$ready_again" <<'PY'
import csv, sys
out, rate, e_ms, interval_ms, inflight_c, ready_first, ready_again = sys.argv[1:]
events = [(float(t), text) for t, text in (line.rstrip("\n").split("\t", 1) for line in open(f"{out}/events.tsv"))]
def at(prefix):
    return next(t for t, text in events if text.startswith(prefix))
marks = [("steady", at("load started")), ("add", at("phase add")), ("drain", at("phase drain")),
         ("remove", at("phase remove")), ("rotate", at("phase rotate")), ("router-restart", at("phase router-restart")),
         ("rejoin", at("c back in DNS")), ("link-cut", at("phase link-cut")), ("end", float("inf"))]
rows = list(csv.DictReader(open(f"{out}/requests.csv")))
phases = {name: {"sent": 0, "failed": 0, "codes": {}} for name, _ in marks[:-1]}
for row in rows:
    sent = float(row["sent_unix_s"])
    name = next(marks[i][0] for i in range(len(marks) - 1) if marks[i][1] <= sent < marks[i + 1][1]) \
        if sent >= marks[0][1] else "steady"
    phase = phases[name]
    phase["sent"] += 1
    if row["code"] != "ok":
        phase["failed"] += 1
        phase["codes"][row["code"]] = phase["codes"].get(row["code"], 0) + 1
total = sum(p["sent"] for p in phases.values())
failed = sum(p["failed"] for p in phases.values())
lines = ["| phase | requests sent | failed | statuses of the failures |", "|---|---|---|---|"]
for name, phase in phases.items():
    codes = ", ".join(f"{c} {n}" for c, n in sorted(phase["codes"].items())) or "-"
    lines.append(f"| {name} | {phase['sent']} | {phase['failed']} | {codes} |")
summary = "\n".join([
    f"requests: {total} sent, {total - failed} answered, {failed} failed ({rate} req/s open loop)",
    "", *lines, "",
    f"- new instance e serving {e_ms} ms after its DNS record was added (discovery interval {interval_ms} ms)",
    f"- requests in flight to c just before its link was cut: {inflight_c}; failures after the cut: "
    f"{phases['link-cut']['failed']}",
    f"- router start to ready: {ready_first} ms; after the restart: {ready_again} ms",
])
open(f"{out}/summary.md", "w").write(summary + "\n")
print(summary)
bad = [n for n in ("add", "drain", "remove", "rotate") if phases[n]["failed"]]
if bad:
    sys.exit(f"fleet-test: failures while {', '.join(bad)}")
if not e_ms:
    sys.exit("fleet-test: e never served")
if phases["link-cut"]["failed"] > int(inflight_c) + 10:
    sys.exit(f"fleet-test: {phases['link-cut']['failed']} failures after the link cut, "
             f"more than the {inflight_c} in flight to c plus 10")
if total < 0.9 * float(rate) * 90:
    sys.exit(f"fleet-test: only {total} requests were sent")
print("fleet-test: passed")
PY
