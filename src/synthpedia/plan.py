"""The pre-flight plan: what a config will cost, from its seeds and prompts, before any GPU is asked for.

Rule `plan` reads the seed tables and prompt shards (nothing is generated) and writes
results/tables/plan.csv, one row per source plus TOTAL, and prints one summary:

- seeds, prompts and generation shards (one generation job per shard);
- prompt tokens: the rendered prompts' characters / `plan.chars_per_token`;
- completion tokens: prompts x `generation.sampling.max_tokens` x the model's
  completion fraction (`plan.models.<model>.completion_fraction`, else
  `plan.completion_fraction`), or prompts x the mean completion length a pilot
  run measured (`plan.pilot`: its results/tables/generation.csv);
- GPU-hours: completion tokens / the model's tokens per GPU-second
  (`plan.models.<model>.tokens_per_gpu_second`, else `plan.tokens_per_gpu_second`:
  Cosmopedia's ~700 effective tokens/s per H100, all overheads included);
- disk per stage: prompt shards as written; generations, clean and dataset
  shards as the prompts plus the completions' text at `plan.parquet_ratio`
  bytes per character; token files at 2 bytes per token (4 above 65,536 entries).

A source whose seeds come from generations (Stanford's units, from the course
outlines) cannot be rendered before them: its row is estimated from its
outline prompts x `plan.units_per_outline` x its audiences (column `basis`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import polars as pl

from .errors import InputError
from .tables import TABLES, write_table

log = logging.getLogger(__name__)


def _rows(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def shards_by_source(paths: Sequence[str]) -> dict[str, list[str]]:
    """Workflow files by source: results/seeds/<source>.parquet -> its path; results/prompts/<source>/<shard>.parquet
    -> its shards, in order."""
    found: dict[str, list[str]] = {}
    for path in paths:
        name = Path(path).parent.name if Path(path).parent.name != "seeds" else Path(path).stem
        found.setdefault(name, []).append(str(path))
    return found


def prompt_chars(paths: Sequence[str]) -> tuple[int, int, int]:
    """(prompts, characters of their prompt text, bytes on disk) of prompt shards, one shard at a time."""
    prompts = chars = size = 0
    for path in paths:
        frame = pl.read_parquet(path, columns=["prompt"])
        prompts += frame.height
        chars += int(frame["prompt"].str.len_chars().sum() or 0)
        size += Path(path).stat().st_size
    return prompts, chars, size


def model_figures(plan: Mapping, model: str, max_tokens: int) -> tuple[float, float, str]:
    """(expected completion tokens per prompt, tokens per GPU-second, where the length came from)."""
    own = plan["models"].get(model, {})
    speed = float(own.get("tokens_per_gpu_second", plan["tokens_per_gpu_second"]))
    if plan["pilot"]:
        table = pl.read_csv(plan["pilot"])
        total = table.filter(pl.col("source") == "TOTAL")
        if total.height == 0 or not total["completions"][0]:
            raise InputError(f"config key 'plan.pilot': {plan['pilot']} has no TOTAL row with completions")
        return total["completion_tokens"][0] / total["completions"][0], speed, "pilot"
    fraction = float(own.get("completion_fraction", plan["completion_fraction"]))
    return max_tokens * fraction, speed, "completion_fraction"


def plan_table(
    sources: Mapping[str, Mapping],
    plan: Mapping,
    model: str,
    max_tokens: int,
    vocab_size: int,
) -> pl.DataFrame:
    """Report table "plan" (without provenance) from per-source counts.

    `sources`: name -> {seeds, prompts, prompt_chars, prompt_bytes, shards, basis}.
    """
    per_prompt, speed, _ = model_figures(plan, model, max_tokens)
    token_bytes = 2 if vocab_size <= 65_536 else 4
    rows = []
    for name, s in sorted(sources.items()):
        completion = s["prompts"] * per_prompt
        text_mb = completion * plan["chars_per_token"] * plan["parquet_ratio"] / 1e6
        generations_mb = s["prompt_bytes"] / 1e6 + text_mb
        rows.append({
            "source": name,
            "basis": s["basis"],
            "seeds": s["seeds"],
            "prompts": s["prompts"],
            "shards": s["shards"],
            "prompt_tokens": round(s["prompt_chars"] / plan["chars_per_token"]),
            "completion_tokens": round(completion),
            "gpu_hours": completion / speed / 3600,
            "disk_prompts_mb": s["prompt_bytes"] / 1e6,
            "disk_generations_mb": generations_mb,
            "disk_clean_mb": generations_mb,
            "disk_dataset_mb": generations_mb,
            "disk_tokens_mb": completion * token_bytes / 1e6,
        })
    frame = pl.DataFrame(rows, schema=TABLES["plan"])
    total = frame.select(
        pl.lit("TOTAL").alias("source"), pl.lit("").alias("basis"),
        *(pl.col(c).sum() for c in frame.columns[2:]),
    )
    return pl.concat([frame, total.cast(TABLES["plan"])])


def summary(table: pl.DataFrame, model: str, basis: str) -> str:
    """One printed paragraph of the plan's totals."""
    t = table.filter(pl.col("source") == "TOTAL").row(0, named=True)
    disk = sum(t[c] for c in ("disk_prompts_mb", "disk_generations_mb", "disk_clean_mb", "disk_dataset_mb",
                              "disk_tokens_mb")) / 1e3
    return (
        f"plan: {t['prompts']:,} prompts from {t['seeds']:,} seeds in {t['shards']:,} generation jobs; "
        f"{t['prompt_tokens'] / 1e9:.3g}B prompt tokens, {t['completion_tokens'] / 1e9:.3g}B completion tokens "
        f"expected ({basis}); {t['gpu_hours']:,.0f} GPU-hours of {model}; {disk:,.1f} GB of disk over the stages"
    )


def plan_job(
    *,
    seeds: Mapping[str, str],
    prompts: Mapping[str, Sequence[str]],
    estimated: Mapping[str, dict],
    specs: Mapping[str, Mapping],
    plan: Mapping,
    model: str,
    max_tokens: int,
    vocab_size: int,
    config_hash: str,
    tables: Sequence[str],
) -> str:
    """The plan rule: seed tables and prompt shards -> report table "plan" at `tables`; returns the summary.

    `seeds`: source -> its seed table; `prompts`: source (or step) -> its prompt shards;
    `estimated`: source -> {"step": its outline step, "audiences": n} for sources whose seeds
    come from generations; `specs`: source -> its settings (shards, max_prompts).
    """
    counts = {}
    for name, paths in prompts.items():
        n, chars, size = prompt_chars(paths)
        seed_table = seeds.get(name)
        if isinstance(seed_table, list):
            seed_table = seed_table[0]
        counts[name] = {"seeds": _rows(seed_table) if seed_table else 0, "prompts": n, "prompt_chars": chars,
                        "prompt_bytes": size, "shards": len(paths), "basis": "rendered"}
    for name, how in estimated.items():
        step = counts[how["step"]]
        units = step["prompts"] * plan["units_per_outline"]
        n = units * how["audiences"]
        cap = specs[name].get("max_prompts")
        n = min(n, cap) if cap is not None else n
        per_prompt_chars = step["prompt_chars"] / max(step["prompts"], 1)
        per_prompt_bytes = step["prompt_bytes"] / max(step["prompts"], 1)
        counts[name] = {"seeds": units, "prompts": n, "prompt_chars": round(n * per_prompt_chars),
                        "prompt_bytes": round(n * per_prompt_bytes), "shards": specs[name]["shards"],
                        "basis": f"estimated: {plan['units_per_outline']} units per outline"}
    table = plan_table(counts, plan, model, max_tokens, vocab_size)
    write_table(table, "plan", config_hash, *tables)
    text = summary(table, model, model_figures(plan, model, max_tokens)[2])
    log.info("%s\n%s", text, table)
    return text
