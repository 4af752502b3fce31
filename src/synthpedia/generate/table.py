"""The generation report table: per-shard accounting, a TOTAL row, and the cost of a billion tokens."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import polars as pl

from ..tables import TABLES, empty_table, write_table

# Stats fields added up over the shards in the TOTAL row (gpus: the largest; backend, model: listed).
SUMMED = ("prompts", "completions", "failed", "sent", "resumed", "retried", "prompt_tokens", "completion_tokens",
          "sent_completion_tokens", "wall_seconds", "gpu_seconds")


def shard_row(stats_path: str) -> dict:
    """One row of the table from a shard's stats file, results/generations/{source}/{shard}.stats.json."""
    with open(stats_path, encoding="utf-8") as fh:
        stats = json.load(fh)
    parts = Path(stats_path).parts
    return {
        "source": parts[-2],
        "shard": parts[-1].split(".")[0],
        "backend": stats["backend"],
        "model": stats["model"],
        "failed_by_reason": json.dumps(stats["failed_by_reason"], sort_keys=True),
        "gpus": stats["gpus"],
        **{c: stats[c] for c in SUMMED},
    }


def merged_reasons(cells: Iterable[str]) -> str:
    """Failure counts by reason (JSON cells, as in column failed_by_reason) added up, as JSON."""
    reasons: Counter[str] = Counter()
    for cell in cells:
        reasons.update(json.loads(cell))
    return json.dumps(dict(reasons), sort_keys=True)


def _per(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null where den is not positive (a fully resumed shard sent nothing): never inf."""
    return pl.when(den > 0).then(num / den).otherwise(None)


def generation_table(stats_paths: Sequence[str]) -> pl.DataFrame:
    """Per-shard generation accounting plus a TOTAL row, with GPU-hours per billion tokens.

    `stats_paths`: the shards' stats files. Returns the columns of report table "generation"
    (synthpedia.tables) without the provenance columns; no rows when there are no shards.
    """
    if not stats_paths:
        return empty_table("generation")
    rows = [shard_row(path) for path in stats_paths]
    shards = pl.DataFrame(rows, schema={c: TABLES["generation"][c] for c in rows[0]})
    total = shards.select(
        pl.lit("TOTAL").alias("source"),
        pl.lit("").alias("shard"),
        pl.lit(",".join(sorted(set(shards["backend"])))).alias("backend"),
        pl.lit(",".join(sorted(set(shards["model"])))).alias("model"),
        pl.lit(merged_reasons(shards["failed_by_reason"])).alias("failed_by_reason"),
        pl.col("gpus").max(),
        *[pl.col(c).sum() for c in SUMMED],
    )
    table = pl.concat([shards, total], how="vertical_relaxed")
    sent, wall = pl.col("sent_completion_tokens"), pl.col("wall_seconds")
    return table.with_columns(
        _per(sent, wall).alias("tokens_per_second"),
        _per(sent, pl.col("gpu_seconds")).alias("tokens_per_gpu_second"),
        _per(pl.col("gpu_seconds") / 3600, sent / 1e9).alias("gpu_hours_per_billion_tokens"),
        _per(wall / 3600, sent / 1e9).alias("wall_hours_per_billion_tokens"),
    )


def generation_table_job(*, stats_paths: Sequence[str], out_csv: str, config_hash: str) -> None:
    """Rule generation_table: every shard's stats file -> results/tables/generation.csv (stamped)."""
    write_table(generation_table(stats_paths), "generation", config_hash, out_csv)
