#!/usr/bin/env bash
# Checks the systemd units with `systemd-analyze verify` without installing them (no systemd as PID 1 needed):
# copies of ops/systemd/*.service whose ExecStart names the binaries in BIN_DIR instead of /usr/bin, each template
# as its instance `main`. Any warning fails. ops/package-test.sh verifies the installed units on a booted container.
#
#   ops/verify-units.sh BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:?usage: ops/verify-units.sh BIN_DIR}" && pwd)
command -v systemd-analyze >/dev/null || { echo "verify-units: needs systemd-analyze (apt-get install systemd)" >&2; exit 1; }
work=$(mktemp -d -t switchyard-units.XXXXXX)
trap 'rm -rf "$work"' EXIT
units=()
for file in ops/systemd/*.service; do
  name=$(basename "$file")
  [[ "$name" == *@.service ]] && name=${name%@.service}@main.service
  sed "s|/usr/bin/switchyard-|$bin/switchyard-|g" "$file" > "$work/$name"
  units+=("$work/$name")
done
output=$(systemd-analyze verify "${units[@]}" 2>&1) || { echo "$output" >&2; exit 1; }
[ -z "$output" ] || { echo "$output" >&2; echo "verify-units: systemd-analyze verify warned" >&2; exit 1; }
echo "verify-units: systemd-analyze verify: ${#units[@]} units clean"
