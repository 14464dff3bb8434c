#!/usr/bin/env bash
# Makes .venv (the Python the tests, tools and the Python client's suite use) and installs
# ops/python/requirements-test.txt into it. Safe to run again: pip skips what is installed.
# Prints the venv's python path on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  }
fi
stamp="$venv/.requirements.sha"
want=$(cat ops/python/requirements-*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  for req in ops/python/requirements-*.txt; do
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  done
  echo "$want" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
