"""OpenHermes story seeds: prompts kept by the original's source, category and language filters."""

from __future__ import annotations

import polars as pl

from .stories import OPENHERMES_COLUMNS, load_openhermes, story_contexts

COLUMNS = OPENHERMES_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The openhermes seed table from config section `sources.openhermes`."""
    return load_openhermes(spec["files"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One story prompt per style, the prompt cut to extract_chars."""
    yield from story_contexts(row["prompt"], spec, styles)
