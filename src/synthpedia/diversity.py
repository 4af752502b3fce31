"""Diversity of the dataset's text, per source, style and audience: counted per shard, merged exactly.

The rows are the dataset shards (results/curated/{source}/{shard}.parquet:
after decontamination and MinHash dedup), so the figures describe what a user
of the dataset gets; the embedding near-duplicates are those MinHash missed.

The original's blog judged diversity by eye: stories that all open with "Once
upon a time", near-copies across audiences. These figures make that a table:

- openings: the first five words of each text (lowercased, punctuation
  dropped); the share of the group's texts that open with one of its 20 most
  common openings, and those openings;
- distinct-n (n = 1, 2, 3): distinct word n-grams / all word n-grams;
- lengths: whitespace words and the model's completion tokens;
- the embedding near-duplicate rate: on a seeded sample of at most
  `near_duplicate_sample` texts per group, the share whose all-MiniLM-L6-v2
  embedding has a cosine above `near_duplicate_threshold` with another text of
  the sample.

Each shard job (`diversity_shard`) writes mergeable partial counts: opening
counts, n-gram hashes with their counts, length counts, and its bottom-k of
texts by a seeded hash of the prompt id. The merge (`diversity_table`) sums the
counts, takes the union of the n-gram hashes and the bottom-k of the bottom-k
samples, which is exactly what one pass over the whole corpus gives: the same
rows are sampled wherever the shard boundaries fall.

Memory. A shard's partials hold at most its distinct n-grams (8-byte hashes)
per group, a few thousand length values, and k texts per group; the merge holds
the union of distinct n-grams per group and k embeddings per group, searched in
blocks of `BLOCK` rows so the similarity matrix stays k x BLOCK. At this
project's scale the exact n-gram union is small. At paper scale (25B tokens)
the distinct trigrams of one large group run to billions: that is where the
exact hash sets should give way to a fixed-size mergeable sketch
(HyperLogLog registers merged by element-wise max, a few KiB per group and n),
with a known relative error in distinct-n; openings, lengths and the
near-duplicate sample stay exact and bounded as they are.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Sequence

import numpy as np
import polars as pl

from .ids import stable_hash
from .io import read_parquets, write_parquet
from .tables import empty_table, write_table

GROUP = ("source", "style", "audience")
OPENING_WORDS = 5
TOP_OPENINGS = 20
SHOWN_OPENINGS = 5  # openings listed in the table, most common first
NGRAMS = (1, 2, 3)
BLOCK = 512  # rows per block of the near-duplicate search

_WORD = re.compile(r"\w+")
KINDS = ("opening", "words", "tokens", *(f"ngram{n}" for n in NGRAMS))

COUNT_SCHEMA = {
    "source": pl.String,
    "style": pl.String,
    "audience": pl.String,
    "kind": pl.String,  # documents | opening | words | tokens | ngram1 | ngram2 | ngram3
    "key": pl.String,  # the opening (kind opening)
    "value": pl.UInt64,  # the length (words, tokens) or the n-gram hash (ngram<n>)
    "count": pl.Int64,
}
SAMPLE_SCHEMA = {"source": pl.String, "style": pl.String, "audience": pl.String, "prompt_id": pl.String,
                 "sample_key": pl.String, "text": pl.String}


def words(text: str) -> list[str]:
    """Lowercased word tokens (punctuation dropped)."""
    return _WORD.findall(text.lower())


def ngram_hashes(tokens: Sequence[str], n: int) -> list[int]:
    """64-bit hashes of the word n-grams of `tokens`, stable across runs and machines."""
    import xxhash

    sep = "\x1f"
    return [xxhash.xxh3_64_intdigest(sep.join(tokens[i:i + n]).encode("utf-8")) for i in range(len(tokens) - n + 1)]


def sample_key(seed: int, prompt_id: str) -> str:
    """The seeded rank of a row in the near-duplicate sample (smallest first)."""
    return stable_hash(seed, "near_duplicate_sample", prompt_id)


def bottom_k(rows: pl.DataFrame, key: str, k: int) -> pl.DataFrame:
    """The `k` rows of each group with the smallest `key` (ties broken by prompt_id), sorted."""
    ordered = rows.sort([*GROUP, key, "prompt_id"])
    return ordered.filter(pl.int_range(pl.len()).over(GROUP) < k)


def shard_partials(rows: pl.DataFrame, seed: int, sample_size: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mergeable counts and the near-duplicate sample of one shard's rows.

    In: rows with GROUP, prompt_id, text and completion_tokens. Out: the count
    frame (COUNT_SCHEMA) and the shard's bottom-`sample_size` rows per group by
    `sample_key` (SAMPLE_SCHEMA).
    """
    groups: dict[tuple, dict[str, list]] = {}
    for row in rows.select(*GROUP, "text", "completion_tokens").iter_rows(named=True):
        tokens = words(row["text"])
        acc = groups.setdefault(tuple(row[c] for c in GROUP), {kind: [] for kind in KINDS})
        acc["opening"].append(" ".join(tokens[:OPENING_WORDS]))  # first five words, lowercased
        acc["words"].append(len(row["text"].split()))
        acc["tokens"].append(int(row["completion_tokens"] or 0))
        for n in NGRAMS:
            acc[f"ngram{n}"].extend(ngram_hashes(tokens, n))
    frames = []
    for group, acc in groups.items():
        openings = Counter(acc["opening"])
        parts = [
            pl.DataFrame({"kind": ["documents"], "count": [len(acc["opening"])]}),
            pl.DataFrame({"kind": "opening", "key": list(openings), "count": list(openings.values())}),
        ]
        for kind in KINDS[1:]:
            values, counts = np.unique(np.asarray(acc[kind], dtype=np.uint64), return_counts=True)
            parts.append(pl.DataFrame({"kind": kind, "value": values, "count": counts.astype(np.int64)}))
        keys = [pl.lit(v, dtype=pl.String).alias(c) for c, v in zip(GROUP, group)]
        frames += [part.with_columns(keys) for part in parts]
    count_frame = (
        pl.concat(frames, how="diagonal").select(list(COUNT_SCHEMA)).cast(COUNT_SCHEMA)
        if frames
        else pl.DataFrame(schema=COUNT_SCHEMA)
    )
    keyed = rows.select(*GROUP, "prompt_id", "text").with_columns(
        pl.col("prompt_id").map_elements(lambda p: sample_key(seed, p), return_dtype=pl.String).alias("sample_key")
    )
    sample = bottom_k(keyed, "sample_key", sample_size).select(list(SAMPLE_SCHEMA))
    return count_frame.sort(["source", "style", "audience", "kind", "key", "value"]), sample


def merge_counts(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Shard count frames summed into one (the same frame one pass over all rows gives)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=COUNT_SCHEMA)
    merged = pl.concat(frames).group_by(["source", "style", "audience", "kind", "key", "value"]).agg(
        pl.col("count").sum()
    )
    return merged.sort(["source", "style", "audience", "kind", "key", "value"])


def merge_samples(frames: Sequence[pl.DataFrame], sample_size: int) -> pl.DataFrame:
    """The bottom-`sample_size` rows per group of the shards' samples: one pass's sample."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=SAMPLE_SCHEMA)
    return bottom_k(pl.concat(frames), "sample_key", sample_size)


def _quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The `q` quantile (lower) of values repeated by weights."""
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def near_duplicate_flags(embeddings: np.ndarray, threshold: float, block: int = BLOCK) -> np.ndarray:
    """For each row, whether another row's cosine similarity with it exceeds `threshold`.

    Rows are L2-normalised here; the search runs in blocks of `block` rows, so
    memory stays len(embeddings) x block floats.
    """
    if len(embeddings) < 2:
        return np.zeros(len(embeddings), dtype=bool)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    flags = np.zeros(len(unit), dtype=bool)
    for start in range(0, len(unit), block):
        sims = unit[start:start + block] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -1.0  # a text is no duplicate of itself
        flags[start:start + block] = (sims > threshold).any(axis=1)
    return flags


def diversity_table(counts: pl.DataFrame, near_duplicates: pl.DataFrame | None = None) -> pl.DataFrame:
    """Report table "diversity" from merged counts, one row per source, style and audience.

    `near_duplicates`: GROUP, near_duplicate_sample, near_duplicates (absent groups get zeros).
    """
    if not counts.height:
        return empty_table("diversity")
    rows = []
    for group, part in counts.partition_by(list(GROUP), as_dict=True, maintain_order=True).items():
        by_kind = part.partition_by("kind", as_dict=True)
        docs = int(by_kind[("documents",)]["count"].sum())
        openings = by_kind[("opening",)].sort(["count", "key"], descending=[True, False])
        row = dict(zip(GROUP, group))
        row["documents"] = docs
        row["top20_opening_share"] = float(openings["count"].head(TOP_OPENINGS).sum()) / docs
        row["top_openings"] = json.dumps(
            [[k, c] for k, c in openings.head(SHOWN_OPENINGS).select("key", "count").iter_rows()], ensure_ascii=False
        )
        for n in NGRAMS:
            grams = by_kind.get((f"ngram{n}",))
            total = int(grams["count"].sum()) if grams is not None else 0
            row[f"distinct_{n}"] = grams.height / total if total else None
        for kind in ("words", "tokens"):
            lengths = by_kind[(kind,)]
            values = lengths["value"].to_numpy().astype(np.float64)
            weights = lengths["count"].to_numpy().astype(np.float64)
            row[f"{kind}_mean"] = float((values * weights).sum() / weights.sum())
            row[f"{kind}_p50"] = _quantile(values, weights, 0.5)
            row[f"{kind}_p90"] = _quantile(values, weights, 0.9)
        rows.append(row)
    table = pl.DataFrame(rows)
    nd = near_duplicates if near_duplicates is not None and near_duplicates.height else pl.DataFrame(
        schema={**{c: pl.String for c in GROUP}, "near_duplicate_sample": pl.Int64, "near_duplicates": pl.Int64}
    )
    table = table.join(nd, on=list(GROUP), how="left").with_columns(
        pl.col("near_duplicate_sample").fill_null(0), pl.col("near_duplicates").fill_null(0)
    )
    table = table.with_columns(
        pl.when(pl.col("near_duplicate_sample") > 0)
        .then(pl.col("near_duplicates") / pl.col("near_duplicate_sample"))
        .otherwise(None)
        .alias("near_duplicate_rate")
    )
    return table.select(list(empty_table("diversity").columns)).sort(list(GROUP))


def near_duplicates(sample: pl.DataFrame, embed, threshold: float) -> pl.DataFrame:
    """Per group of the merged sample: rows sampled and rows with a near-duplicate in the sample.

    `embed`: texts -> array of embeddings (one row per text); not called for a
    group of one text, which has no pair to compare.
    """
    rows = []
    for group, part in sample.partition_by(list(GROUP), as_dict=True, maintain_order=True).items():
        flags = (near_duplicate_flags(np.asarray(embed(part["text"].to_list()), dtype=np.float32), threshold)
                 if part.height > 1 else np.zeros(part.height, dtype=bool))
        rows.append({**dict(zip(GROUP, group)), "near_duplicate_sample": part.height,
                     "near_duplicates": int(flags.sum())})
    schema = {**{c: pl.String for c in GROUP}, "near_duplicate_sample": pl.Int64, "near_duplicates": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def minilm_embedder(threads: int, batch_size: int = 64):
    """texts -> normalised all-MiniLM-L6-v2 embeddings (the bundled model, loaded at the first call)."""
    from .web.embed import embed, load_embedder

    model = []

    def embed_texts(texts):
        if not model:
            model.append(load_embedder(threads))
        return embed(texts, model[0], batch_size)

    return embed_texts


def plot_diversity(table: pl.DataFrame, out_png: str) -> None:
    """Four panels per group: top-20 opening share, distinct-n, near-duplicate rate, length (words)."""
    from .report.plots import diversity_figure

    diversity_figure(table, out_png)


def diversity_shard_job(
    *, rows: str, out_counts: str, out_sample: str, out_examples: str, seed: int, sample_size: int,
    examples_per_group: int,
) -> None:
    """The diversity_shard rule: one dataset shard -> its partial counts, its near-duplicate sample
    and its sample-generation candidates (see `synthpedia.report.samples`)."""
    from .report.samples import SAMPLE_COLUMNS, shard_samples

    shard = pl.read_parquet(rows, columns=list(dict.fromkeys([*SAMPLE_COLUMNS, "text", "completion_tokens"])))
    counts, sample = shard_partials(shard, seed, sample_size)
    write_parquet(counts, out_counts)
    write_parquet(sample, out_sample)
    write_parquet(shard_samples(shard, seed, examples_per_group), out_examples)


def diversity_table_job(
    *,
    counts: Sequence[str],
    samples: Sequence[str],
    out_table: str,
    out_figure: str,
    sample_size: int,
    threshold: float,
    threads: int,
    config_hash: str,
) -> None:
    """The diversity_table rule: the shards' partials merged -> report table "diversity" and its figure."""
    merged = merge_counts([pl.read_parquet(p) for p in counts])
    sample = merge_samples([read_parquets([p]) for p in samples], sample_size)
    nd = near_duplicates(sample, minilm_embedder(threads), threshold) if sample.height else None
    table = write_table(diversity_table(merged, nd), "diversity", config_hash, out_table)
    plot_diversity(table, out_figure)
