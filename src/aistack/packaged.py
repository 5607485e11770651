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
