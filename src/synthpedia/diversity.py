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
counts, n-gram totals and distinct n-gram hashes, length counts, and its
bottom-k of texts by a seeded hash of the prompt id. The merge
(`diversity_table`) sums the counts, merges the distinct hashes and takes the
bottom-k of the bottom-k samples, which is exactly what one pass over the whole
corpus gives: the same rows are sampled wherever the shard boundaries fall.

Distinct n-grams. Per group and n, the word n-grams' 64-bit hashes are kept
exactly while there are at most 2^p of them (p: `report.distinct_ngram_precision`)
and, beyond that, as a HyperLogLog sketch: 2^p one-byte registers, register
i holding the largest rank (leading zeros + 1 of the hash's low 64 - p bits)
among the hashes whose top p bits are i. Sketches merge by element-wise
maximum, and an exact set that grows past 2^p hashes turns into the sketch of
its hashes, so merged partials equal one pass bit for bit, in any shard order.
The distinct count is read from the registers with Ertl's estimator ("New
cardinality estimation algorithms for HyperLogLog sketches", 2017: no bias
tables, unbiased from small to huge counts); its relative standard error is
about 1.04 / sqrt(2^p): 0.8% at p = 14, where a sketch takes 16 KiB.

Memory. A shard job holds, per group and n, at most 2^p hashes or one sketch
(plus a flush buffer of `SKETCH_BUFFER` hashes), a few thousand length values
and k texts per group; the merge holds the same per group and n, and k
embeddings per group, searched in blocks of `BLOCK` rows so the similarity
matrix stays k x BLOCK. Openings and lengths stay exact counts (a row per
distinct opening or length).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from .errors import InputError
from .ids import stable_hash
from .io import read_parquets, write_parquet
from .tables import empty_table, write_table

GROUP = ("source", "style", "audience")
OPENING_WORDS = 5
TOP_OPENINGS = 20
SHOWN_OPENINGS = 5  # openings listed in the table, most common first
NGRAMS = (1, 2, 3)
BLOCK = 512  # rows per block of the near-duplicate search

SKETCH_BUFFER = 1 << 16  # hashes gathered before they update a sketch's registers

_WORD = re.compile(r"\w+")
SUMMED_KINDS = ("documents", "opening", "words", "tokens", *(f"ngram{n}" for n in NGRAMS))

COUNT_SCHEMA = {
    "source": pl.String,
    "style": pl.String,
    "audience": pl.String,
    # documents | opening | words | tokens | ngram<n>: counts, summed by the merge;
    # ngram<n>_hashes | ngram<n>_sketch: the distinct n-grams, exact or sketched (DistinctHashes)
    "kind": pl.String,
    "key": pl.String,  # the opening (kind opening)
    # the length (words, tokens), the n-gram hash (ngram<n>_hashes) or the precision (ngram<n>_sketch)
    "value": pl.UInt64,
    "count": pl.Int64,  # texts (documents, opening, words, tokens), all n-grams (ngram<n>), 1 (hashes)
    "registers": pl.Binary,  # the sketch's 2^p registers, one byte each (ngram<n>_sketch)
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


def _bit_length(values: np.ndarray) -> np.ndarray:
    """Bits needed for each uint64 (0 for 0), exactly (a float log2 rounds above 2^53)."""
    x = values.copy()
    bits = np.zeros(x.shape, dtype=np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = x >= np.uint64(1 << shift)
        bits[big] += shift
        x[big] >>= np.uint64(shift)
    return bits + (x > 0)


def sketch_registers(hashes: np.ndarray, precision: int, registers: np.ndarray | None = None) -> np.ndarray:
    """The HyperLogLog registers (2^precision uint8) of 64-bit `hashes`, raised into `registers` if given."""
    if registers is None:
        registers = np.zeros(1 << precision, dtype=np.uint8)
    h = np.asarray(hashes, dtype=np.uint64)
    low_bits = 64 - precision
    index = (h >> np.uint64(low_bits)).astype(np.intp)
    rank = low_bits + 1 - _bit_length(h & np.uint64((1 << low_bits) - 1))
    np.maximum.at(registers, index, rank.astype(np.uint8))
    return registers


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old, z = z, z + x * y
        y += y
        if z == z_old:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        y *= 0.5
        z_old, z = z, z - (1.0 - x) ** 2 * y
        if z == z_old:
            return z / 3


def sketch_estimate(registers: np.ndarray) -> float:
    """Distinct hashes estimated from HyperLogLog registers (Ertl 2017, improved raw estimator)."""
    m = len(registers)
    low_bits = 64 - (m.bit_length() - 1)
    counts = np.bincount(registers, minlength=low_bits + 2).astype(np.float64)
    if counts[0] == m:
        return 0.0
    z = m * _tau(1.0 - counts[low_bits + 1] / m)
    for k in range(low_bits, 0, -1):
        z = 0.5 * (z + counts[k])
    z += m * _sigma(counts[0] / m)
    return m * m / (2 * math.log(2) * z)


class DistinctHashes:
    """The distinct 64-bit hashes of one group and n: the exact set while it holds at most
    2^precision of them, the HyperLogLog registers beyond (see the module docstring)."""

    def __init__(self, precision: int):
        self.precision = precision
        self.exact: set[int] | None = set()
        self.registers: np.ndarray | None = None
        self._buffer: list[int] = []

    def add(self, hashes: Sequence[int]) -> None:
        if self.exact is not None:
            self.exact.update(hashes)
            if len(self.exact) > 1 << self.precision:
                self._to_sketch()
        else:
            self._buffer.extend(hashes)
            if len(self._buffer) >= SKETCH_BUFFER:
                self._flush()

    def add_registers(self, registers: np.ndarray) -> None:
        """Merge another sketch of the same precision (element-wise maximum)."""
        if self.exact is not None:
            self._to_sketch()
        np.maximum(self.registers, registers, out=self.registers)

    def _to_sketch(self) -> None:
        hashes = np.fromiter(self.exact, dtype=np.uint64, count=len(self.exact))
        self.registers, self.exact = sketch_registers(hashes, self.precision), None

    def _flush(self) -> None:
        if self._buffer:
            sketch_registers(np.asarray(self._buffer, dtype=np.uint64), self.precision, self.registers)
            self._buffer = []

    def distinct(self) -> float:
        """The exact count, or the sketch's estimate."""
        if self.exact is not None:
            return float(len(self.exact))
        self._flush()
        return sketch_estimate(self.registers)

    def frame(self, kind: str) -> pl.DataFrame:
        """Count-frame rows: `<kind>_hashes` (one per hash, sorted) or one `<kind>_sketch`."""
        if self.exact is not None:
            if not self.exact:
                return pl.DataFrame(schema={"kind": pl.String, "value": pl.UInt64, "count": pl.Int64})
            values = np.sort(np.fromiter(self.exact, dtype=np.uint64, count=len(self.exact)))
            return pl.DataFrame({"kind": f"{kind}_hashes", "value": values, "count": 1})
        self._flush()
        return pl.DataFrame({"kind": [f"{kind}_sketch"], "value": [self.precision],
                             "registers": [self.registers.tobytes()]})


def sample_key(seed: int, prompt_id: str) -> str:
    """The seeded rank of a row in the near-duplicate sample (smallest first)."""
    return stable_hash(seed, "near_duplicate_sample", prompt_id)


def bottom_k(rows: pl.DataFrame, key: str, k: int) -> pl.DataFrame:
    """The `k` rows of each group with the smallest `key` (ties broken by prompt_id), sorted."""
    ordered = rows.sort([*GROUP, key, "prompt_id"])
    return ordered.filter(pl.int_range(pl.len()).over(GROUP) < k)


def _count_frame(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Count-frame parts (GROUP columns set) as one frame of COUNT_SCHEMA in its canonical order."""
    parts = [pl.DataFrame(schema=COUNT_SCHEMA), *(p.cast({c: COUNT_SCHEMA[c] for c in p.columns}) for p in parts)]
    frame = pl.concat(parts, how="diagonal").select(list(COUNT_SCHEMA))
    return frame.sort(["source", "style", "audience", "kind", "key", "value"])


def _with_group(frame: pl.DataFrame, group: tuple) -> pl.DataFrame:
    return frame.with_columns([pl.lit(v, dtype=pl.String).alias(c) for c, v in zip(GROUP, group)])


def shard_partials(
    rows: pl.DataFrame, seed: int, sample_size: int, precision: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Mergeable counts and the near-duplicate sample of one shard's rows.

    In: rows with GROUP, prompt_id, text and completion_tokens; `precision`: the
    sketch's p (config `report.distinct_ngram_precision`). Out: the count frame
    (COUNT_SCHEMA) and the shard's bottom-`sample_size` rows per group by
    `sample_key` (SAMPLE_SCHEMA).
    """
    groups: dict[tuple, dict] = {}
    for row in rows.select(*GROUP, "text", "completion_tokens").iter_rows(named=True):
        tokens = words(row["text"])
        acc = groups.setdefault(tuple(row[c] for c in GROUP), {
            "opening": [], "words": [], "tokens": [], "ngrams": dict.fromkeys(NGRAMS, 0),
            "distinct": {n: DistinctHashes(precision) for n in NGRAMS},
        })
        acc["opening"].append(" ".join(tokens[:OPENING_WORDS]))  # first five words, lowercased
        acc["words"].append(len(row["text"].split()))
        acc["tokens"].append(int(row["completion_tokens"] or 0))
        for n in NGRAMS:
            hashes = ngram_hashes(tokens, n)
            acc["ngrams"][n] += len(hashes)
            acc["distinct"][n].add(hashes)
    parts = []
    for group, acc in groups.items():
        openings = Counter(acc["opening"])
        group_parts = [
            pl.DataFrame({"kind": ["documents"], "count": [len(acc["opening"])]}),
            pl.DataFrame({"kind": "opening", "key": list(openings), "count": list(openings.values())}),
        ]
        for kind in ("words", "tokens"):
            values, counts = np.unique(np.asarray(acc[kind], dtype=np.uint64), return_counts=True)
            group_parts.append(pl.DataFrame({"kind": kind, "value": values, "count": counts.astype(np.int64)}))
        for n in NGRAMS:
            group_parts.append(pl.DataFrame({"kind": [f"ngram{n}"], "count": [acc["ngrams"][n]]}))
            group_parts.append(acc["distinct"][n].frame(f"ngram{n}"))
        parts += [_with_group(part, group) for part in group_parts]
    keyed = rows.select(*GROUP, "prompt_id", "text").with_columns(
        pl.col("prompt_id").map_elements(lambda p: sample_key(seed, p), return_dtype=pl.String).alias("sample_key")
    )
    sample = bottom_k(keyed, "sample_key", sample_size).select(list(SAMPLE_SCHEMA))
    return _count_frame(parts), sample


def merge_counts(frames: Iterable[pl.DataFrame], precision: int) -> pl.DataFrame:
    """Shard count frames merged into one: the same frame one pass over all rows gives.

    Counts are summed, distinct hashes merged (DistinctHashes); `frames` are read one at a time, so
    a generator of frames keeps only the running merge in memory. Raises InputError for a sketch of
    another precision than `precision`.
    """
    summed: list[pl.DataFrame] = []
    distinct: dict[tuple, DistinctHashes] = {}
    for frame in frames:
        summed.append(frame.filter(pl.col("kind").is_in(SUMMED_KINDS)))
        if sum(f.height for f in summed) > SKETCH_BUFFER:
            summed = [_sum_counts(summed)]
        for (kind, *group), part in frame.filter(~pl.col("kind").is_in(SUMMED_KINDS)).partition_by(
            ["kind", *GROUP], as_dict=True
        ).items():
            base, form = kind.rsplit("_", 1)
            state = distinct.setdefault((*group, base), DistinctHashes(precision))
            if form == "hashes":
                state.add(part["value"].to_list())
            else:
                for p, registers in part.select("value", "registers").iter_rows():
                    if p != precision:
                        raise InputError(f"diversity: {'/'.join(group)} {base}: a sketch of precision {p}, "
                                         f"report.distinct_ngram_precision is {precision}")
                    state.add_registers(np.frombuffer(registers, dtype=np.uint8))
    parts = [_sum_counts(summed)] if summed else []
    parts += [_with_group(state.frame(key[-1]), key[:-1]) for key, state in distinct.items()]
    return _count_frame(parts)


def _sum_counts(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames).group_by(["source", "style", "audience", "kind", "key", "value"]).agg(
        pl.col("count").sum(), pl.col("registers").first()
    ).select(list(COUNT_SCHEMA))


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


def _distinct(by_kind: dict, kind: str) -> float:
    """A group's distinct n-grams: its exact hashes, or its sketch's estimate."""
    if (f"{kind}_hashes",) in by_kind:
        return float(by_kind[(f"{kind}_hashes",)].height)
    if (f"{kind}_sketch",) in by_kind:
        return sketch_estimate(np.frombuffer(by_kind[(f"{kind}_sketch",)]["registers"][0], dtype=np.uint8))
    return 0.0


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
            total = int(by_kind[(f"ngram{n}",)]["count"].sum())
            row[f"distinct_{n}"] = min(_distinct(by_kind, f"ngram{n}"), total) / total if total else None
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
    examples_per_group: int, precision: int,
) -> None:
    """The diversity_shard rule: one dataset shard -> its partial counts, its near-duplicate sample
    and its sample-generation candidates (see `synthpedia.report.samples`)."""
    from .report.samples import SAMPLE_COLUMNS, shard_samples

    shard = pl.read_parquet(rows, columns=list(dict.fromkeys([*SAMPLE_COLUMNS, "text", "completion_tokens"])))
    counts, sample = shard_partials(shard, seed, sample_size, precision)
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
    precision: int,
    threads: int,
    config_hash: str,
) -> None:
    """The diversity_table rule: the shards' partials merged -> report table "diversity" and its figure."""
    merged = merge_counts((pl.read_parquet(p) for p in counts), precision)  # one shard's partials at a time
    sample = merge_samples([read_parquets([p]) for p in samples], sample_size)
    nd = near_duplicates(sample, minilm_embedder(threads), threshold) if sample.height else None
    table = write_table(diversity_table(merged, nd), "diversity", config_hash, out_table)
    plot_diversity(table, out_figure)
