"""The eval table: one row per run, task and metric, from the results JSON of each run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from synthpedia.errors import InputError
from synthpedia.evaluate.run import EVAL_METRICS
from synthpedia.tables import TABLES, write_table


def eval_table(results: dict) -> pl.DataFrame:
    """Long table of scores: one row per (run, task, metric), the columns of report table "eval".

    In: {run: the dict :func:`evaluate_checkpoint` returned (or its JSON)}. The
    provenance columns are left to `write_table`.
    """
    rows = []
    for run in sorted(results):
        tasks = results[run].get("tasks")
        if tasks is None:
            raise InputError(f"eval table: results of run {run!r} have no 'tasks'")
        for task in sorted(tasks):
            entry = tasks[task]
            for metric in EVAL_METRICS:
                score = entry["metrics"].get(metric)
                if score is None:
                    continue
                rows.append(
                    {
                        "run": run,
                        "task": task,
                        "metric": metric,
                        "value": score["value"],
                        "stderr": score["stderr"],
                        "chance": entry["chance"],
                    }
                )
    return pl.DataFrame(rows, schema=TABLES["eval"])


def eval_table_job(*, results: dict[str, str], tables: Sequence[str], config_hash: str) -> None:
    """The eval_table rule: {run: results JSON} -> report table "eval" at each path of `tables`.

    Each path is .csv or .parquet; rows are stamped with `config_hash` and the version.
    """
    loaded = {run: json.loads(Path(path).read_text()) for run, path in results.items()}
    write_table(eval_table(loaded), "eval", config_hash, *tables)
