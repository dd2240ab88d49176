#!/usr/bin/env bash
# Build llama.cpp's OpenAI-compatible server (llama-server) from source, CPU only, for
# benchmarks/server_users.py. The only download is the llama-cpp-python sdist from PyPI, which
# vendors the llama.cpp source; needs pip, cmake (>= 3.14), a C++17 compiler and ~15 min on 2 cores.
#
#   bash benchmarks/build_llama_server.sh                 # -> benchmarks/.llama/llama-server
#   bash benchmarks/build_llama_server.sh /opt/bin/llama-server
#
# Does nothing if the destination already exists (delete it to rebuild).
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${1:-$HERE/.llama/llama-server}"

fail() { echo "build_llama_server.sh: $*" >&2; exit 1; }

if [[ -e "$DEST" ]]; then
    echo "$DEST exists: nothing to build (delete it to rebuild)."
    exit 0
fi

PIP="${PIP:-}"
if [[ -z "$PIP" ]]; then
    if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then PIP="python3 -m pip"
    elif command -v pip >/dev/null; then PIP="pip"
    else fail "pip not found (set PIP=... or activate a virtual environment)."; fi
fi
command -v cmake >/dev/null || fail "cmake not found (apt-get install cmake, or pip install cmake)."
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null \
    || fail "no C++ compiler found (apt-get install build-essential)."

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
trap 'fail "interrupted"' INT TERM

echo "Downloading the llama-cpp-python $VERSION sdist from PyPI into $WORK ..."
$PIP download --no-binary llama-cpp-python --only-binary cmake,ninja --no-deps -d "$WORK" "llama-cpp-python==$VERSION" \
    || fail "pip download of llama-cpp-python==$VERSION failed (no network to PyPI?)."
SDIST="$(ls "$WORK"/llama_cpp_python-"$VERSION".tar.gz "$WORK"/llama-cpp-python-"$VERSION".tar.gz 2>/dev/null | head -n1 || true)"
[[ -n "$SDIST" ]] || fail "the sdist was not found in $WORK after the download: $(ls "$WORK")"
tar -xzf "$SDIST" -C "$WORK" || fail "could not unpack $SDIST"
SRC="$(find "$WORK" -maxdepth 4 -type d -path '*/vendor/llama.cpp' | head -n1)"
[[ -n "$SRC" && -f "$SRC/CMakeLists.txt" ]] || fail "no vendor/llama.cpp source in $SDIST"

echo "Configuring $SRC ..."
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    || fail "cmake configure failed (see the messages above)."
JOBS="$(nproc 2>/dev/null || echo 2)"
echo "Building llama-server with $JOBS jobs (about 15 min on 2 cores) ..."
cmake --build "$SRC/build" --config Release --target llama-server -j"$JOBS" \
    || fail "the build failed (see the compiler messages above)."

BIN="$SRC/build/bin/llama-server"
[[ -x "$BIN" ]] || fail "the build finished but $BIN is missing."
mkdir -p "$(dirname "$DEST")"
cp "$BIN" "$DEST.tmp" && mv "$DEST.tmp" "$DEST" || fail "could not copy $BIN to $DEST"
"$DEST" --version >/dev/null 2>&1 || fail "$DEST does not run (try $DEST --version)."
echo "Built $DEST"
