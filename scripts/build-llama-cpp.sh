#!/usr/bin/env bash
# llama.cpp built once, from the copy vendored in the llama-cpp-python sdist, with the portable CPU
# flags: its shared libraries and llama-server (RUNPATH $ORIGIN), then the Python bindings with no
# build of their own (LLAMA_BUILD=OFF), packed into one wheel whose llama_cpp/lib holds both. The
# bindings load llama_cpp/lib by default; the embedded engine runs the llama-server beside them.
#   bash scripts/build-llama-cpp.sh SDIST CMAKE_ARGS PYTHON WHEELHOUSE   (PYTHON: a venv's, with pip)
set -euo pipefail
sdist="$1"; cmake_args="$2"; wheelhouse="$4"
python="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"  # absolute: CMake runs ninja from its build folder
name="$(basename "$sdist" .tar.gz)"  # llama_cpp_python-X.Y.Z
work="$(mktemp -d "$wheelhouse/.build-XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar xzf "$sdist" -C "$work"
source="$work/$name/vendor/llama.cpp"
# -O1 for the code around the model (argument parsing, chat templates, HTTP, JSON, images): it
# compiles in about a quarter less CPU time (llama-common 382 s -> 291 s, cpp-httplib 39 s -> 27 s),
# and the tokens are computed in ggml and libllama, which keep -O3. The whole build: 1216 s of CPU
# at -O3, about 10 minutes on 2 cores with the bindings' wheel.
cat >> "$source/CMakeLists.txt" <<'CMAKE'
foreach(target llama-common mtmd server-context llama-server-impl llama-server cpp-httplib)
  if(TARGET ${target})
    target_compile_options(${target} PRIVATE -O1)
  endif()
endforeach()
CMAKE
"$python" -m pip install -q ninja wheel
# shellcheck disable=SC2086
cmake -G Ninja -DCMAKE_MAKE_PROGRAM="$(dirname "$python")/ninja" -S "$source" -B "$work/build" \
  -DCMAKE_BUILD_TYPE=Release $cmake_args -DBUILD_SHARED_LIBS=ON -DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON \
  -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH='$ORIGIN' \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >/dev/null
cmake --build "$work/build" --target llama-server mtmd -j"$(nproc)" >/dev/null
CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$python" -m pip wheel -q --no-deps --no-cache-dir \
  -w "$work/bindings" "$sdist"
"$python" -m wheel unpack -d "$work/unpacked" "$work"/bindings/*.whl >/dev/null
lib="$(echo "$work"/unpacked/*/llama_cpp)/lib"
mkdir -p "$lib"
cp "$work"/build/bin/*.so "$work/build/bin/llama-server" "$lib/"
rm -f "$wheelhouse/$name"-*.whl  # an older wheel of the same version would compete with this one
"$python" -m wheel pack --build-number 1 -d "$wheelhouse" "$work"/unpacked/* >/dev/null
ls "$wheelhouse/$name"-1-*.whl
