"""Seed rows -> rendered prompts, with stable ids, seeded sampling and hash sharding.

Templates are rendered in a sandboxed Jinja environment with StrictUndefined;
seed text only ever enters as variable values, so `{{ ... }}` inside a seed is
printed literally and never evaluated.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import jinja2
import polars as pl
from jinja2.sandbox import SandboxedEnvironment

from .errors import InputError
from .ids import stable_hash
from .registry import ROOT, registry
from .tables import PROMPT_COLUMNS
from .workflow import shard_name  # noqa: F401 (re-exported: shard files are named by it)

TEMPLATES_DIR = ROOT / "templates"


def cut_text(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at a word boundary when one is near; line breaks kept.

    Spaces inside a line are collapsed and runs of blank lines become one, so a
    web page or a book section keeps its paragraphs and lists as the original's
    extracts did.
    """
    lines: list[str] = []
    for raw in (text or "").splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    text = "\n".join(lines).strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:boundary].rstrip() if boundary > max_chars * 0.8 else cut


def template_environment(templates_dir: str | Path = TEMPLATES_DIR) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=False,
    )


def prompt_id(source: str, seed_id: str, template: str, audience: str, variant: str) -> str:
    """Stable id of one prompt: same seed, template, audience and variant -> same id."""
    return stable_hash(source, seed_id, template, audience, variant)


def render_prompts(
    source: str,
    seeds: pl.DataFrame,
    spec: dict,
    audiences: dict,
    seed: int = 0,
    templates_dir: str | Path = TEMPLATES_DIR,
) -> pl.DataFrame:
    """Every prompt of `source` for every seed row, style, audience and variant (PROMPT_COLUMNS, sorted by id).

    `seed` (the config seed) feeds the sources' seeded choices, e.g. the web topic coin.
    """
    known = registry()
    if source not in known:
        raise InputError(f"prompts: no such source '{source}' (known: {', '.join(sorted(known))})")
    record = known[source]
    contexts = import_module(record.module).prompt_contexts
    env = template_environment(templates_dir)
    templates = {}
    for style in spec.get("styles") or record.styles:
        name = record.template(style)
        try:
            templates[style] = (name, env.get_template(name))
        except jinja2.TemplateError as err:
            raise InputError(f"prompts/{source}: cannot load template {name}: {err}") from err
    rows = []
    for row in seeds.iter_rows(named=True):
        for style, variant, ctx in contexts(row, spec, seed, record.styles):
            if style not in templates:
                continue  # a style the config left out
            name, template = templates[style]
            for audience_name in spec["audiences"]:
                audience = audiences[audience_name]
                values = {
                    **ctx,
                    "audience": audience_name,
                    "audience_label": audience["label"],
                    "instructions": audience["instructions"][style].strip(),
                }
                try:
                    text = template.render(**values).strip() + "\n"
                except jinja2.TemplateError as err:
                    raise InputError(f"prompts/{source}: template {name} failed on seed {row['seed_id']}: {err}") from err
                rows.append(
                    {
                        "prompt_id": prompt_id(source, row["seed_id"], name, audience_name, variant),
                        "source": source,
                        "seed_id": row["seed_id"],
                        "template": name,
                        "style": style,
                        "audience": audience_name,
                        "variant": variant,
                        "prompt": text,
                    }
                )
    schema = {c: pl.String for c in PROMPT_COLUMNS}
    return pl.DataFrame(rows, schema=schema).sort("prompt_id")


def sample_prompts(prompts: pl.DataFrame, max_prompts: int | None, seed: int) -> pl.DataFrame:
    """At most `max_prompts` prompts, chosen by a hash of (config seed, prompt id): reproducible."""
    if max_prompts is None or prompts.height <= max_prompts:
        return prompts
    keys = [stable_hash(seed, pid) for pid in prompts["prompt_id"]]
    return prompts.with_columns(pl.Series("_k", keys)).sort("_k").head(max_prompts).drop("_k").sort("prompt_id")


def shard_index(prompt_id_: str, shards: int) -> int:
    """The shard a prompt goes to: a hash of its id, so the DAG is known before anything runs."""
    return int(stable_hash("shard", prompt_id_), 16) % shards


def split_shards(prompts: pl.DataFrame, shards: int) -> list[pl.DataFrame]:
    """`prompts` split into `shards` frames by shard_index (some may be empty)."""
    idx = pl.Series("_shard", [shard_index(p, shards) for p in prompts["prompt_id"]], dtype=pl.Int64)
    tagged = prompts.with_columns(idx)
    return [tagged.filter(pl.col("_shard") == i).drop("_shard") for i in range(shards)]


def build_prompt_shards(
    source: str,
    seeds: pl.DataFrame,
    spec: dict,
    audiences: dict,
    seed: int,
    templates_dir: str | Path = TEMPLATES_DIR,
) -> list[pl.DataFrame]:
    """Render, sample and shard a source's prompts: the prompt stage in one call."""
    prompts = render_prompts(source, seeds, spec, audiences, seed, templates_dir)
    prompts = sample_prompts(prompts, spec.get("max_prompts"), seed)
    return split_shards(prompts, spec["shards"])


def prompts_job(
    source: str,
    seeds_path: str,
    spec: dict,
    audiences: dict,
    seed: int,
    templates_dir: str | Path,
    out_shards: list[str],
) -> None:
    """The prompts rule of `source`: its seed table -> one parquet per shard, written atomically."""
    from .io import write_parquet

    frames = build_prompt_shards(source, pl.read_parquet(seeds_path), spec, audiences, seed, templates_dir)
    for frame, path in zip(frames, out_shards, strict=True):
        write_parquet(frame, path)
