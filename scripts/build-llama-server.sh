#!/usr/bin/env bash
# Builds llama.cpp's own llama-server from the llama.cpp that the llama-cpp-python sdist vendors,
# with the same portable CPU flags as the Python bindings, once (kept under the wheelhouse).
# For benchmarks/batching_candidates.py (issue 21's choice of engine); serving does not use it yet.
#   bash scripts/build-llama-server.sh SDIST CMAKE_ARGS   -> prints the binary's path
set -euo pipefail
sdist="$1"; cmake_args="$2"
version="$(basename "$sdist" .tar.gz)"
root="$(dirname "$sdist")/llama-server-${version#llama_cpp_python-}"
binary="$root/build/bin/llama-server"
if [ ! -x "$binary" ]; then
  rm -rf "$root" && mkdir -p "$root"
  tar xzf "$sdist" -C "$root"
  echo "Building llama-server from $(basename "$sdist") (about 5 minutes on 2 cores, once)..." >&2
  # shellcheck disable=SC2086
  cmake -S "$root/$version/vendor/llama.cpp" -B "$root/build" -DCMAKE_BUILD_TYPE=Release $cmake_args \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF >/dev/null
  cmake --build "$root/build" --target llama-server -j"$(nproc)" >/dev/null
fi
echo "$binary"
