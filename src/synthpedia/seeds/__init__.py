"""Seed loaders: each turns one source's real input format into a normalised table.

Every table starts with SEED_COLUMNS (``seed_id``, ``source``) followed by the
source's own fields; rows keep the input's natural order (book order for
OpenStax, tree order for Khan Academy, file order for the others), so the same
files give the same table.

Stanford has two steps: ``stanford_outline`` (one seed per catalog course; its
prompts ask for course outlines) and ``stanford`` (one seed per unit of the
generated outlines). Both read the config section ``sources.stanford``; the
``stanford`` loader also needs ``outlines``, the outline files the workflow
generated (see ``stanford_outline_spec`` and ``seed_input_files``).

``load_seeds(source, spec)`` is what the seeds rule calls: `spec` is that
source's section of the config (``sources.<source>``); keys a loader does not
read (shards, audiences, ...) belong to later stages and are ignored here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import polars as pl

from ..errors import InputError
from .automathtext import AUTOMATHTEXT_COLUMNS, DEFAULT_EXTRACT_CHARS, load_automathtext
from .khanacademy import KHANACADEMY_COLUMNS, load_khanacademy
from .openstax import OPENSTAX_COLUMNS, display_title, load_openstax
from .records import as_path_list
from .stanford import (
    STANFORD_COLUMNS,
    STANFORD_COURSE_COLUMNS,
    load_stanford_courses,
    load_stanford_units,
    outline_unit_seeds,
    parse_outline,
    read_outlines,
)
from .stories import (
    OPENHERMES_COLUMNS,
    ULTRACHAT_COLUMNS,
    load_openhermes,
    load_ultrachat,
    read_openhermes,
    read_ultrachat,
    story_drop_reason,
)
from .wikihow import WIKIHOW_COLUMNS, load_wikihow
from ..web import WEB_SEED_COLUMNS, load_web_seeds

__all__ = [
    "AUTOMATHTEXT_COLUMNS",
    "KHANACADEMY_COLUMNS",
    "OPENHERMES_COLUMNS",
    "OPENSTAX_COLUMNS",
    "SEED_LOADERS",
    "SEED_TABLE_COLUMNS",
    "STANFORD_COLUMNS",
    "STANFORD_COURSE_COLUMNS",
    "ULTRACHAT_COLUMNS",
    "WIKIHOW_COLUMNS",
    "display_title",
    "load_automathtext",
    "load_khanacademy",
    "load_openhermes",
    "load_openstax",
    "load_seeds",
    "load_stanford_courses",
    "load_stanford_units",
    "load_ultrachat",
    "load_wikihow",
    "outline_unit_seeds",
    "parse_outline",
    "read_openhermes",
    "read_outlines",
    "read_ultrachat",
    "seed_input_files",
    "stanford_outline_spec",
    "story_drop_reason",
]


def _required(source: str, spec: dict, key: str):
    if not isinstance(spec, dict) or key not in spec:
        raise InputError(f"config key 'sources.{source}.{key}' is required")
    return spec[key]


def _openstax_from_spec(spec: dict) -> pl.DataFrame:
    books = _required("openstax", spec, "books")
    if isinstance(books, str) or not isinstance(books, list):
        raise InputError("config key 'sources.openstax.books': expected a list of collection XML paths")
    return load_openstax(books)


def _wikihow_from_spec(spec: dict) -> pl.DataFrame:
    titles = _required("wikihow", spec, "titles")
    if not isinstance(titles, str):
        raise InputError("config key 'sources.wikihow.titles': expected the path of a .txt or .tsv file")
    return load_wikihow(titles)


def _web_from_spec(spec: dict) -> pl.DataFrame:
    # Web seeds are the output of the web topic steps (synthpedia.web.assign_web_seeds); the seeds
    # rule passes that table's path as `assigned` (a workflow path, not a user config key).
    assigned = spec.get("assigned") if isinstance(spec, dict) else None
    if not assigned:
        raise InputError("seeds/web: no 'assigned' table given (the web topic steps' output, passed by the workflow)")
    return load_web_seeds(assigned)


def _path(source: str, spec: dict, key: str) -> str:
    value = _required(source, spec, key)
    if not isinstance(value, str) or not value:
        raise InputError(f"config key 'sources.{source}.{key}': expected a file path")
    return value


def _files(source: str, spec: dict) -> list[str]:
    return as_path_list(_required(source, spec, "files"), f"sources.{source}.files")


def _khanacademy_from_spec(spec: dict) -> pl.DataFrame:
    return load_khanacademy(_path("khanacademy", spec, "topics"))


def _stanford_outline_from_spec(spec: dict) -> pl.DataFrame:
    return load_stanford_courses(_path("stanford", spec, "courses"))


def _stanford_from_spec(spec: dict) -> pl.DataFrame:
    # Unit seeds come from the generated outlines: the seeds rule passes the outline generation
    # shards as `outlines` (a workflow path, not a user config key).
    courses = _path("stanford", spec, "courses")
    if not spec.get("outlines"):
        raise InputError(
            "seeds/stanford: no 'outlines' given (the outline generation shards, passed by the workflow)"
        )
    return load_stanford_units(courses, as_path_list(spec["outlines"], "sources.stanford.outlines"))


def _automathtext_from_spec(spec: dict) -> pl.DataFrame:
    return load_automathtext(_files("automathtext", spec), spec.get("extract_chars", DEFAULT_EXTRACT_CHARS))


def _ultrachat_from_spec(spec: dict) -> pl.DataFrame:
    return load_ultrachat(_files("ultrachat", spec))


def _openhermes_from_spec(spec: dict) -> pl.DataFrame:
    return load_openhermes(_files("openhermes", spec))


# source name -> loader taking that source's config section.
SEED_LOADERS: dict[str, Callable[[dict], pl.DataFrame]] = {
    "openstax": _openstax_from_spec,
    "wikihow": _wikihow_from_spec,
    "web": _web_from_spec,
    "khanacademy": _khanacademy_from_spec,
    "stanford_outline": _stanford_outline_from_spec,  # reads sources.stanford: the catalog
    "stanford": _stanford_from_spec,  # reads sources.stanford plus the generated 'outlines'
    "automathtext": _automathtext_from_spec,
    "ultrachat": _ultrachat_from_spec,
    "openhermes": _openhermes_from_spec,
}

# source name -> columns of results/seeds/{source}.parquet.
SEED_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "openstax": OPENSTAX_COLUMNS,
    "wikihow": WIKIHOW_COLUMNS,
    "web": WEB_SEED_COLUMNS,
    "khanacademy": KHANACADEMY_COLUMNS,
    "stanford_outline": STANFORD_COURSE_COLUMNS,
    "stanford": STANFORD_COLUMNS,
    "automathtext": AUTOMATHTEXT_COLUMNS,
    "ultrachat": ULTRACHAT_COLUMNS,
    "openhermes": OPENHERMES_COLUMNS,
}


def stanford_outline_spec(stanford_spec: dict) -> dict:
    """The spec of the pseudo-source ``stanford_outline`` (outline prompts) from ``sources.stanford``.

    Its prompt settings (shards, max_prompts, audiences) are the section's
    ``outline`` sub-section; ``courses`` is shared with ``stanford``.
    """
    return {**stanford_spec.get("outline", {}), "courses": stanford_spec["courses"]}


def seed_input_files(source: str, spec: dict) -> list[str]:
    """The files a source's seeds are read from, from its config section (for rule inputs and config checks).

    For ``stanford`` this is the catalog only: the generated outlines are
    another rule's outputs, which the workflow adds itself; ``web`` inputs are
    the web topic steps' business.
    """
    if source == "openstax":
        files = list(spec["books"])
        for book in spec["books"]:
            files += sorted(str(p) for p in Path(book).parent.parent.glob("modules/*/index.cnxml"))
        return files
    if source == "wikihow":
        return [spec["titles"]]
    if source == "khanacademy":
        return [spec["topics"]]
    if source in ("stanford", "stanford_outline"):
        return [spec["courses"]]
    if source == "web":
        from ..web import web_input_files

        return [str(p) for p in web_input_files(spec["inputs"])]
    if source in ("automathtext", "ultrachat", "openhermes"):
        return as_path_list(spec["files"], f"sources.{source}.files")
    raise InputError(f"config key 'sources.{source}': no seed input files known for this source")


def load_seeds(source: str, spec: dict) -> pl.DataFrame:
    """The seed table of `source` (rows in the input's natural order) from its config section `spec`.

    Raises InputError for an unknown source, a missing config key, or bad input files.
    """
    try:
        loader = SEED_LOADERS[source]
    except KeyError:
        known = ", ".join(sorted(SEED_LOADERS))
        raise InputError(f"config key 'sources.{source}': no seed loader for this source (known: {known})") from None
    return loader(spec)
