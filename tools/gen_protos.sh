#!/usr/bin/env bash
# Regenerates gen/ from proto/: messages, gRPC services and typed .pyi stubs (mypy-protobuf).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
out=${1:-gen}
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(pwd)
rm -rf "$out/avatarchat"
protos=$(cd proto && find avatarchat -name '*.proto' | sort)
grpc_include=$("$PY" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
bin=$(dirname "$PY")
(cd proto && "$PY" -m grpc_tools.protoc \
  -I . -I ../third_party/proto -I "$grpc_include" \
  --python_out="$out" --mypy_out="quiet:$out" \
  --grpc_python_out="$out" --mypy_grpc_out="quiet:$out" \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  $protos)
# Packages need __init__.py so mypy and setuptools see them as regular packages.
find "$out/avatarchat" -type d -exec sh -c 'touch "$1/__init__.py"' _ {} \;
