"""Sample generations: a seeded sample per source, style and audience, with the ids that trace each one.

Drawn per shard and merged like the diversity sample: each shard keeps its
`per_group` rows of smallest seeded hash of the prompt id per group, and the
merge keeps the `per_group` smallest of those, which is the sample one pass over
all dataset rows gives.
"""

from __future__ import annotations

import html
from typing import Sequence

import polars as pl

from ..diversity import GROUP, bottom_k
from ..ids import stable_hash
from ..io import read_parquets
from ..tables import TABLES, write_table
from .html import table_html, write_page

SAMPLE_COLUMNS = tuple(TABLES["samples"])


def sample_rank(seed: int, prompt_id: str) -> str:
    """The seeded rank of a dataset row among the sample generations (smallest first)."""
    return stable_hash(seed, "sample_generations", prompt_id)


def shard_samples(rows: pl.DataFrame, seed: int, per_group: int) -> pl.DataFrame:
    """One shard's candidates: its `per_group` lowest-ranked rows per group, with the rank."""
    keyed = rows.select(SAMPLE_COLUMNS).with_columns(
        pl.col("prompt_id").map_elements(lambda p: sample_rank(seed, p), return_dtype=pl.String).alias("rank")
    )
    return bottom_k(keyed, "rank", per_group)


def merge_samples(frames: Sequence[pl.DataFrame], per_group: int) -> pl.DataFrame:
    """The `per_group` lowest-ranked rows per group over all shards' candidates (rank dropped)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=TABLES["samples"])
    return bottom_k(pl.concat(frames), "rank", per_group).drop("rank")


def sample_html(row: dict) -> str:
    """One sample: its ids in a row, the prompt folded, the text unfolded."""
    ids = table_html(pl.DataFrame([row]), ["prompt_id", "seed_id", "template", "request_key", "completion_tokens"])
    return (f"{ids}<details><summary>prompt</summary><pre>{html.escape(row['prompt'])}</pre></details>"
            f"<details open><summary>text</summary><pre>{html.escape(row['text'])}</pre></details>")


def samples_page(samples: pl.DataFrame, out_html: str, config_hash: str) -> None:
    """The report page: per source, style and audience, each sample's ids, prompt and text."""
    sections = [
        (" · ".join(group), "".join(sample_html(row) for row in part.iter_rows(named=True)))
        for group, part in samples.partition_by(list(GROUP), as_dict=True, maintain_order=True).items()
    ]
    note = (f"A seeded sample of the dataset's rows per source, style and audience (config {config_hash}). "
            "The ids trace each row to its seed, template and request; click 'prompt' to unfold the prompt.")
    write_page(out_html, "Sample generations", sections or [("", "<p>No generations in this run.</p>")], note)


def samples_job(*, candidates: Sequence[str], out_table: str, out_html: str, per_group: int,
                config_hash: str) -> None:
    """The samples rule: the shards' candidates -> report table "samples" and its page."""
    samples = merge_samples([read_parquets([p]) for p in candidates], per_group)
    stamped = write_table(samples, "samples", config_hash, out_table)
    samples_page(stamped, out_html, config_hash)
