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
import re
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


# NUL and other control characters (C0, DEL, C1) that a title never means to hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Header names: the title column, the category column, and other columns a header may have.
_TITLE_NAMES = frozenset({"title", "titles", "article", "article_title", "article title", "name", "question"})
_CATEGORY_NAMES = frozenset({"category", "categories", "topic", "section", "category_path", "category path"})
_OTHER_NAMES = frozenset({"id", "url", "link", "views", "rank", "language", "lang", "date", "text", "summary"})


def _normalise_space(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


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


def _tsv_columns(first_line: str, path: Path) -> tuple[int, int | None, int] | None:
    """(title column, category column or None, number of columns) if `first_line` is a header, else None.

    A header names its columns (any order, any case, other columns allowed):
    a line whose fields are all known column names. A header without a title
    column is an error naming the file and line 1.
    """
    names = [_normalise_space(field).lower() for field in first_line.split("\t")]
    known = _TITLE_NAMES | _CATEGORY_NAMES | _OTHER_NAMES
    if not all(name in known for name in names):
        return None
    titles = [i for i, name in enumerate(names) if name in _TITLE_NAMES]
    categories = [i for i, name in enumerate(names) if name in _CATEGORY_NAMES]
    if not titles:
        raise InputError(
            f"seeds/wikihow: line 1 is a header without a title column (it has: {', '.join(names)}); "
            f"name one 'title' (config key 'sources.wikihow.titles') ({path})"
        )
    return titles[0], (categories[0] if categories else None), len(names)


def load_wikihow(path: str) -> pl.DataFrame:
    """Read wikiHow titles from a .txt or .tsv file into rows (columns: WIKIHOW_COLUMNS), in file order.

    A .tsv file may start with a header naming its columns in any order (title,
    category and others such as url or id, which are ignored); without one, its
    lines are title<TAB>category. NUL and other control characters are removed
    from titles and categories. ``seed_id`` is a hash of (source, title). Raises
    InputError naming the file and line for: a missing or non-UTF-8 file, a
    header without a title column, a TSV line with an empty title or more fields
    than the header (two without a header), and a file without any title.
    """
    path = Path(path)
    lines = _read_lines(path)
    is_tsv = path.suffix.lower() == ".tsv"
    title_col, category_col, width = 0, 1, 2
    first = 0
    if is_tsv and lines:
        header = _tsv_columns(lines[0], path)
        if header is not None:
            title_col, category_col, width = header
            first = 1

    rows: list[dict] = []
    seen: set[str] = set()
    duplicates = 0
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        if is_tsv:
            fields = line.split("\t")
            if len(fields) > width:
                expected = "title and category" if first == 0 else f"{width}, as in the header"
                raise InputError(
                    f"seeds/wikihow: line {number} has {len(fields)} tab-separated fields, expected {expected} ({path})"
                )
            fields += [""] * (width - len(fields))
            title = _normalise_space(fields[title_col])
            category = _normalise_space(fields[category_col]) or None if category_col is not None else None
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
