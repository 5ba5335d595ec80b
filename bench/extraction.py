"""Main-text extraction quality: tooldeck's page reader beside the libraries it was chosen among.

Run: .venv/bin/python bench/extraction.py HTML_DIR GROUND_TRUTH.json [--json]

``HTML_DIR`` holds ``<id>.html.gz`` (or ``<id>.html``) pages and ``GROUND_TRUTH.json`` maps each
id to ``{"articleBody": text, "url": page url}`` (the layout of scrapinghub's
article-extraction-benchmark, e.g. ``/work/shared/data/article_extraction``). tooldeck's row is
:func:`tooldeck.tools.extract.read_html` on the page's bytes: the code a fetched page goes
through in ``web_fetch``. Every other row gets the same decoded text (so only extraction
differs) and is measured in the same run. Prints a Markdown table of F1, precision, recall and
milliseconds per page; ``--json`` runs tooldeck only and prints one object
``{"f1": ..., "precision": ..., "recall": ...}``.

Scoring (the benchmark's rule): each text is split into ``\\w+`` words, all runs of 4 words
(shingles) are counted with multiplicity (a text of 1 to 3 words is one shingle, as the
benchmark's ``evaluate.py`` does), and per page tp / fp / fn are divided by their sum.
Precision and recall per page are 1.0 when fp = fn = 0 and 0.0 when tp = 0, then averaged over
all pages; F1 comes from the mean precision and mean recall. (The benchmark's script leaves a
page out of the precision mean when nothing was extracted; here it counts as 0, as the data's
SOURCE.md says. The two agree whenever every page yields some text.)
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["extractors", "main", "page_counts", "page_scores", "score", "shingles"]

_WORD = re.compile(r"\w+")
_SHINGLE = 4

Extractor = Callable[[bytes, str], str]
"""(page bytes, page URL) -> extracted text."""


def shingles(text: str, n: int = _SHINGLE) -> Counter[tuple[str, ...]]:
    """The runs of ``n`` consecutive ``\\w+`` words of ``text``, counted (fewer words: one run)."""
    words = _WORD.findall(text or "")
    return Counter(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)) if words)


def page_counts(true: str, pred: str) -> tuple[float, float, float]:
    """One page's (tp, fp, fn) over shingles, divided by their sum (all 0 when both are empty)."""
    truth, found = shingles(true), shingles(pred)
    tp = sum((truth & found).values())
    fp = sum((found - truth).values())
    fn = sum((truth - found).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def page_scores(tp: float, fp: float, fn: float) -> tuple[float, float]:
    """One page's (precision, recall): 1.0 each when fp = fn = 0, 0.0 each when tp = 0."""
    if fp == 0 and fn == 0:
        return 1.0, 1.0
    if tp == 0:
        return 0.0, 0.0
    return tp / (tp + fp), tp / (tp + fn)


def score(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """F1, precision and recall over (true text, extracted text) pairs, one pair per page."""
    scores = [page_scores(*page_counts(true, pred)) for true, pred in pairs]
    if not scores:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision = sum(p for p, _ in scores) / len(scores)
    recall = sum(r for _, r in scores) / len(scores)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def load_pages(html_dir: Path, truth: Mapping[str, Any]) -> dict[str, bytes]:
    """Each ground-truth id's page bytes (``<id>.html.gz`` or ``<id>.html``)."""
    pages = {}
    for key in truth:
        packed = html_dir / f"{key}.html.gz"
        pages[key] = gzip.decompress(packed.read_bytes()) if packed.exists() else (
            html_dir / f"{key}.html"
        ).read_bytes()
    return pages


def _decoded(fn: Callable[[str], str | None]) -> Extractor:
    from tooldeck.tools.extract import decode_body

    return lambda raw, _url: fn(decode_body(raw, "text/html", html=True)) or ""


def _trafilatura(**settings: Any) -> Extractor:
    import trafilatura

    return _decoded(lambda html: trafilatura.extract(html, **settings))


def _library_rows() -> dict[str, Extractor]:
    import trafilatura

    rows = {
        "trafilatura 2.3.1 default: extract(html)": _trafilatura(),
        "trafilatura, include_comments=False (the benchmark's runner)": _trafilatura(
            include_comments=False
        ),
        "trafilatura, favor_precision": _trafilatura(include_comments=False, favor_precision=True),
        "trafilatura, favor_recall": _trafilatura(include_comments=False, favor_recall=True),
        "trafilatura, fast (no fallback extractors)": _trafilatura(
            include_comments=False, fast=True
        ),
        "trafilatura baseline()": _decoded(lambda html: trafilatura.baseline(html)[1]),
    }
    if importlib.util.find_spec("justext") is not None:
        rows["jusText (English stop list)"] = _decoded(_justext)
    if importlib.util.find_spec("bs4") is not None:
        rows["BeautifulSoup get_text() (whole page)"] = _decoded(_soup)
    rows["lxml text_content() (whole page, script/style dropped)"] = _decoded(_lxml_text)
    return rows


def _justext(html: str) -> str:
    import justext  # type: ignore[import-untyped]

    paragraphs = justext.justext(html.encode("utf-8"), justext.get_stoplist("English"))
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def _soup(html: str) -> str:
    from bs4 import BeautifulSoup  # type: ignore[import-not-found,unused-ignore]

    return str(BeautifulSoup(html, "lxml").get_text())


def _lxml_text(html: str) -> str:
    """All text of the page, as BeautifulSoup's get_text() gives it (no script/style/template)."""
    import lxml.html  # type: ignore[import-untyped]
    from lxml import etree

    tree = lxml.html.fromstring(html.encode("utf-8"))
    etree.strip_elements(tree, "script", "style", "template", with_tail=False)
    return str(tree.text_content())


def extractors(tooldeck_only: bool = False) -> dict[str, Extractor]:
    """The rows of the table: tooldeck first, then each library compared (if installed)."""
    from tooldeck.tools.extract import read_html

    rows: dict[str, Extractor] = {
        "**tooldeck** (tools/extract.py: trafilatura favor_precision + fallbacks)": (
            lambda raw, url: read_html(raw, "text/html", url).text
        )
    }
    return rows if tooldeck_only else rows | _library_rows()


def _measure(
    extract: Extractor, pages: Mapping[str, bytes], truth: Mapping[str, Any]
) -> dict[str, float]:
    first = next(iter(pages), None)
    if first is not None:  # warm up (imports, compiled expressions) outside the timing
        extract(pages[first], str(truth[first].get("url", "")))
    outputs, started = {}, time.perf_counter()
    for key, raw in pages.items():
        outputs[key] = extract(raw, str(truth[key].get("url", "")))
    elapsed = time.perf_counter() - started
    result = score((str(truth[k].get("articleBody", "")), outputs[k]) for k in pages)
    result["ms_per_page"] = 1000 * elapsed / max(1, len(pages))
    result["empty"] = sum(1 for text in outputs.values() if not text.strip())
    return result


def main(argv: list[str] | None = None) -> int:
    """Score every extractor on one folder and print the table (or tooldeck's JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("ground_truth", type=Path)
    parser.add_argument("--json", action="store_true", help="tooldeck only, one JSON object")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the libraries log every page they discard
    truth = json.loads(args.ground_truth.read_text(encoding="utf-8"))
    pages = load_pages(args.html_dir, truth)
    rows = extractors(tooldeck_only=args.json)
    if args.json:
        result = _measure(next(iter(rows.values())), pages, truth)
        print(json.dumps({k: round(result[k], 4) for k in ("f1", "precision", "recall")}))
        return 0
    print(f"{len(pages)} pages from {args.html_dir}\n")
    print("| extractor | F1 | precision | recall | ms/page | empty |")
    print("|---|---|---|---|---|---|")
    for name, extract in rows.items():
        r = _measure(extract, pages, truth)
        print(f"| {name} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
              f"| {r['ms_per_page']:.0f} | {r['empty']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
