#!/usr/bin/env bash
# Builds what a VM installs: release binaries with the Swift standard library and Foundation linked in
# (--static-swift-stdlib: no toolchain on the VM), stripped, and a .deb holding them with systemd units, example
# settings in /etc/switchyard and the switchyard system user (made by the package's postinst).
#
#   ops/package.sh [--out DIR] [--skip-build | --binaries BIN_DIR]
#
# Writes DIR/switchyard_VERSION_ARCH.deb (default DIR: dist), DIR/bin/ (the stripped binaries) and DIR/sizes.tsv
# (binary sizes). --binaries packs the binaries of another build (CI's debug build, for ops/package-test.sh) into a
# test package: it needs the Swift runtime libraries where that build found them, so it installs only on the build
# machine or a copy of it, and it is compressed fast (gzip -1) rather than small. VERSION is SWITCHYARD_VERSION, or
# 0.1.0~gitDATE.COMMIT from the checked-out commit. The package's Depends come from dpkg-shlibdeps: OpenBLAS and
# oneDNN for inference, libpng for the pipeline stages, glibc.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist
build=true
binaries=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --skip-build) build=false; shift ;;
    --binaries) binaries=$(cd "${2:?--binaries needs a directory}" && pwd); build=false; shift 2 ;;
    *) echo "usage: ops/package.sh [--out DIR] [--skip-build | --binaries BIN_DIR]" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null || {
  echo "package: dpkg-deb and dpkg-shlibdeps are needed (apt-get install dpkg-dev)" >&2; exit 1; }

products=(switchyard-router switchyard-preprocess switchyard-inference switchyard-postprocess switchyard-monitor
  switchyard-echo yard)
flags=(-c release --static-swift-stdlib)
if $build; then
  for product in "${products[@]}"; do
    swift build "${flags[@]}" --product "$product"
  done
fi
bin=${binaries:-$(swift build "${flags[@]}" --show-bin-path)}
arch=$(dpkg --print-architecture)
if [ -n "${SWITCHYARD_VERSION:-}" ]; then
  version=$SWITCHYARD_VERSION
else
  version="0.1.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$(git rev-parse --short=8 HEAD)"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d -t switchyard-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"

# binaries: stripped; none may need the toolchain's runtime libraries
mkdir -p "$out/bin"
for product in "${products[@]}"; do
  install -D -m 0755 "$bin/$product" "$root/usr/bin/$product"
  strip --strip-unneeded "$root/usr/bin/$product"
  toolchain='libswift|libFoundation|libdispatch|libBlocksRuntime|'
  [ -z "$binaries" ] || toolchain=''  # a test package may need them
  if ldd "$root/usr/bin/$product" | grep -E "${toolchain}not found"; then
    echo "package: $product still needs the libraries above" >&2
    exit 1
  fi
  cp "$root/usr/bin/$product" "$out/bin/$product"
done

# units, settings (conffiles), documentation, the bundled example model and the certificate script
install -d "$root/lib/systemd/system"
install -m 0644 ops/systemd/*.service "$root/lib/systemd/system/"
install -d "$root/etc/switchyard"
install -m 0644 ops/etc/*.yaml "$root/etc/switchyard/"
install -m 0644 ops/monitor/alerts.yaml "$root/etc/switchyard/alerts.yaml"
install -d "$root/usr/share/doc/switchyard" "$root/usr/share/switchyard/examples"
install -m 0644 README.md "$root/usr/share/doc/switchyard/README.md"
install -m 0644 ops/RELEASES.md "$root/usr/share/doc/switchyard/RELEASES.md"
install -m 0755 ops/certs/make-certs.sh "$root/usr/share/switchyard/make-certs.sh"
cp -r models "$root/usr/share/switchyard/examples/models"
find "$root/usr/share/switchyard/examples/models" -name profile.json -delete

# Depends from the binaries' shared libraries (dpkg-shlibdeps wants a debian/control to read)
mkdir -p "$work/src/debian"
printf 'Source: switchyard\n\nPackage: switchyard\nArchitecture: any\n' > "$work/src/debian/control"
# (a test package's Swift runtime libraries belong to no Debian package: not a dependency)
shlibdeps=(dpkg-shlibdeps -O)
[ -z "$binaries" ] || shlibdeps+=(--ignore-missing-info)
depends=$(cd "$work/src" && "${shlibdeps[@]}" "$root"/usr/bin/* 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" -e "s/@SIZE@/$size/" \
  ops/deb/control.in > "$root/DEBIAN/control"
install -m 0755 ops/deb/postinst ops/deb/prerm ops/deb/postrm "$root/DEBIAN/"
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"

deb="$out/switchyard_${version}_${arch}.deb"
rm -f "$out"/switchyard_*.deb
compression=(-Zxz)
[ -z "$binaries" ] || compression=(-Zgzip -z1)
dpkg-deb --root-owner-group "${compression[@]}" --build "$root" "$deb" >/dev/null
{
  printf 'binary\tbytes\n'
  for product in "${products[@]}"; do printf '%s\t%s\n' "$product" "$(stat -c %s "$out/bin/$product")"; done
  printf '%s\t%s\n' "$(basename "$deb")" "$(stat -c %s "$deb")"
} > "$out/sizes.tsv"
column -t "$out/sizes.tsv"
echo "package: $deb (Depends: adduser, $depends)"
