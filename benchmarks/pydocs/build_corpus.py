"""Build the Python-documentation corpus from Debian's `python3.11-doc` (the PSF's own docs, which
nobody here wrote; licence in LICENSE.md): 62 pages of the library reference, the HOWTOs and the
tutorial, as Markdown (from the HTML, by html2text), plain text (the pages' reStructuredText
sources) and PDF (the HTML printed by headless chromium), so every loader is exercised.

    apt-get install python3.11-doc chromium
    pip install html2text==2025.4.15      # for this script only; aistack does not depend on it
    python benchmarks/pydocs/build_corpus.py

The corpus is committed (benchmarks/pydocs/corpus), so tests and benchmarks need none of this.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path("/usr/share/doc/python3.11/html")
OUT = Path(__file__).resolve().parent / "corpus"
# page -> format; the giant pages (os, stdtypes, typing, multiprocessing, ...) are left out
PAGES = {
    "library/argparse": "md", "library/pathlib": "md", "library/os.path": "txt", "library/shutil": "md",
    "library/subprocess": "md", "library/json": "md", "library/csv": "txt", "library/re": "md",
    "library/collections": "md", "library/itertools": "txt", "library/functools": "md", "library/logging": "md",
    "library/asyncio-task": "md", "library/concurrent.futures": "txt", "library/threading": "md",
    "library/sqlite3": "md", "library/dataclasses": "txt", "library/enum": "md", "library/urllib.request": "md",
    "library/http.server": "pdf", "library/venv": "md", "library/zipfile": "txt", "library/tarfile": "md",
    "library/tempfile": "md", "library/hashlib": "txt", "library/secrets": "pdf", "library/random": "md",
    "library/statistics": "md", "library/heapq": "pdf", "library/bisect": "txt", "library/copy": "md",
    "library/pickle": "md", "library/string": "txt", "library/textwrap": "md", "library/time": "md",
    "library/timeit": "pdf", "library/contextlib": "md", "library/traceback": "txt", "library/warnings": "md",
    "library/socket": "txt", "library/uuid": "md", "library/base64": "txt", "library/glob": "md",
    "library/configparser": "md", "library/signal": "txt", "library/queue": "md", "library/struct": "md",
    "library/io": "txt", "library/getpass": "pdf", "library/pdb": "md", "library/sys": "txt",
    "library/functions": "md", "howto/sorting": "md", "howto/logging": "txt", "howto/regex": "md",
    "howto/descriptor": "md", "howto/unicode": "txt", "howto/ipaddress": "pdf", "tutorial/venv": "md",
    "tutorial/errors": "md", "tutorial/inputoutput": "txt", "tutorial/classes": "md",
}


def main_content(html: str) -> str:
    """The page body, without Sphinx's navigation bars and sidebar."""
    start = html.index('<div class="body" role="main">')
    return html[start:html.index('<div class="sphinxsidebar"', start)]


def markdown(page: str) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping
    converter.ignore_images = True
    converter.ignore_links = True
    return converter.handle(main_content((DOCS / f"{page}.html").read_text(encoding="utf-8")))


def pdf(page: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                        "--no-pdf-header-footer", f"--print-to-pdf={target}", (DOCS / f"{page}.html").as_uri()],
                       check=True, capture_output=True, timeout=120)


def main() -> None:
    if not DOCS.is_dir():
        sys.exit(f"{DOCS} is missing: apt-get install python3.11-doc")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    for page, kind in PAGES.items():
        target = OUT / f"{page.replace('/', '-')}.{kind}"
        if kind == "md":
            target.write_text(markdown(page), encoding="utf-8")
        elif kind == "txt":
            target.write_text((DOCS / "_sources" / f"{page}.rst.txt").read_text(encoding="utf-8"), encoding="utf-8")
        else:
            pdf(page, target)
        print(f"{target.name}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
