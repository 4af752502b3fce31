"""WikiHow seeds: article titles, optionally with their wikiHow category.

Two formats, told apart by the file suffix:

- ``.txt``: one title per line.
- ``.tsv``: ``title<TAB>category`` per line. A first line naming the columns
  (``title`` and ``category``, in either order) is a header and sets the column
  order; without one, the title comes first. The category may be empty.

Titles are kept as written (only surrounding and repeated whitespace is
removed); blank lines are skipped; a title seen before is skipped (the first
one, with its category, is kept).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS

log = logging.getLogger(__name__)

SOURCE = "wikihow"

# results/seeds/wikihow.parquet, in this order.
WIKIHOW_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "title": pl.String,
    "category": pl.String,  # null when the file gives none
}
WIKIHOW_COLUMNS = tuple(WIKIHOW_SCHEMA)
assert WIKIHOW_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS


def _normalise_space(text: str) -> str:
    return " ".join(text.split())


def _read_lines(path: Path) -> list[str]:
    try:
        # utf-8-sig: a byte-order mark written by a spreadsheet is not part of the first title.
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError(f"seeds/wikihow: titles file not found ({path})") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise InputError(f"seeds/wikihow: line {line} is not valid UTF-8 ({path})") from None
    except OSError as exc:
        raise InputError(f"seeds/wikihow: cannot read titles file: {exc.strerror} ({path})") from None


def _tsv_columns(first_line: str) -> tuple[int, int] | None:
    """(title column, category column) if `first_line` is a header naming them, else None."""
    names = [_normalise_space(field).lower() for field in first_line.split("\t")]
    if "title" in names and "category" in names and len(names) == 2:
        return names.index("title"), names.index("category")
    return None


def load_wikihow(path: str) -> pl.DataFrame:
    """Read wikiHow titles from a .txt or .tsv file into rows (columns: WIKIHOW_COLUMNS), in file order.

    ``seed_id`` is a hash of (source, title). Raises InputError naming the file
    and line for: a missing or non-UTF-8 file, a TSV line with an empty title
    or more than two fields, and a file without any title.
    """
    path = Path(path)
    lines = _read_lines(path)
    is_tsv = path.suffix.lower() == ".tsv"
    title_col, category_col = 0, 1
    first = 0
    if is_tsv and lines:
        header = _tsv_columns(lines[0])
        if header is not None:
            title_col, category_col = header
            first = 1

    rows: list[dict] = []
    seen: set[str] = set()
    duplicates = 0
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        if is_tsv:
            fields = line.split("\t")
            if len(fields) > 2:
                raise InputError(
                    f"seeds/wikihow: line {number} has {len(fields)} tab-separated fields, expected title and "
                    f"category ({path})"
                )
            fields += [""] * (2 - len(fields))
            title = _normalise_space(fields[title_col])
            category = _normalise_space(fields[category_col]) or None
            if not title:
                raise InputError(f"seeds/wikihow: line {number} has an empty title ({path})")
        else:
            title, category = _normalise_space(line), None
        if title in seen:
            duplicates += 1
            continue
        seen.add(title)
        rows.append(
            {"seed_id": stable_hash(SOURCE, title), "source": SOURCE, "title": title, "category": category}
        )
    if not rows:
        raise InputError(f"seeds/wikihow: no titles in file ({path})")
    if duplicates:
        log.info("seeds/wikihow: %d duplicate titles skipped (%s)", duplicates, path)
    return pl.DataFrame(rows, schema=WIKIHOW_SCHEMA, orient="row")

# ----------------------------------------------------------------------------- registry interface

COLUMNS = WIKIHOW_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The wikihow seed table from config section `sources.wikihow`."""
    return load_wikihow(spec["titles"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One wikiHow article prompt per title."""
    yield "wikihow", "plain", {"title": row["title"], "category": row.get("category") or ""}
