"""Seed loaders: each turns one source's real input format into a normalised table.

Which module loads which source is the source registry's business
(synthpedia.registry): every loader module defines `COLUMNS`,
`load_seeds(spec, reads)` and `prompt_contexts(row, spec, seed, styles)`.
Every table starts with SEED_COLUMNS (``seed_id``, ``source``) followed by the
source's own fields; rows keep the input's natural order (book order for
OpenStax, tree order for Khan Academy, file order for the others), so the same
files give the same table.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

import polars as pl

from ..errors import InputError
from ..registry import registry
from ..tables import SEED_COLUMNS


def loader_module(source: str) -> ModuleType:
    """The loader module the registry names for `source` (InputError for an unknown source)."""
    known = registry()
    if source not in known:
        raise InputError(f"config key 'sources.{source}': no such source (known: {', '.join(sorted(known))})")
    return import_module(known[source].module)


def load_seeds(source: str, spec: dict, reads: dict[str, list[str]] | None = None) -> pl.DataFrame:
    """The seed table of `source` (rows in the input's natural order).

    `spec` is the source's settings (registry.source_spec), `reads` the
    workflow-made files its registry record names (name -> paths). The table's
    columns are checked against the loader's COLUMNS. Raises InputError for an
    unknown source or bad input files.
    """
    module = loader_module(source)
    record = registry()[source]
    for name in record.inputs:
        if name not in spec:
            raise InputError(f"config key 'sources.{record.section}.{name}' is required")
    frame = module.load_seeds(spec, reads or {})
    columns = tuple(module.COLUMNS)
    if columns[: len(SEED_COLUMNS)] != SEED_COLUMNS or tuple(frame.columns) != columns:
        raise InputError(f"seeds/{source}: loader returned columns {frame.columns}, expected {list(columns)}")
    return frame


def seeds_job(source: str, spec: dict, reads: dict[str, list[str]], out_seeds: str) -> None:
    """The seeds rule: the seed table of `source` written atomically to `out_seeds`."""
    from ..io import write_parquet

    write_parquet(load_seeds(source, spec, reads), out_seeds)
