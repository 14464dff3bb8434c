#!/usr/bin/env bash
# Installs the .deb on a throwaway VM and drives it as an operator would: a copy-on-write copy of this machine's root
# (overlayfs) booted by systemd as PID 1 in a container (systemd-nspawn --boot, private network), so the units run
# under the real systemd with their sandboxing, user and reload directives. Checks, in order:
#   the package installs (switchyard user, /etc/switchyard, units), `systemd-analyze verify` passes on every unit,
#   the mesh starts from its units (router, monitor and an instance of each stage template) and answers
#   predictions, `systemctl reload` (SIGHUP) of every unit under load with new certificates drops no request and
#   keeps every process while the new certificates are served, a broken config is refused on reload with the old
#   one kept, stop drains and exits 0, and the package removes and purges cleanly. Prints each service's installed
#   binary size, idle resident memory and start-to-ready time.
#
#   ops/package-test.sh [DEB]                 (as root; DEB defaults to dist/switchyard_*.deb from ops/package.sh)
#   ops/package-test.sh --binaries BIN_DIR    (packs BIN_DIR's binaries first: ops/package.sh --binaries; CI)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-test: needs root (overlay mounts, containers)" >&2; exit 1; }
command -v systemd-nspawn >/dev/null \
  || { echo "package-test: needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }
work=$(mktemp -d /tmp/switchyard-vm.XXXXXX)
root="$work/root"
mkdir -p "$work/upper" "$work/work" "$root"
nspawn=""
cleanup() {
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    kill "$nspawn" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$nspawn" 2>/dev/null || true
  fi
  umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true
  ! mountpoint -q "$work/upper" || umount "$work/upper" || umount -l "$work/upper" || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ "${1:-}" = --binaries ]; then
  bash ops/package.sh --binaries "${2:?--binaries needs a directory}" --out "$work/dist" >"$work/package.log" 2>&1 \
    || { cat "$work/package.log" >&2; echo "package-test: ops/package.sh --binaries failed" >&2; exit 1; }
  set -- "$(ls "$work"/dist/switchyard_*.deb)"
fi
deb=${1:-$(ls -t dist/switchyard_*.deb 2>/dev/null | head -n 1)}
[ -f "$deb" ] || { echo "package-test: no .deb (run ops/package.sh)" >&2; exit 1; }
# an overlay's upper layer cannot be on overlayfs (a container's root): then it goes on a tmpfs
if [ "$(findmnt -n -o FSTYPE -T "$work")" = overlay ]; then
  mount -t tmpfs -o size=4g switchyard-vm "$work/upper" && mkdir -p "$work/upper/upper" "$work/upper/work"
  layers="upperdir=$work/upper/upper,workdir=$work/upper/work"
else
  layers="upperdir=$work/upper,workdir=$work/work"
fi
mount -t overlay overlay -o "lowerdir=/,$layers" "$root"
# a machine of its own: its own id, none of this machine's services, no leftovers of an earlier install
rm -f "$root/etc/machine-id"
tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
rm -rf "$root/etc/switchyard" "$root/var/lib/switchyard" "$root"/etc/systemd/system/*.wants/switchyard-*
cp "$deb" "$root/root/switchyard.deb"

# boot: systemd as PID 1 of a container with a private network (only loopback) to basic.target
systemd-nspawn -q --register=no --keep-unit --link-journal=no --private-network -D "$root" --boot \
  -- systemd.unit=basic.target >"$work/console.log" 2>&1 &
nspawn=$!
leader=""
for _ in $(seq 1 300); do
  leader=$(pgrep -P "$nspawn" | head -n 1 || true)
  [ -n "$leader" ] && [ "$(cat /proc/"$leader"/comm 2>/dev/null)" = systemd ] && break
  sleep 0.1
done
[ -n "$leader" ] || { echo "package-test: the container did not start" >&2; cat "$work/console.log" >&2; exit 1; }
vm() { nsenter -t "$leader" -m -u -i -n -p -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
for _ in $(seq 1 600); do
  state=$(vm systemctl is-system-running 2>/dev/null || true)
  case "$state" in running | degraded) break ;; esac
  sleep 0.1
done
echo "package-test: container booted (systemd $state, PID $leader on the host)"
fail() { echo "package-test: FAILED: $*" >&2; vm journalctl --no-pager -n 60 -u 'switchyard-*' >&2 || true; exit 1; }

# install
vm dpkg -i /root/switchyard.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
vm getent passwd switchyard >/dev/null || fail "no switchyard user"
for f in router preprocess inference postprocess monitor; do
  vm test -f "/etc/switchyard/$f.yaml" || fail "no /etc/switchyard/$f.yaml"
done
echo "package-test: installed $(basename "$deb"); switchyard user: $(vm getent passwd switchyard)"
units=(switchyard-router.service switchyard-monitor.service switchyard-preprocess@main.service
  switchyard-inference@main.service switchyard-postprocess@main.service)
verify=$(vm systemd-analyze verify "${units[@]}" 2>&1 || true)
if echo "$verify" | grep -q switchyard; then echo "$verify" >&2; fail "systemd-analyze verify"; fi
echo "package-test: systemd-analyze verify: ${units[*]}: clean"

# configure as the README says: a CA kept off the service user's reach (here in /root/ca), each service's
# certificate and key installed into /etc/switchyard/certs, the example model, the router's monitor
issue() {  # (re)issues every service's certificate from the CA in /root/ca and installs it
  vm /usr/share/switchyard/make-certs.sh /root/ca router preprocess inference postprocess monitor client ops:admin \
    >/dev/null
  vm sh -c 'cd /root/ca && install -m 0644 ca.pem router.pem preprocess.pem inference.pem postprocess.pem \
      monitor.pem /etc/switchyard/certs/ \
    && install -g switchyard -m 0640 router.key preprocess.key inference.key postprocess.key monitor.key \
      /etc/switchyard/certs/'
}
issue
vm sh -c 'cp -r /usr/share/switchyard/examples/models/. /var/lib/switchyard/models/'
vm sh -c 'echo "monitor: 127.0.0.1:7405" >> /etc/switchyard/router.yaml'

# start, one unit at a time, timing each until it answers /readyz (the monitor: /healthz of its open Prometheus port;
# its dashboard is HTTPS with a token)
declare -A ready_ms port
port=([switchyard-inference@main.service]=9402 [switchyard-preprocess@main.service]=9404
  [switchyard-postprocess@main.service]=9403 [switchyard-router.service]=9400 [switchyard-monitor.service]=7407)
for unit in switchyard-monitor.service switchyard-inference@main.service switchyard-preprocess@main.service \
  switchyard-postprocess@main.service switchyard-router.service; do
  path=/readyz
  [ "$unit" = switchyard-monitor.service ] && path=/healthz
  started=$(date +%s%N)
  vm systemctl start "$unit" || fail "systemctl start $unit"
  ok=false
  for _ in $(seq 1 600); do
    if vm curl -fsS -o /dev/null "http://127.0.0.1:${port[$unit]}$path" 2>/dev/null; then ok=true; break; fi
    sleep 0.05
  done
  $ok || fail "$unit not ready within 30 s"
  ready_ms[$unit]=$(( ($(date +%s%N) - started) / 1000000 ))
done
core=$(vm journalctl --no-pager -u switchyard-inference@main.service | grep -o 'blas.core=[A-Za-z0-9]*' | head -n 1)
echo "package-test: every unit started and ready (inference: ${core:-blas.core not logged})"
client=(--ca /root/ca/ca.pem --cert /root/ca/client.pem --key /root/ca/client.key)
predict() {
  vm yard load --target 127.0.0.1:7400 "${client[@]}" --model digits --shape 64 --requests 200 --concurrency 4 \
    --warmup 0
}
predict >"$work/load1.log" 2>&1 || { cat "$work/load1.log" >&2; fail "requests through the installed router"; }
grep -E '^closed' "$work/load1.log" | head -n 1 | sed 's/^/package-test: through the router: /'

# scale a stage as the README says: a second inference instance on this VM (the template with its own ports from an
# environment file), added to the router's pool with an admin certificate; it takes requests
admin=(--ca /root/ca/ca.pem --cert /root/ca/ops.pem --key /root/ca/ops.key)
vm sh -c 'printf "SWITCHYARD_INFERENCE_PORT=7412\nSWITCHYARD_INFERENCE_METRICS_PORT=9412\n" \
  > /etc/switchyard/inference-b.env'
vm systemctl start switchyard-inference@b.service || fail "systemctl start switchyard-inference@b.service"
port[switchyard-inference@b.service]=9412
for _ in $(seq 1 600); do vm curl -fsS -o /dev/null http://127.0.0.1:9412/readyz 2>/dev/null && break; sleep 0.05; done
vm yard pool add --router 127.0.0.1:7400 "${admin[@]}" --stage inference --instance 127.0.0.1:7412 >/dev/null \
  || fail "yard pool add"
served_b() {  # digits requests the new instance answered
  vm curl -fsS http://127.0.0.1:9412/metrics \
    | awk '/^switchyard_requests_total\{/ && /model="digits"/ { n += $NF } END { print n + 0 }'
}
[ "$(served_b)" = 0 ] || fail "switchyard-inference@b counts requests before it was added"
for _ in $(seq 1 20); do  # slow start: its share rises over 10 s
  predict >"$work/load-scale.log" 2>&1 || { cat "$work/load-scale.log" >&2; fail "requests while scaling out"; }
  [ "$(served_b)" != 0 ] && break
  sleep 1
done
[ "$(served_b)" != 0 ] || fail "the added instance switchyard-inference@b took no request"
vm yard pool list --router 127.0.0.1:7400 "${admin[@]}" >"$work/pool.log" 2>&1 || fail "yard pool list"
grep -q 127.0.0.1:7412 "$work/pool.log" || { cat "$work/pool.log" >&2; fail "yard pool list does not show 7412"; }
vm yard admin reload --target 127.0.0.1:7412 "${admin[@]}" >/dev/null || fail "yard admin reload"
echo "package-test: scaled out: switchyard-inference@b (inference-b.env) added with yard pool add," \
  "$(served_b) requests answered by it"

# every stage exports its saturation for autoscalers
for unit in switchyard-inference@main.service switchyard-preprocess@main.service switchyard-postprocess@main.service \
  switchyard-router.service; do
  metrics=$(vm curl -fsS "http://127.0.0.1:${port[$unit]}/metrics")
  for series in switchyard_busy_seconds_total switchyard_workers switchyard_queue_depth; do
    echo "$metrics" | grep -q "^$series{" || fail "$unit does not export $series"
  done
done
busy=$(vm curl -fsS http://127.0.0.1:9402/metrics | awk '/^switchyard_busy_seconds_total\{/ {print $NF}')
awk -v b="$busy" 'BEGIN { exit !(b > 0) }' || fail "inference reports no busy time after 200 requests"
echo "package-test: every stage exports switchyard_busy_seconds_total, switchyard_workers, switchyard_queue_depth"

# idle memory, after the requests
sleep 2
declare -A rss pid size
for unit in "${!port[@]}"; do
  name=${unit%%@*}
  size[$unit]=$(vm stat -c %s "/usr/bin/${name%.service}")
  pid[$unit]=$(vm systemctl show -p MainPID --value "$unit")
  rss[$unit]=$(vm awk '/VmRSS/ {print $2}' "/proc/${pid[$unit]}/status")
done

# reload every unit with new certificates (a new key and certificate per service) while requests flow: no request
# fails (and none is retried), every process stays, the new certificates are served
issue
vm yard load --target 127.0.0.1:7400 "${client[@]}" --model digits --shape 64 --rate 40 --duration 8s --warmup 0 \
  --retries 0 >"$work/load2.log" 2>&1 &
load=$!
sleep 1.5
for unit in "${!port[@]}"; do
  vm systemctl reload "$unit" || fail "systemctl reload $unit"
  sleep 0.5
done
wait "$load" || { cat "$work/load2.log" >&2; fail "requests failed while every unit reloaded"; }
grep -E '^open' "$work/load2.log" | head -n 1 | sed 's/^/package-test: while reloading: /'
for unit in "${!port[@]}"; do
  now=$(vm systemctl show -p MainPID --value "$unit")
  [ "$now" = "${pid[$unit]}" ] || fail "$unit restarted on reload (PID ${pid[$unit]} -> $now)"
  vm journalctl --no-pager -u "$unit" | grep -q 'reloaded' || fail "$unit did not log its reload"
done
served() {  # the SHA-256 fingerprint of the certificate a TLS port presents
  vm sh -c "openssl s_client -connect 127.0.0.1:$1 -alpn switchyard/1 -cert /root/ca/client.pem \
    -key /root/ca/client.key -CAfile /root/ca/ca.pem </dev/null 2>/dev/null \
    | openssl x509 -noout -fingerprint -sha256" || true
}
for stage in inference:7402 router:7400; do
  want=$(vm openssl x509 -in "/etc/switchyard/certs/${stage%:*}.pem" -noout -fingerprint -sha256)
  [ "$(served "${stage#*:}")" = "$want" ] || fail "${stage%:*} does not present its new certificate after reload"
done
predict >"$work/load3.log" 2>&1 || { cat "$work/load3.log" >&2; fail "requests after the reload"; }
echo "package-test: systemctl reload under load: no request failed, same processes, new certificates served"

# a broken config is refused on reload; the service keeps serving with the old one
vm sh -c 'cp /etc/switchyard/router.yaml /root/router.yaml.good \
  && echo "max-batch-size: -3" >> /etc/switchyard/router.yaml'
vm systemctl reload switchyard-router.service || true
sleep 1
[ "$(vm systemctl show -p MainPID --value switchyard-router.service)" = "${pid[switchyard-router.service]}" ] \
  || fail "the router restarted on a broken config"
vm journalctl --no-pager -u switchyard-router.service | grep -q 'reload refused' \
  || fail "no 'reload refused' in the log"
predict >"$work/load4.log" 2>&1 || { cat "$work/load4.log" >&2; fail "requests after a refused reload"; }
vm cp /root/router.yaml.good /etc/switchyard/router.yaml
echo "package-test: a broken config is refused on reload (logged), the router keeps serving"

# stop: each drains and exits 0
for unit in switchyard-router.service switchyard-preprocess@main.service switchyard-inference@main.service \
  switchyard-inference@b.service switchyard-postprocess@main.service switchyard-monitor.service; do
  vm systemctl stop "$unit"
  result=$(vm systemctl show -p Result --value "$unit")
  status=$(vm systemctl show -p ExecMainStatus --value "$unit")
  [ "$result" = success ] && [ "$status" = 0 ] || fail "$unit stopped with result $result, status $status"
  [ "$unit" = switchyard-monitor.service ] || vm journalctl --no-pager -u "$unit" | grep -q 'draining' \
    || fail "$unit did not drain on stop"
done
echo "package-test: systemctl stop: every unit drained (GOAWAY, in-flight finished) and exited 0"

# remove, then purge
vm systemctl enable switchyard-router.service switchyard-inference@main.service >/dev/null 2>&1
vm dpkg -r switchyard >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r"; }
vm test ! -e /usr/bin/switchyard-router || fail "binaries left after remove"
vm test ! -e /lib/systemd/system/switchyard-router.service || fail "units left after remove"
vm sh -c '! ls /etc/systemd/system/*.wants/switchyard-* 2>/dev/null' || fail "enablement left after remove"
vm test -f /etc/switchyard/router.yaml || fail "remove must keep the config files (purge takes them)"
vm dpkg --purge switchyard >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
vm test ! -e /etc/switchyard || fail "/etc/switchyard left after purge"
vm test ! -e /var/lib/switchyard || fail "/var/lib/switchyard left after purge"
echo "package-test: dpkg -r and --purge: binaries, units, enablement, config and state gone"

printf '\n%-36s %10s %12s %18s\n' unit "binary MiB" "idle RSS MiB" "start-to-ready ms"
for unit in switchyard-router.service switchyard-preprocess@main.service switchyard-inference@main.service \
  switchyard-postprocess@main.service switchyard-monitor.service; do
  awk -v u="$unit" -v s="${size[$unit]}" -v r="${rss[$unit]}" -v t="${ready_ms[$unit]}" \
    'BEGIN { printf "%-36s %10.1f %12.1f %18s\n", u, s / 1048576, r / 1024, t }'
done
echo "package-test: passed"
