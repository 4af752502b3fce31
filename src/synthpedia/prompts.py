"""Seed rows -> rendered prompts, with stable ids, seeded sampling and hash sharding.

Templates are rendered in a sandboxed Jinja environment with StrictUndefined;
seed text only ever enters as variable values, so `{{ ... }}` inside a seed is
printed literally and never evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import jinja2
import jinja2.meta
import polars as pl
from jinja2.sandbox import SandboxedEnvironment

from .errors import InputError
from .io import stable_hash
from .tables import PROMPT_COLUMNS

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


Context = dict
# (seed row, source spec, config seed) -> (style, variant, template variables) for each prompt of that row
ContextFn = Callable[[dict, dict, int], Iterator[tuple[str, str, Context]]]


@dataclass(frozen=True)
class SourcePrompts:
    """How one seed source becomes prompts: its styles (one template each) and its contexts.

    The template of a style is `templates/<source>/<style>.j2`; audiences supply
    their own instructions for each style (config key `audiences`).
    """

    styles: tuple[str, ...]
    contexts: ContextFn

    def template(self, source: str, style: str) -> str:
        return f"{source}/{style}.j2"


def cut_text(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at a word boundary when one is near."""
    text = " ".join((text or "").split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars * 0.8 else cut


def _openstax_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    keep = spec["max_previous_units"]
    previous = list(row["previous_units"] or [])[-keep:] if keep else []
    base = {
        "book": row["book"],
        "chapter": row["chapter"],
        "section": row["section"],
        "unit": row["unit"],
        "previous_units": previous,
    }
    for variant in spec["variants"]:
        extract = cut_text(row["extract"], spec["extract_chars"]) if variant == "with_extract" else ""
        if variant == "with_extract" and not extract:
            continue  # a unit without text has no "with extract" variant
        yield "textbook", variant, {**base, "extract": extract}


def _wikihow_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    yield "wikihow", "plain", {"title": row["title"], "category": row.get("category") or ""}


def _web_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    """A web seed's topic style -> one prompt style; a seeded coin adds "within the context of <topic>".

    textbook -> textbook_narrative or textbook_academic by a hash of the seed id
    (fixed per seed); the topic coin is a hash of (config seed, seed id) only, so
    changing the config seed flips coins and changes nothing else.
    """
    style = row["style"]
    if style == "textbook":
        style = ("textbook_narrative", "textbook_academic")[int(stable_hash("textbook_style", row["seed_id"]), 16) % 2]
    elif style not in ("blogpost", "wikihow"):
        raise InputError(f"prompts/web: seed {row['seed_id']} has unknown style '{style}'")
    coin = int(stable_hash("topic_coin", seed, row["seed_id"]), 16) / 16**16
    with_topic = coin < spec.get("topic_fraction", 0.5)
    yield style, "with_topic" if with_topic else "plain", {
        "extract": row["extract"],
        "topic": row["topic"] if with_topic else "",
    }


def _khanacademy_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    keep = spec["max_previous_lessons"]
    previous = list(row["previous_lessons"] or [])[-keep:] if keep else []
    yield "textbook", "plain", {
        "course": row["course"],
        "unit": row["unit"],
        "lesson": row["lesson"],
        "previous_lessons": previous,
        "items": list(row["items"] or [])[: spec["max_items"]],
    }


def _stanford_outline_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    yield "outline", "plain", {"course": row["course"], "code": row["code"] or "", "description": row["description"]}


def _stanford_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    keep = spec["max_previous_units"]
    previous = list(row["previous_units"] or [])[-keep:] if keep else []
    yield "textbook", "plain", {"course": row["course"], "unit": row["unit"], "previous_units": previous}


def _automathtext_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    # The seed table holds the extract already cut (sources.automathtext.extract_chars).
    for style in SOURCE_PROMPTS["automathtext"].styles:
        yield style, "plain", {"extract": row["extract"]}


# The five story styles of the original, shared by the UltraChat and OpenHermes seeds.
STORY_STYLES = ("young_children_story", "morality_story", "problem_solving_story", "forum_story", "reddit_post")


def _story_contexts(text: str, spec: dict) -> Iterator[tuple[str, str, Context]]:
    seed_text = cut_text(text, spec["extract_chars"])
    for style in STORY_STYLES:
        yield style, "plain", {"seed_text": seed_text}


def _ultrachat_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    yield from _story_contexts(row["question"], spec)


def _openhermes_contexts(row: dict, spec: dict, seed: int) -> Iterator[tuple[str, str, Context]]:
    yield from _story_contexts(row["prompt"], spec)


SOURCE_PROMPTS: dict[str, SourcePrompts] = {
    "openstax": SourcePrompts(("textbook",), _openstax_contexts),
    "wikihow": SourcePrompts(("wikihow",), _wikihow_contexts),
    "web": SourcePrompts(("wikihow", "textbook_narrative", "textbook_academic", "blogpost"), _web_contexts),
    "khanacademy": SourcePrompts(("textbook",), _khanacademy_contexts),
    # Stanford in two steps: outline prompts from the catalog (seeds.stanford_outline_spec gives
    # their spec), then unit prompts from the units of the generated outlines.
    "stanford_outline": SourcePrompts(("outline",), _stanford_outline_contexts),
    "stanford": SourcePrompts(("textbook",), _stanford_contexts),
    "automathtext": SourcePrompts(("college", "grade_school"), _automathtext_contexts),
    "ultrachat": SourcePrompts(STORY_STYLES, _ultrachat_contexts),
    "openhermes": SourcePrompts(STORY_STYLES, _openhermes_contexts),
}


def source_styles(source: str, spec: dict) -> tuple[str, ...]:
    """Styles a source's prompts use: the source's config list `styles` if it has one, else all."""
    return tuple(spec.get("styles") or SOURCE_PROMPTS[source].styles)


def template_files(source: str, templates_dir: str | Path = TEMPLATES_DIR) -> list[str]:
    """Template files a source's prompts depend on, included partials too (rule inputs:
    editing one reruns that source only)."""
    how = SOURCE_PROMPTS[source]
    env = template_environment(templates_dir)
    pending = [how.template(source, style) for style in how.styles]
    found: list[str] = []
    while pending:
        name = pending.pop(0)
        if name in found:
            continue
        found.append(name)
        source_text = env.loader.get_source(env, name)[0]
        pending += [ref for ref in jinja2.meta.find_referenced_templates(env.parse(source_text)) if ref]
    return [str(Path(templates_dir) / name) for name in found]


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
    if source not in SOURCE_PROMPTS:
        raise InputError(f"prompts: no templates for source '{source}' (known: {', '.join(SOURCE_PROMPTS)})")
    how = SOURCE_PROMPTS[source]
    env = template_environment(templates_dir)
    templates = {}
    for style in source_styles(source, spec):
        name = how.template(source, style)
        try:
            templates[style] = (name, env.get_template(name))
        except jinja2.TemplateError as err:
            raise InputError(f"prompts/{source}: cannot load template {name}: {err}") from err
    rows = []
    for row in seeds.iter_rows(named=True):
        for style, variant, ctx in how.contexts(row, spec, seed):
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


def shard_name(index: int) -> str:
    return f"{index:03d}"


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
