#!/usr/bin/env bash
# Regenerates Sources/SwitchyardONNX/onnx-ml.pb.swift from the ONNX schema kept beside this script.
#
# The schema is `onnx-ml.proto` copied from the `onnx` PyPI wheel (see ONNX_VERSION below); refresh it
# with `--refresh` when the wheel is installed. Needs Debian's `protobuf-compiler` and the
# `protoc-gen-swift` plugin of the swift-protobuf version that Package.swift resolves.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ONNX_VERSION="1.23.2"

if [[ "${1:-}" == "--refresh" ]]; then
    wheel="$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')"
    cp "$wheel/onnx-ml.proto" "$here/onnx-ml.proto"
    echo "copied onnx-ml.proto from onnx $(python3 -c 'import onnx; print(onnx.__version__)')"
fi

plugin="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$plugin" ]]; then
    # Build the plugin from the checkout SwiftPM already resolved for this package.
    checkout="$(ls -d "$root"/.build*/checkouts/swift-protobuf 2>/dev/null | head -n 1)"
    if [[ -z "$checkout" ]]; then
        echo "no swift-protobuf checkout: run 'swift package resolve' first or set PROTOC_GEN_SWIFT" >&2
        exit 1
    fi
    swift build --package-path "$checkout" --scratch-path "${TMPDIR:-/tmp}/switchyard-protoc-gen-swift" \
        -c release --product protoc-gen-swift >&2
    plugin="${TMPDIR:-/tmp}/switchyard-protoc-gen-swift/release/protoc-gen-swift"
fi

protoc --plugin=protoc-gen-swift="$plugin" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=DropPath \
    --swift_opt=UseAccessLevelOnImports=true \
    --swift_out="$root/Sources/SwitchyardONNX" \
    -I "$here" "$here/onnx-ml.proto"
echo "wrote Sources/SwitchyardONNX/onnx-ml.pb.swift (schema of onnx $ONNX_VERSION)"
