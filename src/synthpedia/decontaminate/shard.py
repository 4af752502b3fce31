"""Decontaminating one generation shard: the candidate pairs' SequenceMatcher ratio decides.

SequenceMatcher runs only on confirmed candidate pairs, through cydifflib (a
C++ port with identical matching blocks) when installed, else difflib; a
benchmark text found whole in the generation has ratio 1 without it.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from synthpedia.benchsets import load_benchmark
from synthpedia.errors import InputError
from synthpedia.io import write_parquet
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS

from .index import DecontaminationIndex, build_index, candidate_items

log = logging.getLogger(__name__)

try:  # same algorithm and matching blocks as difflib, about 10-25x faster
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover - depends on the environment
    from difflib import SequenceMatcher

SEQUENCE_MATCHER = SequenceMatcher.__module__.split(".")[0]  # "cydifflib" or "difflib", for logs

_HIT_SCHEMA = {
    "prompt_id": pl.String,
    "source": pl.String,
    "benchmark": pl.String,
    "item_id": pl.String,
    "ratio": pl.Float64,
}


def match_ratio(generation: str, benchmark: str, min_block: int) -> float:
    """Sum of SequenceMatcher block sizes > `min_block`, over len(benchmark) (both normalised).

    Shortcut: when the benchmark text occurs whole in the generation, SequenceMatcher's
    first block is that whole text and nothing is left on either side of it, so the
    ratio is exactly 1 (or 0 for a text of `min_block` characters or fewer).
    """
    if not benchmark:
        return 0.0
    if benchmark in generation:
        return 1.0 if len(benchmark) > min_block else 0.0
    blocks = SequenceMatcher(None, generation, benchmark, autojunk=False).get_matching_blocks()
    return sum(size for _, _, size in blocks if size > min_block) / len(benchmark)


def decontaminate_shard(
    df: pl.DataFrame,
    index: DecontaminationIndex,
    *,
    threshold: float,
    min_block: int,
    every_item: bool,
    text_column: str = "text",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a generation shard into (clean rows, hits).

    `df` needs `prompt_id`, `source` and `text_column`. A row is removed when, for
    some benchmark item it shares an n-gram with, the match ratio exceeds
    `threshold`. `clean` keeps the other rows in their order, all columns intact.
    `hits` has CONTAMINATION_HIT_COLUMNS: with `every_item`, one row per (removed
    generation, candidate item over the threshold); without it (the config's
    default), one row per removed generation (its first item over the threshold,
    most shared n-grams first) and SequenceMatcher stops there, which is much
    cheaper when a generation meets many items that share a preamble (MMLU's moral
    scenarios). The same rows are removed either way. Rows come in generation
    order, then item order. Deterministic: nothing depends on PYTHONHASHSEED or
    thread counts.
    """
    for column in ("prompt_id", "source", text_column):
        if column not in df.columns:
            raise InputError(f"decontamination: the generation table has no column '{column}'")
    texts = [t or "" for t in df.get_column(text_column).to_list()]
    removed = np.zeros(len(texts), dtype=bool)
    hit_rows: list[tuple[int, int, float]] = []
    for doc, items, doc_text in candidate_items(texts, index):
        for item in items:
            ratio = match_ratio(doc_text, index.item_text(item), min_block)
            if ratio > threshold:
                removed[doc] = True
                hit_rows.append((doc, item, ratio))
                if not every_item:
                    break
    clean = df.filter(pl.Series(~removed)) if removed.any() else df
    return clean, _hit_table(df, index, hit_rows)


def _hit_table(df: pl.DataFrame, index: DecontaminationIndex, hit_rows: list[tuple[int, int, float]]) -> pl.DataFrame:
    """CONTAMINATION_HIT_COLUMNS rows from (row of `df`, item of `index`, ratio) triples."""
    prompt_ids = df.get_column("prompt_id").cast(pl.String)
    sources = df.get_column("source").cast(pl.String)
    return pl.DataFrame(
        {
            "prompt_id": [prompt_ids[d] for d, _, _ in hit_rows],
            "source": [sources[d] for d, _, _ in hit_rows],
            "benchmark": [index.items[i].benchmark for _, i, _ in hit_rows],
            "item_id": [index.items[i].item_id for _, i, _ in hit_rows],
            "ratio": [r for _, _, r in hit_rows],
        },
        schema=_HIT_SCHEMA,
    ).select(CONTAMINATION_HIT_COLUMNS)


def decontaminate_job(
    *,
    generations: str,
    clean: str,
    removed: str,
    benchmarks: dict[str, dict],
    ngram: int,
    threshold: float,
    min_block: int,
    every_item: bool,
) -> None:
    """The decontaminate rule: drop the generations that match a benchmark item.

    In: the `generations` shard and `benchmarks` {name: spec under config key
    `benchmarks`}, indexed in name order; the `decontamination` settings.
    Out: the `clean` shard (parquet) and the `removed` hit table (parquet,
    CONTAMINATION_HIT_COLUMNS).
    """
    items = [item for name, spec in sorted(benchmarks.items()) for item in load_benchmark({"name": name, **spec})]
    index = build_index(items, ngram)
    df = pl.read_parquet(generations)
    kept, hits = decontaminate_shard(df, index, threshold=threshold, min_block=min_block, every_item=every_item)
    log.info("%d generations, %d removed, %d benchmark items indexed; SequenceMatcher from %s",
             df.height, df.height - kept.height, len(items), SEQUENCE_MATCHER)
    write_parquet(kept, clean)
    write_parquet(hits, removed)
