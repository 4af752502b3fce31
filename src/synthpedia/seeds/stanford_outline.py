"""The Stanford outline step: one seed per catalog course, whose prompt asks for a course outline.

Its generations are read back by the `stanford` source (one seed per unit of
each outline). Settings: `sources.stanford.outline`, plus the catalog
`sources.stanford.courses`.
"""

from __future__ import annotations

import polars as pl

from .stanford import STANFORD_COURSE_COLUMNS, load_stanford_courses

COLUMNS = STANFORD_COURSE_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """One seed per course of the catalog `spec["courses"]`, read with the catalog's bad-record policy.

    The step's settings are `sources.stanford.outline` plus the catalog path and
    `on_bad_record`, shared with `sources.stanford` (the registry's `shares`).
    """
    return load_stanford_courses(spec["courses"], spec["on_bad_record"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One outline prompt per course."""
    yield "outline", "plain", {"course": row["course"], "code": row["code"] or "", "description": row["description"]}
