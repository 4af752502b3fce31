"""UltraChat story seeds: the user's first question, written up in every configured story style."""

from __future__ import annotations

import polars as pl

from .stories import ULTRACHAT_COLUMNS, load_ultrachat, story_contexts

COLUMNS = ULTRACHAT_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The ultrachat seed table from config section `sources.ultrachat`."""
    return load_ultrachat(spec["files"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One story prompt per style, the question cut to extract_chars."""
    yield from story_contexts(row["question"], spec, styles)
