#!/usr/bin/env bash
# Installs the system packages Switchyard builds and runs with, when they are missing (Debian/Ubuntu, as root).
# Run by ops/test.sh (with --test: also prometheus and chromium for the monitor's tests, curl and h2load for the gateway's,
# dpkg-dev, systemd-container, dnsmasq-base and iproute2 for the package and fleet tests) and ops/demo.sh; safe to run again.
set -euo pipefail
need=()
pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
pkg-config --exists libpng 2>/dev/null || need+=(libpng-dev)
[ -e /usr/include/oneapi/dnnl/dnnl.h ] || need+=(libdnnl-dev)  # oneDNN: the integer GEMM of quantized models
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v openssl >/dev/null || need+=(openssl)
if [ "${1:-}" = "--test" ]; then  # the integration tests drive a real Prometheus, a headless browser, curl and h2load
  command -v prometheus >/dev/null || need+=(prometheus)
  command -v chromium >/dev/null || need+=(chromium)
  command -v curl >/dev/null || need+=(curl)
  command -v h2load >/dev/null || need+=(nghttp2-client)
  # the package and fleet tests: dpkg-shlibdeps, a systemd-booted container, a DNS server, network namespaces
  command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
  command -v systemd-nspawn >/dev/null || need+=(systemd-container)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
  command -v ip >/dev/null || need+=(iproute2)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift 6.x is required (https://swift.org/install)" >&2; exit 1; }
