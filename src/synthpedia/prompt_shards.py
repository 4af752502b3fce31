"""Prompts at scale: plan a source's prompts on their ids, then render each shard in its own job.

`synthpedia.prompts.build_prompt_shards` renders every prompt of a source, samples
and shards them in one call: at the paper's scale (~23M web prompts) one job would
hold every prompt text. The prompt stage is two kinds of jobs instead:

1. `prompt_plan_job`, one per source: for each seed row, the ids of its prompts
   (template names and audiences only, nothing rendered), the seeded
   `max_prompts` sample drawn on those ids by the rule of `sample_prompts`, and
   each kept id's shard (`shard_index`). It reads the seed table in batches and
   holds ids only: results/prompt_index/<source>.parquet (prompt_id, seed_row, shard).
2. `prompt_shard_job`, one per shard: reads the seed rows its ids name, renders
   them with `render_prompts`, keeps its ids. The shard is byte-identical to
   the same shard of `build_prompt_shards` for the same config: the same
   rendering, the same sample and the same order (by prompt_id).
"""

from __future__ import annotations

import logging
from importlib import import_module
from pathlib import Path

import jinja2
import polars as pl
import pyarrow.parquet as pq

from .errors import InputError
from .io import write_parquet
from .prompts import TEMPLATES_DIR, prompt_id, render_prompts, sample_prompts, shard_index, template_environment
from .registry import registry

log = logging.getLogger(__name__)

# results/prompt_index/<source>.parquet: one row per kept prompt
PROMPT_INDEX_SCHEMA = {"prompt_id": pl.String, "seed_row": pl.Int64, "shard": pl.Int64}
SEED_BATCH_ROWS = 10_000  # seed rows read at once by the plan


def _seed_batches(seeds_path: str, batch_rows: int = SEED_BATCH_ROWS):
    """The seed table in frames of at most `batch_rows` rows, in row order."""
    for batch in pq.ParquetFile(seeds_path).iter_batches(batch_size=batch_rows):
        yield pl.from_arrow(batch)


def prompt_ids(source: str, seeds, spec: dict, seed: int) -> pl.DataFrame:
    """(prompt_id, seed_row) of every prompt `render_prompts` would render for these seed frames.

    `seeds`: frames of the seed table in row order (seed_row counts across them). Styles,
    variants and audiences come from the source's `prompt_contexts` and `spec`, as in rendering.
    """
    record = registry()[source]
    contexts = import_module(record.module).prompt_contexts
    styles = set(spec.get("styles") or record.styles)
    ids, rows, offset = [], [], 0
    for frame in seeds:
        for i, row in enumerate(frame.iter_rows(named=True)):
            for style, variant, _ in contexts(row, spec, seed, record.styles):
                if style not in styles:
                    continue
                for audience in spec["audiences"]:
                    ids.append(prompt_id(source, row["seed_id"], record.template(style), audience, variant))
                    rows.append(offset + i)
        offset += frame.height
    return pl.DataFrame({"prompt_id": ids, "seed_row": rows}, schema={"prompt_id": pl.String, "seed_row": pl.Int64})


def plan_prompts(source: str, seeds, spec: dict, seed: int) -> pl.DataFrame:
    """The source's prompt index: its kept prompt ids (the seeded max_prompts sample), their seed
    rows and shards (PROMPT_INDEX_SCHEMA, sorted by prompt_id)."""
    ids = sample_prompts(prompt_ids(source, seeds, spec, seed).sort("prompt_id"), spec.get("max_prompts"), seed)
    shards = pl.Series("shard", [shard_index(p, spec["shards"]) for p in ids["prompt_id"]], dtype=pl.Int64)
    return ids.with_columns(shards).select(list(PROMPT_INDEX_SCHEMA))


def check_templates(source: str, spec: dict, templates_dir: str | Path = TEMPLATES_DIR) -> None:
    """Load every template the source renders: a broken one fails the plan, before any shard job."""
    record = registry()[source]
    env = template_environment(templates_dir)
    for style in spec.get("styles") or record.styles:
        try:
            env.get_template(record.template(style))
        except jinja2.TemplateError as err:
            raise InputError(f"prompts/{source}: cannot load template {record.template(style)}: {err}") from err


def prompt_plan_job(*, source: str, seeds_path: str, spec: dict, seed: int, templates_dir: str, out_index: str) -> None:
    """The prompts_<source> rule: seed table -> results/prompt_index/<source>.parquet (ids, rows, shards)."""
    check_templates(source, spec, templates_dir)
    index = plan_prompts(source, _seed_batches(seeds_path), spec, seed)
    log.info("%s: %d prompts planned over %d shards", source, index.height, spec["shards"])
    write_parquet(index, out_index)


def read_seed_rows(seeds_path: str, rows) -> pl.DataFrame:
    """The seed table's rows `rows` (row numbers), in table order; the rest of the table is streamed past."""
    wanted = pl.Series("rows", sorted(set(rows)), dtype=pl.Int64)
    return (
        pl.scan_parquet(seeds_path)
        .with_row_index("_seed_row")
        .filter(pl.col("_seed_row").cast(pl.Int64).is_in(wanted.implode()))
        .drop("_seed_row")
        .collect()
    )


def render_prompt_shard(
    source: str,
    seeds_path: str,
    index: pl.DataFrame,
    shard: int,
    spec: dict,
    audiences: dict,
    seed: int,
    templates_dir: str | Path = TEMPLATES_DIR,
) -> pl.DataFrame:
    """Shard `shard` of the source's prompts (PROMPT_COLUMNS, sorted by prompt_id), from its index rows."""
    mine = index.filter(pl.col("shard") == shard)
    seeds = read_seed_rows(seeds_path, mine["seed_row"].to_list())
    rendered = render_prompts(source, seeds, spec, audiences, seed, templates_dir)
    return rendered.filter(pl.col("prompt_id").is_in(mine["prompt_id"].implode()))


def prompt_shard_job(
    *,
    source: str,
    shard: int,
    seeds_path: str,
    index_path: str,
    spec: dict,
    audiences: dict,
    seed: int,
    templates_dir: str,
    out_shard: str,
) -> None:
    """The prompt_shard rule: one shard of a source's prompts, rendered from the seed rows its ids name."""
    index = pl.read_parquet(index_path, columns=list(PROMPT_INDEX_SCHEMA)).filter(pl.col("shard") == shard)
    frame = render_prompt_shard(source, seeds_path, index, shard, spec, audiences, seed, templates_dir)
    if frame.height != index.height:
        raise InputError(f"prompts/{source}: shard {shard:03d} rendered {frame.height} of its {index.height} "
                         f"planned prompts: the seed table changed after {index_path} was written")
    log.info("%s shard %03d: %d prompts", source, shard, frame.height)
    write_parquet(frame, out_shard)
