"""Provenance from a benchmark back to the generations it removed: item, ratio, seed, template, request.

Each decontamination hit (results/clean/{source}/{shard}.removed.parquet) names
the removed generation's prompt id, the benchmark item it matched and the
match ratio; the generation shard it came from gives its seed, template,
request key and text.
"""

from __future__ import annotations

from typing import Sequence

import polars as pl

from ..io import read_parquets
from ..tables import TABLES, write_table
from .html import table_html, write_page

TEXT_CHARS = 1500  # of each removed generation, in the report


def removed_documents(hits: pl.DataFrame, generations: pl.DataFrame) -> pl.DataFrame:
    """One row per (removed generation, benchmark item) hit, with the generation's ids and text."""
    if not hits.height:
        return pl.DataFrame(schema=TABLES["removed_documents"])
    rows = generations.select("source", "prompt_id", "seed_id", "template", "request_key",
                              pl.col("text").str.slice(0, TEXT_CHARS))
    joined = hits.select("benchmark", pl.col("item_id").cast(pl.String), "ratio", "source", "prompt_id").join(
        rows, on=["source", "prompt_id"], how="left"
    )
    return joined.select(list(TABLES["removed_documents"])).sort("benchmark", "item_id", "source", "prompt_id")


def removed_page(table: pl.DataFrame, out_html: str, config_hash: str) -> None:
    """The report page: per benchmark, the removed generations with the matched item and ratio."""
    sections = [
        (f"{bench}: {part.height} hit(s), {part['item_id'].n_unique()} item(s)",
         table_html(part, ["item_id", "ratio", "source", "prompt_id", "seed_id", "template", "request_key", "text"]))
        for (bench,), part in table.partition_by("benchmark", as_dict=True, maintain_order=True).items()
    ]
    note = (f"Generations removed by decontamination (config {config_hash}), grouped by benchmark: the benchmark "
            "item each one matched, the matched-length ratio, and the ids that trace it to its seed, template "
            "and request.")
    write_page(out_html, "Removed documents", sections or [("", "<p>No generation was removed in this run.</p>")],
               note)


def removed_documents_job(*, removed: Sequence[str], generations: Sequence[str], out_table: str, out_html: str,
                          config_hash: str) -> None:
    """The removed_documents rule: hit tables + generation shards -> report table "removed_documents" and page."""
    hits = read_parquets(removed)
    wanted = set(hits["prompt_id"].to_list()) if hits.height else set()
    # Shard by shard, keeping only the removed rows: memory stays one shard's worth.
    columns = ["source", "prompt_id", "seed_id", "template", "request_key", "text"]
    generations_rows = pl.concat(
        [pl.scan_parquet(p).select(columns).filter(pl.col("prompt_id").is_in(wanted)).collect() for p in generations]
        if wanted else [pl.DataFrame(schema={c: pl.String for c in columns})]
    )
    table = write_table(removed_documents(hits, generations_rows), "removed_documents", config_hash, out_table)
    removed_page(table, out_html, config_hash)
