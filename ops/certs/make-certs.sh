#!/usr/bin/env bash
# Makes a development CA and certificates for Switchyard services and clients with the openssl CLI.
#
#   ops/certs/make-certs.sh OUT_DIR [NAME[:ROLE][@host,host...] ...]
#
# Each NAME gets OUT_DIR/NAME.pem and OUT_DIR/NAME.key, signed by OUT_DIR/ca.pem (made once, kept if present).
# Subject alt names: localhost, 127.0.0.1, ::1, NAME, plus any hosts after '@'.
# A ROLE is what the services' authorization policy lets the certificate do; it goes in as the subject's OU and as
# the URI SAN spiffe://switchyard/ROLE. Roles: admin, readonly, app, router, preprocess, inference, postprocess,
# monitor, reporter (reports to the monitor, nothing else). Without ':ROLE', a NAME that is a role (optionally
# followed by -N, e.g. inference-2) gets that role, 'client' gets app and 'echo' reporter; any other NAME gets none
# (it may still call every service's health).
# Default names: router preprocess inference postprocess monitor echo client ops:admin readonly.
# Keys are for development only; never commit them.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR [NAME[:ROLE][@host,...] ...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(router preprocess inference postprocess monitor echo client ops:admin readonly)
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/O=Switchyard Dev/CN=Switchyard Dev CA" -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
fi
for spec in "${names[@]}"; do
  hosts=""
  case "$spec" in *@*) hosts=${spec#*@}; spec=${spec%%@*} ;; esac
  name=${spec%%:*}
  role=""
  case "$spec" in
    *:*) role=${spec#*:} ;;
    *)
      base=$(sed -E 's/-[0-9]+$//' <<< "$name")
      case "$base" in
        admin | readonly | app | router | preprocess | inference | postprocess | monitor | reporter) role=$base ;;
        client) role=app ;;
        echo) role=reporter ;;
      esac
      ;;
  esac
  [[ -z "$role" || "$role" =~ ^[a-z0-9._-]+$ ]] || { echo "make-certs.sh: role '$role' must be a-z, 0-9, . _ -" >&2; exit 2; }
  san="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:$name${role:+,URI:spiffe://switchyard/$role}"
  IFS=',' read -ra extra <<< "$hosts"
  for h in "${extra[@]}"; do
    [ -n "$h" ] || continue
    if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
  done
  subject="/O=Switchyard Dev${role:+/OU=$role}/CN=$name"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' "$san" > "$out/$name.ext"
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -days 825 \
    -extfile "$out/$name.ext" -out "$out/$name.pem" 2>/dev/null
  rm -f "$out/$name.csr" "$out/$name.ext"
done
# certificates are public (services running as another user read them); keys stay private to the owner
chmod 0644 "$out"/*.pem
echo "certificates in $out: ca.pem and ${names[*]}"
