"""The eval table: one row per run, task and metric, from the results JSON of each run.

Each row also shows what decontamination removed for the task's benchmark:
the generations removed and the distinct benchmark items they matched, over
all the contamination table's groups together (from the removed-row tables of
the decontamination shards, the data that table is built from; a generation
or item counted in two groups counts once here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from synthpedia.errors import InputError
from synthpedia.evaluate.run import EVAL_METRICS
from synthpedia.evaluate.tasks import GENERATIVE_METRICS
from synthpedia.tables import TABLES, write_table

_CONTAMINATION_COLUMNS = ("samples_removed", "unique_benchmark_items")


def removed_per_benchmark(hits: pl.DataFrame, groups: dict[str, list[str]] | None, benchmarks: Sequence[str]) -> pl.DataFrame:
    """Per decontaminated benchmark: generations removed and distinct items hit, all groups together.

    `hits`: the concatenated removed-row tables of the decontamination shards;
    `groups` and `benchmarks`: the `decontamination` settings (no groups: every
    source in `hits`). Columns: benchmark, samples_removed, unique_benchmark_items.
    """
    from synthpedia.decontaminate.table import contamination_table

    if groups:
        sources = sorted({source for members in groups.values() for source in members})
    else:
        sources = sorted(set(hits.get_column("source").to_list())) if hits.height else []
    table = contamination_table(hits, {"all": sources}, list(benchmarks))
    return table.select("benchmark", *_CONTAMINATION_COLUMNS)


def eval_table(results: dict, removed: pl.DataFrame | None = None) -> pl.DataFrame:
    """Long table of scores: one row per (run, task, metric), the columns of report table "eval".

    In: {run: the dict :func:`evaluate_checkpoint` returned (or its JSON)}, and
    `removed` (see :func:`removed_per_benchmark`), joined on task = benchmark;
    a task absent from it gets nulls. The provenance columns are left to
    `write_table`.
    """
    rows = []
    for run in sorted(results):
        tasks = results[run].get("tasks")
        if tasks is None:
            raise InputError(f"eval table: results of run {run!r} have no 'tasks'")
        for task in sorted(tasks):
            entry = tasks[task]
            for metric in (*EVAL_METRICS, *GENERATIVE_METRICS):
                score = entry["metrics"].get(metric)
                if score is None:
                    continue
                rows.append(
                    {
                        "run": run,
                        "task": task,
                        "num_fewshot": entry.get("num_fewshot", 0),
                        "metric": metric,
                        "value": score["value"],
                        "stderr": score["stderr"],
                        "chance": entry["chance"],
                    }
                )
    schema = TABLES["eval"]
    scores = pl.DataFrame(rows, schema={k: v for k, v in schema.items() if k not in _CONTAMINATION_COLUMNS})
    if removed is None:
        removed = pl.DataFrame(schema={"benchmark": pl.String, **{c: schema[c] for c in _CONTAMINATION_COLUMNS}})
    joined = scores.join(removed.rename({"benchmark": "task"}), on="task", how="left", maintain_order="left")
    return joined.select([pl.col(c).cast(t) for c, t in schema.items()])


def eval_table_job(
    *,
    results: dict[str, str],
    tables: Sequence[str],
    config_hash: str,
    removed: Sequence[str] = (),
    groups: dict[str, list[str]] | None = None,
    benchmarks: Sequence[str] = (),
) -> None:
    """The eval_table rule: {run: results JSON} -> report table "eval" at each path of `tables`.

    `removed`: the decontamination shards' removed-row tables (parquet), with
    the `decontamination.groups` and `decontamination.benchmarks` settings.
    Each path is .csv or .parquet; rows are stamped with `config_hash` and the version.
    """
    from synthpedia.io import read_parquets

    loaded = {run: json.loads(Path(path).read_text()) for run, path in results.items()}
    per_benchmark = removed_per_benchmark(read_parquets(list(removed)), groups, benchmarks) if benchmarks else None
    write_table(eval_table(loaded, per_benchmark), "eval", config_hash, *tables)
