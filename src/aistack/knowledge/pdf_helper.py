"""The PDF helper process: the text of each page, parsed by pypdf away from the gateway.

Run as `python -m aistack.knowledge.pdf_helper` (aistack/helpers.py: one JSON line per request and
per answer). A request names a file; the answer is `{"pages": [text, ...]}` or `{"error": why}`.
Parsing a 20,000-page PDF is a minute of pure Python with millions of objects alive: in the
gateway's process it held the interpreter (and its collector's full passes) long enough to stall
/health for 0.66 s; here it cannot stall anything, and a PDF that crashes or exhausts the parser
kills only this process."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 4 << 30


def pages_of(data: bytes) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return {"error": "encrypted PDF: it needs a password"}
        return {"pages": [page.extract_text() or "" for page in reader.pages]}
    except MemoryError:
        return {"error": "the PDF needs more memory to parse than a helper may take"}
    except RecursionError:
        return {"error": "corrupt or unreadable PDF (its objects nest too deeply)"}
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        return {"error": f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})"[:300]}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    return pages_of(Path(request["path"]).read_bytes())


def main() -> None:
    from aistack.helpers import serve

    serve(answer, MEMORY_LIMIT)


if __name__ == "__main__":
    main()
