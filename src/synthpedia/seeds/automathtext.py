"""AutoMathText seeds: extracts of mathematical web text.

Input: record files (JSONL, JSON array or parquet; see ``records.read_records``)
with a ``text`` and optionally a ``url`` and a ``meta`` object, as in the
AutoMathText dataset. Each record gives one seed: its text cut to
`extract_chars` characters (the original used 1000) at a word boundary, with
line breaks kept (displayed formulas and lists depend on them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS
from .records import cut_extract, read_records, record_error, text_field

log = logging.getLogger(__name__)

SOURCE = "automathtext"

# results/seeds/automathtext.parquet, in this order.
AUTOMATHTEXT_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "url": pl.String,  # null when the record gives none
    "meta": pl.String,  # the record's meta object as JSON (keys sorted), or null
    "extract": pl.String,  # the text cut to extract_chars
}
AUTOMATHTEXT_COLUMNS = tuple(AUTOMATHTEXT_SCHEMA)
assert AUTOMATHTEXT_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS


def load_automathtext(paths: list[str], extract_chars: int | None) -> pl.DataFrame:
    """Read math text records into one row per extract (columns: AUTOMATHTEXT_COLUMNS), in file order.

    ``seed_id`` is a hash of (source, url, extract). Records whose text is
    blank and repeats of an extract already read (same url and extract) are
    skipped and counted in the log. Raises InputError naming the file and the
    record for: a missing or malformed file, a record that is not an object,
    has no ``text`` or a ``text``/``url`` that is not a string, or a ``meta``
    that is not an object; and when no extract is left.
    """
    who = "seeds/automathtext"
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError(f"{who}: no input files given (config key 'sources.automathtext.files' is empty)")
    rows: list[dict] = []
    seen: set[str] = set()
    skipped = {"blank": 0, "duplicate": 0}
    for path in paths:
        for where, record in read_records(path, who):
            text = text_field(record, "text", who, where, path)
            url = text_field(record, "url", who, where, path, required=False)
            meta = record.get("meta")
            if meta is not None and not isinstance(meta, dict):
                raise record_error(who, where, f"'meta' is {type(meta).__name__}, expected an object", path)
            extract = cut_extract(text, extract_chars)
            if not extract:
                skipped["blank"] += 1
                continue
            seed_id = stable_hash(SOURCE, url, extract)
            if seed_id in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(seed_id)
            rows.append(
                {
                    "seed_id": seed_id,
                    "source": SOURCE,
                    "url": url or None,
                    "meta": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str) if meta else None,
                    "extract": extract,
                }
            )
    if not rows:
        raise InputError(f"{who}: no text in the input files ({', '.join(map(str, paths))})")
    log.info("%s: %d extracts; skipped: %s", who, len(rows), ", ".join(f"{k}={v}" for k, v in skipped.items()))
    return pl.DataFrame(rows, schema=AUTOMATHTEXT_SCHEMA, orient="row")

# ----------------------------------------------------------------------------- registry interface

COLUMNS = AUTOMATHTEXT_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The automathtext seed table from config section `sources.automathtext`."""
    return load_automathtext(spec["files"], spec["extract_chars"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One prompt per style; the seed table holds the extract already cut (extract_chars)."""
    for style in styles:
        yield style, "plain", {"extract": row["extract"]}
