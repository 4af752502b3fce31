"""Web extraction quality and speed on real article pages with ground truth.

Data: the public scrapinghub/article-extraction-benchmark repository (MIT
licence): 181 article pages, ``html/<id>.html.gz``, and ``ground-truth.json``
mapping each id to ``{"articleBody": ...}``. The data is not part of this
repository; give its folder on the command line (default /work/aeb).

For every extractor of synthpedia.web.extract.EXTRACTORS (or those named with
--extractors), prints mean token precision, recall and F1 over the pages (a
bag of lower-cased word tokens, as that benchmark scores) and pages per second,
all measured in one run so that the speeds compare. Pages are decoded once,
before timing; the extractors take turns over all pages in each of --repeat
rounds, and each keeps its best round. Speed is pages per second of this
process's CPU time (one core), which a machine busy with other work skews far
less than wall-clock time.

    python benchmarks/extraction.py [/path/to/aeb] [--extractors resiliparse trimmed] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

from synthpedia.web.extract import EXTRACTORS, _decode, html_to_text

_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> Counter:
    return Counter(_TOKEN.findall(text.lower()))


def scores(predicted: str, truth: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the bags of tokens of two texts."""
    got, want = tokens(predicted), tokens(truth)
    common = sum((got & want).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def load_pages(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> HTML, id -> true article text) of the benchmark folder."""
    truth_path = folder / "ground-truth.json"
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        sys.exit(f"benchmarks/extraction: {truth_path} not found (the benchmark folder is the first argument)")
    pages, bodies = {}, {}
    for page_id, record in sorted(truth.items()):
        path = folder / "html" / f"{page_id}.html.gz"
        try:
            pages[page_id] = _decode(gzip.decompress(path.read_bytes()), None)
        except (OSError, EOFError) as err:
            sys.exit(f"benchmarks/extraction: {path}: cannot read: {err}")
        bodies[page_id] = record.get("articleBody") or ""
    return pages, bodies


def measure(extractors: list[str], pages: dict[str, str], bodies: dict[str, str], repeat: int) -> list[dict]:
    """One row of scores and speed per extractor.

    The extractors take turns within each of the `repeat` rounds, so that a
    machine busy with other work slows them alike; each keeps its best round.
    """
    best = dict.fromkeys(extractors, float("inf"))
    texts: dict[str, dict[str, str]] = {}
    for _ in range(repeat):
        for extractor in extractors:
            start = time.process_time()
            texts[extractor] = {page_id: html_to_text(html, extractor) for page_id, html in pages.items()}
            best[extractor] = min(best[extractor], time.process_time() - start)
    rows = []
    for extractor in extractors:
        per_page = [scores(texts[extractor][page_id], bodies[page_id]) for page_id in pages]
        n = len(per_page)
        rows.append(
            {
                "extractor": extractor,
                "precision": sum(p for p, _, _ in per_page) / n,
                "recall": sum(r for _, r, _ in per_page) / n,
                "f1": sum(f for _, _, f in per_page) / n,
                "pages_per_s": n / best[extractor],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="/work/aeb", type=Path)
    parser.add_argument("--extractors", nargs="+", default=list(EXTRACTORS), choices=EXTRACTORS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    pages, bodies = load_pages(args.folder)
    for extractor in args.extractors:  # warm-up: imports and first-call costs are not timed
        html_to_text(next(iter(pages.values())), extractor)
    rows = measure(args.extractors, pages, bodies, args.repeat)
    plain = next((row["pages_per_s"] for row in rows if row["extractor"] == "resiliparse"), None)
    load = os.getloadavg()[0]
    print(f"{len(pages)} pages from {args.folder}; load average {load:.2f} at the end\n")
    print("| extractor | F1 | precision | recall | pages/s (CPU) | speed vs resiliparse |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row['pages_per_s'] / plain:.2f}x" if plain else "n/a"
        print(
            f"| {row['extractor']} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['pages_per_s']:.1f} | {ratio} |"
        )


if __name__ == "__main__":
    main()
