"""Job entry points of the curation rules: decontaminate, dedup, tokenizer, tokenize.

Each takes the paths a rule gives it and calls the stage's module; outputs are
written atomically, so a failed job leaves nothing half-written.
"""

from __future__ import annotations

import logging
from typing import Sequence

import polars as pl

from .benchsets import load_benchmark
from .io import read_parquets, write_csv, write_parquet

log = logging.getLogger(__name__)


def decontaminate_job(
    generations_path: str, clean_path: str, removed_path: str, params: dict, benchmarks: dict[str, dict]
) -> None:
    """Drop generations that match a benchmark item (the original's 10-gram + SequenceMatcher rule)."""
    from .decontaminate import build_index, decontaminate_shard

    items = [item for name, spec in sorted(benchmarks.items()) for item in load_benchmark({"name": name, **spec})]
    index = build_index(items, ngram=params["ngram"])
    df = pl.read_parquet(generations_path)
    clean, hits = decontaminate_shard(df, index, threshold=params["threshold"], min_block=params["min_block"])
    log.info("%d generations, %d removed, %d benchmark items indexed", df.height, df.height - clean.height, len(items))
    write_parquet(clean, clean_path)
    write_parquet(hits, removed_path)


def contamination_table_job(removed_paths: Sequence[str], out_csv: str, params: dict, config_hash: str) -> None:
    from .decontaminate import contamination_table

    hits = read_parquets(removed_paths)
    write_csv(contamination_table(hits, params["groups"], list(params["benchmarks"]), config_hash), out_csv)


def dedup_job(
    inputs: Sequence[str],
    outputs: Sequence[str],
    table_path: str,
    removed_path: str,
    params: dict,
    workdir: str,
    config_hash: str,
    workers: int = 1,
) -> None:
    """MinHash near-duplicate removal across all sources (datatrove)."""
    from .dedup import dedup_shards

    table = dedup_shards(list(inputs), list(outputs), {**params, "workers": workers}, workdir, config_hash,
                         removed_path=removed_path)
    log.info("dedup:\n%s", table)
    write_csv(table, table_path)


def tokenizer_job(dataset_paths: Sequence[str], out_path: str, params: dict) -> None:
    """Train the byte-level BPE on the whole dataset (no hub download)."""
    from .tokens import train_tokenizer

    texts = read_parquets(dataset_paths)
    corpus = texts.sort("prompt_id")["text"].to_list() if texts.height else []
    train_tokenizer(corpus, params["vocab_size"], out_path, min_frequency=params["min_frequency"])


def tokenize_job(dataset_paths: Sequence[str], tokenizer_path: str, out_dir: str, stats_path: str, workdir: str) -> None:
    """One source's dataset shards -> one folder of datatrove/nanotron token files."""
    from .tokens import tokenize_shards

    tokenize_shards(list(dataset_paths), out_dir, tokenizer_path, workdir, stats_path=stats_path)
