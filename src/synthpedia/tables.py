"""Every table the workflow writes: its columns and their types, in one place, and one writer.

Data shards (prompts, generations, clean and dataset shards) carry the
provenance columns; a stage adds columns to the rows it receives and never
renames them, so every final row still names its prompt, template, seed and
source. Report tables (``results/tables/*``) are written by `write_table`,
which checks the columns, casts them to the declared types and stamps
``config_hash`` and ``version`` on every row: parquet for the pipeline,
CSV for people and the report.
"""

from __future__ import annotations

import os

import polars as pl

from . import __version__
from .io import write_csv, write_parquet

# results/seeds/{source}.parquet: these plus the source's own fields.
SEED_COLUMNS = ("seed_id", "source")

# results/prompts/{source}/{shard}.parquet
PROMPT_COLUMNS = (
    "prompt_id",  # hash of source, seed_id, template, audience, variant
    "source",
    "seed_id",
    "template",  # template file, relative to templates/, e.g. "openstax/textbook.j2"
    "style",
    "audience",
    "variant",  # e.g. "plain" / "with_extract"
    "prompt",
)

# results/generations/{source}/{shard}.parquet (and the clean / dataset shards after it)
GENERATION_COLUMNS = PROMPT_COLUMNS + (
    "request_key",  # hash(prompt, model, sampling, seed): the ledger key
    "model",
    "backend",
    "sampling",  # JSON of the sampling parameters
    "gen_seed",
    "completion",  # raw model output
    "text",  # completion with stock openers removed: what curation and training see
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "seconds",
)
GENERATION_INT_COLUMNS = ("gen_seed", "prompt_tokens", "completion_tokens")

# results/generations/{source}/{shard}.failed.parquet
FAILED_COLUMNS = GENERATION_COLUMNS + ("reason",)

# results/clean/{source}/{shard}.removed.parquet: one row per (generation, benchmark item) hit
CONTAMINATION_HIT_COLUMNS = ("prompt_id", "source", "benchmark", "item_id", "ratio")

# results/tables/dedup_removed.parquet: one row per removed near-duplicate
DEDUP_REMOVED_COLUMNS = ("prompt_id", "source", "duplicate_of", "duplicate_of_source")

PROVENANCE = {"config_hash": pl.String, "version": pl.String}

# Report tables: name -> column -> type (provenance columns added by the writer).
TABLES: dict[str, dict[str, pl.DataType]] = {
    "prompt_mix": {
        "source": pl.String,
        "style": pl.String,
        "audience": pl.String,
        "prompts": pl.Int64,
        "share": pl.Float64,
    },
    "generation": {
        "source": pl.String,
        "shard": pl.String,
        "backend": pl.String,
        "model": pl.String,
        "prompts": pl.Int64,
        "completions": pl.Int64,
        "failed": pl.Int64,
        "failed_by_reason": pl.String,  # JSON: reason -> count
        "sent": pl.Int64,
        "resumed": pl.Int64,
        "retried": pl.Int64,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "sent_completion_tokens": pl.Int64,
        "wall_seconds": pl.Float64,
        "gpus": pl.Int64,
        "gpu_seconds": pl.Float64,
        "tokens_per_second": pl.Float64,
        "tokens_per_gpu_second": pl.Float64,
        "gpu_hours_per_billion_tokens": pl.Float64,
        "wall_hours_per_billion_tokens": pl.Float64,
    },
    "web_filters": {
        "filter": pl.String,
        "documents_in": pl.Int64,
        "dropped": pl.Int64,
        "kept": pl.Int64,
        "reasons": pl.String,  # JSON: reason -> count
    },
    "web_topics": {
        "cluster": pl.Int64,
        "size": pl.Int64,
        "topic": pl.String,
        "educational_score": pl.Int64,
        "kept": pl.Boolean,
        "why_dropped": pl.String,
        "style": pl.String,
    },
    "contamination": {
        "group": pl.String,
        "benchmark": pl.String,
        "samples_removed": pl.Int64,
        "unique_benchmark_items": pl.Int64,
    },
    "dedup_removed": {column: pl.String for column in DEDUP_REMOVED_COLUMNS},
    "dedup": {
        "source": pl.String,
        "documents_in": pl.Int64,
        "removed": pl.Int64,
        "kept": pl.Int64,
    },
    # results/tables/plan.csv: the pre-flight plan (synthpedia.plan), one row per source and TOTAL
    "plan": {
        "source": pl.String,
        "basis": pl.String,
        "seeds": pl.Int64,
        "prompts": pl.Int64,
        "shards": pl.Int64,
        "prompt_tokens": pl.Int64,
        "completion_tokens": pl.Int64,
        "gpu_hours": pl.Float64,
        "disk_prompts_mb": pl.Float64,
        "disk_generations_mb": pl.Float64,
        "disk_clean_mb": pl.Float64,
        "disk_dataset_mb": pl.Float64,
        "disk_tokens_mb": pl.Float64,
    },
    "loss": {
        "step": pl.Int64,
        "loss": pl.Float64,
        "lr": pl.Float64,
        "tokens": pl.Int64,
        "seconds": pl.Float64,
    },
    "eval": {
        "run": pl.String,
        "task": pl.String,
        "num_fewshot": pl.Int64,  # examples before each query (0: zero-shot)
        "metric": pl.String,
        "value": pl.Float64,
        "stderr": pl.Float64,
        "chance": pl.Float64,  # a uniform guess's accuracy; null for generative tasks
        # The task's benchmark in the decontamination (the table "contamination" over all its groups):
        # generations removed and distinct benchmark items hit; null when it was not decontaminated against.
        "samples_removed": pl.Int64,
        "unique_benchmark_items": pl.Int64,
    },
    "diversity": {
        "source": pl.String,
        "style": pl.String,
        "audience": pl.String,
        "documents": pl.Int64,
        "top20_opening_share": pl.Float64,  # texts opening with one of the group's 20 commonest first-5-word openings
        "top_openings": pl.String,  # JSON: [[opening, count], ...], most common first
        "distinct_1": pl.Float64,
        "distinct_2": pl.Float64,
        "distinct_3": pl.Float64,
        "words_mean": pl.Float64,
        "words_p50": pl.Float64,
        "words_p90": pl.Float64,
        "tokens_mean": pl.Float64,  # the model's completion tokens
        "tokens_p50": pl.Float64,
        "tokens_p90": pl.Float64,
        "near_duplicate_sample": pl.Int64,
        "near_duplicates": pl.Int64,
        "near_duplicate_rate": pl.Float64,
    },
    "samples": {
        "source": pl.String,
        "style": pl.String,
        "audience": pl.String,
        "prompt_id": pl.String,
        "seed_id": pl.String,
        "template": pl.String,
        "request_key": pl.String,
        "prompt": pl.String,
        "text": pl.String,
        "completion_tokens": pl.Int64,
    },
    "removed_documents": {
        "benchmark": pl.String,
        "item_id": pl.String,
        "ratio": pl.Float64,
        "source": pl.String,
        "prompt_id": pl.String,
        "seed_id": pl.String,
        "template": pl.String,
        "request_key": pl.String,
        "text": pl.String,  # the removed generation, cut for the report
    },
}


def table_columns(name: str) -> tuple[str, ...]:
    """The columns of report table `name`, provenance included, in file order."""
    return (*TABLES[name], *PROVENANCE)


def empty_table(name: str) -> pl.DataFrame:
    """An empty frame with report table `name`'s columns (provenance excluded)."""
    return pl.DataFrame(schema=TABLES[name])


def stamp_table(df: pl.DataFrame, name: str, config_hash: str) -> pl.DataFrame:
    """`df` checked against table `name`, cast to its types, with config_hash and version added.

    Raises ValueError naming the table and the columns that are missing or unknown.
    """
    schema = TABLES[name]
    given = [c for c in df.columns if c not in PROVENANCE]
    missing = [c for c in schema if c not in given]
    extra = [c for c in given if c not in schema]
    if missing or extra:
        raise ValueError(f"table {name}: missing columns {missing}, unknown columns {extra}")
    return df.select([pl.col(c).cast(t) for c, t in schema.items()]).with_columns(
        pl.lit(config_hash, dtype=pl.String).alias("config_hash"),
        pl.lit(__version__, dtype=pl.String).alias("version"),
    )


def write_table(df: pl.DataFrame, name: str, config_hash: str, *paths: str | os.PathLike) -> pl.DataFrame:
    """Write report table `name` (stamped, see `stamp_table`) to each path: .parquet or .csv by suffix.

    Returns the stamped frame.
    """
    stamped = stamp_table(df, name, config_hash)
    for path in paths:
        if str(path).endswith(".parquet"):
            write_parquet(stamped, path)
        elif str(path).endswith(".csv"):
            write_csv(stamped, path)
        else:
            raise ValueError(f"table {name}: {path} is neither .parquet nor .csv")
    return stamped
