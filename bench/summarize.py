"""Summarize: seconds per 10,000 words with the embedded model, beside LangChain's map_reduce.

Both run the same model (SmolLM2-135M-Instruct via xllamacpp, n_ctx 4096, the configured
threads unless --threads) over the same English prose: the licence texts under
/usr/share/common-licenses when present, else the standard library's docstrings, or --file;
the first --words words. tooldeck's ``SummarizeChain`` plans its own chunks; langchain-classic's
``load_summarize_chain(chain_type="map_reduce")`` is given the same chunks as Documents (it
does not split) and counts tokens with the same estimate (its default ``get_num_tokens``
downloads GPT-2's tokenizer), with its default ``token_max`` and the model's ``max_tokens``.
The table shows wall seconds, model calls, seconds per 10k words and the ratio to LangChain.

    python bench/summarize.py [--words 10000] [--threads 1] [--skip-langchain] [--file PATH]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from tooldeck.chains.summarize import SummarizeChain, estimate_tokens
from tooldeck.config import ModelConfig
from tooldeck.models import get_chat_model

_LICENCES = Path("/usr/share/common-licenses")


class CallCounter(BaseCallbackHandler):
    """Counts chat model calls."""

    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1


def prose(words: int, path: str | None) -> str:
    """The first ``words`` words of the chosen text, paragraphs kept."""
    if path:
        texts = [Path(path).read_text("utf-8", errors="replace")]
    elif _LICENCES.is_dir():
        files = sorted(p for p in _LICENCES.iterdir() if p.is_file() and not p.is_symlink())
        texts = [p.read_text("utf-8", errors="replace") for p in files]
    else:
        import email
        import json
        import logging

        texts = [inspect.getdoc(m) or "" for m in (argparse, email, json, logging, inspect)]
    paragraphs = [p.strip() for t in texts for p in t.split("\n\n") if p.strip()]
    out: list[str] = []
    count = 0
    while count < words:
        for paragraph in paragraphs:
            taken = paragraph.split()[: words - count]
            out.append(" ".join(taken))
            count += len(taken)
            if count >= words:
                break
    return "\n\n".join(out)


def run_ours(model: Any, text: str) -> tuple[float, int, str]:
    counter = CallCounter()
    chain = SummarizeChain(model)
    started = time.perf_counter()
    summary = chain.invoke(text, config={"callbacks": [counter]})
    return time.perf_counter() - started, counter.calls, summary


def run_langchain(model: Any, chunks: list[str]) -> tuple[float, int, str]:
    from langchain_classic.chains.summarize import load_summarize_chain
    from langchain_core.documents import Document

    counted = model.model_copy(
        update={"custom_get_token_ids": lambda text: [0] * estimate_tokens(text)}
    )
    chain = load_summarize_chain(counted, chain_type="map_reduce")
    counter = CallCounter()
    started = time.perf_counter()
    result = chain.invoke(
        {"input_documents": [Document(page_content=c) for c in chunks]},
        config={"callbacks": [counter]},
    )
    return time.perf_counter() - started, counter.calls, str(result["output_text"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=ModelConfig().n_threads)
    parser.add_argument("--file", default=None)
    parser.add_argument("--skip-langchain", action="store_true")
    args = parser.parse_args()

    text = prose(args.words, args.file)
    model = get_chat_model(ModelConfig(n_threads=args.threads), Path(tempfile.gettempdir()))
    model.invoke("Hi", max_tokens=1)  # load the model outside the timings
    chunks = SummarizeChain(model).split(text)
    print(f"{len(text.split()):,} words, {len(text):,} characters, {len(chunks)} chunks; "
          f"SmolLM2-135M, n_ctx 4096, {args.threads} thread(s)", flush=True)

    rows = [("tooldeck SummarizeChain", *run_ours(model, text))]
    print(f"  tooldeck: {rows[0][1]:.1f} s, {rows[0][2]} calls", flush=True)
    if not args.skip_langchain:
        try:
            rows.append(("langchain map_reduce", *run_langchain(model, chunks)))
        except ImportError as exc:
            print(f"  langchain-classic not available ({exc}); pip install 'tooldeck[bench]'")
    per = 10_000 / max(1, len(text.split()))
    base = rows[-1][1] if len(rows) > 1 else None
    print(f"\n{'run':<26}{'seconds':>10}{'calls':>7}{'s / 10k words':>15}{'ratio':>8}")
    for name, seconds, calls, _ in rows:
        ratio = f"{seconds / base:.2f}" if base else "-"
        print(f"{name:<26}{seconds:>10.1f}{calls:>7}{seconds * per:>15.1f}{ratio:>8}")
    for name, _, _, summary in rows:
        print(f"\n{name} summary ({len(summary.split())} words):\n{summary[:600]}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
