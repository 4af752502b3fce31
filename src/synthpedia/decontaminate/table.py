"""The contamination report table: per source group and benchmark, generations removed and items hit."""

from __future__ import annotations

from typing import Sequence

import polars as pl

from synthpedia.errors import InputError
from synthpedia.io import read_parquets
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS, TABLES, write_table


def contamination_table(hits: pl.DataFrame, groups: dict[str, list[str]] | None, benchmarks: list[str]) -> pl.DataFrame:
    """The original's table: per source group and benchmark, generations removed and unique items.

    `hits`: the concatenated hit tables of all shards. `groups`: label -> sources
    (e.g. {"web + stanford + openstax": ["web", "stanford", "openstax"]}); empty or
    None means one group per source found in `hits`. Every (group, benchmark) pair
    gets a row, zeros included. A generation removed for items of two benchmarks
    counts under both, as in the original. Returns the columns of report table
    "contamination", without the provenance columns (`write_table` adds them).
    """
    missing = [c for c in CONTAMINATION_HIT_COLUMNS if c not in hits.columns]
    if missing and hits.height:
        raise InputError(f"decontamination: hit table lacks columns {missing}")
    if not groups:
        sources = sorted(set(hits.get_column("source").to_list())) if hits.height else []
        groups = {s: [s] for s in sources}
    rows = []
    for label, group_sources in groups.items():
        in_group = hits.filter(pl.col("source").is_in(list(group_sources))) if hits.height else hits
        for bench in benchmarks:
            sel = in_group.filter(pl.col("benchmark") == bench) if in_group.height else in_group
            rows.append(
                {
                    "group": label,
                    "benchmark": bench,
                    "samples_removed": sel.select(pl.struct("source", "prompt_id").n_unique()).item()
                    if sel.height
                    else 0,
                    "unique_benchmark_items": sel.get_column("item_id").n_unique() if sel.height else 0,
                }
            )
    return pl.DataFrame(rows, schema=TABLES["contamination"])


def contamination_table_job(
    *,
    removed: Sequence[str],
    tables: Sequence[str],
    groups: dict[str, list[str]],
    benchmarks: Sequence[str],
    config_hash: str,
) -> None:
    """The contamination_table rule: every shard's hit table -> report table "contamination".

    In: the `removed` hit tables (parquet), the `decontamination.groups` and
    `decontamination.benchmarks` settings. Out: each path of `tables` (.csv or
    .parquet), stamped with `config_hash` and the version.
    """
    hits = read_parquets(removed)
    write_table(contamination_table(hits, groups, list(benchmarks)), "contamination", config_hash, *tables)
