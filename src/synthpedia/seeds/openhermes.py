"""OpenHermes story seeds: first request and answer, kept by the original's source, category and language filters."""

from __future__ import annotations

import polars as pl

from .stories import OPENHERMES_COLUMNS, load_openhermes, story_contexts

COLUMNS = OPENHERMES_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The openhermes seed table from config section `sources.openhermes`."""
    return load_openhermes(spec["files"])


def openhermes_seed_text(row: dict) -> str:
    """The text a story is drawn from: the first user turn, then the first answer (as the original did)."""
    if not row.get("answer"):
        return row["prompt"]
    return f"Request: {row['prompt']}\n\nAnswer: {row['answer']}"


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One story prompt per style, the request and its answer cut together to extract_chars."""
    yield from story_contexts(openhermes_seed_text(row), spec, styles)
