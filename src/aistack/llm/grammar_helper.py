"""The grammar helper process: turns a grammar source into GBNF and has llama.cpp parse it.

Run as `python -m aistack.llm.grammar_helper` (aistack/helpers.py: one JSON line per request and
per answer): `{"grammar": GBNF}` when llama.cpp accepts it, or `{"error": why}`. A grammar that
crashes the parser kills only this process; the gateway answers 400 (aistack.llm.grammars).
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MEMORY_LIMIT = 2 << 30  # a runaway conversion fails with MemoryError instead of swapping the host


class Parser:
    """llama.cpp's own grammar parser, run on a vocabulary-only load of each model file."""

    def __init__(self) -> None:
        import llama_cpp

        self.lib = llama_cpp
        self.vocabs: dict[str, Any] = {}
        self.logged: list[str] = []  # llama.cpp's log lines since the last check, kept from the console

        @llama_cpp.llama_log_callback
        def keep(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if len(self.logged) < 100:
                self.logged.append(text.decode("utf-8", errors="replace"))

        self._keep = keep  # referenced for as long as llama.cpp may call it
        llama_cpp.llama_log_set(keep, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()

    def vocab(self, model_path: str) -> Any:
        if model_path not in self.vocabs:
            params = self.lib.llama_model_default_params()
            params.vocab_only = True
            model = self.lib.llama_model_load_from_file(model_path.encode(), params)
            if not model:
                raise RuntimeError("the model's vocabulary could not be loaded")
            self.vocabs[model_path] = self.lib.llama_model_get_vocab(model)
        return self.vocabs[model_path]

    def check(self, model_path: str, gbnf: str) -> str | None:
        """None when llama.cpp builds the grammar; otherwise its reason."""
        vocab = self.vocab(model_path)
        self.logged.clear()
        with tempfile.TemporaryFile() as said, stderr_to(said.fileno()):
            sampler = self.lib.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
            said.seek(0)
            text = said.read(1 << 16).decode("utf-8", errors="replace")
        if sampler:
            self.lib.llama_sampler_free(sampler)
            return None
        return reason_in(text + "\n" + "".join(self.logged))


@contextmanager
def stderr_to(fd: int) -> Iterator[None]:
    """The parser writes its syntax errors to stderr (fprintf); other refusals go to the log."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def reason_in(text: str) -> str:
    """The parser's reason, without the grammar it echoes after it."""
    for line in text.splitlines():
        if "error parsing grammar: " in line:
            return line.split("error parsing grammar: ", 1)[1].strip()[:300]
        for marker in ("unsupported grammar", "invalid grammar", "grammar does not"):
            if marker in line:
                return line[line.index(marker):].strip()[:300]
    return "llama.cpp could not parse it"


def answer(parser: Parser, request: dict[str, Any]) -> dict[str, str]:
    from aistack.llm.grammars import GrammarSource, to_gbnf

    try:
        gbnf = to_gbnf(GrammarSource(**request["source"]))
    except MemoryError:
        return {"error": "the grammar would be too large to build"}
    except RecursionError:
        return {"error": "the schema nests too deeply to build a grammar"}
    except Exception as exc:  # the converter's own errors name what it does not support
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    reason = parser.check(request["model_path"], gbnf)
    return {"error": reason} if reason else {"grammar": gbnf}


def main() -> None:
    from aistack.helpers import serve

    parser = Parser()
    serve(lambda request: answer(parser, request), MEMORY_LIMIT)


if __name__ == "__main__":
    main()
