"""Reading record files (JSON, JSONL, parquet) for the seed loaders, with errors that name file and record.

Shared by the loaders whose inputs are rows of fields (AutoMathText, UltraChat,
OpenHermes, the Stanford catalog in JSONL): one reader, one way of naming a
record in an error ("line 3" of a JSONL file, "record 3" of a JSON array,
"row 3" of a parquet or CSV file; all 1-based).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ..errors import InputError

# A file's format is told by its suffix (a trailing .gz is read through gzip).
RECORD_SUFFIXES = (".jsonl", ".json", ".parquet")


def normalise_space(text: str) -> str:
    """`text` with surrounding and repeated whitespace (newlines included) reduced to single spaces."""
    return " ".join(text.split())


def cut_extract(text: str, max_chars: int | None) -> str:
    """`text` cut to at most `max_chars` characters at a word boundary when one is near, line breaks kept.

    Spaces inside a line are kept as written (mathematics and code can depend on
    them); trailing spaces and runs of blank lines are removed.
    """
    lines = [line.rstrip() for line in text.strip().splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    text = "\n".join(kept).strip()
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary >= max_chars // 2:
        cut = cut[:boundary]
    return cut.rstrip()


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _read_text(path: Path, who: str) -> str:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rt", encoding="utf-8-sig") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{who}: file not found ({path})") from None
    except UnicodeDecodeError:
        raise InputError(f"{who}: file is not valid UTF-8 ({path})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{who}: cannot read file: {getattr(exc, 'strerror', None) or exc} ({path})") from None


def read_records(path: str | Path, who: str) -> Iterator[tuple[str, object]]:
    """(record name, record) for every record of a .jsonl, .json or .parquet file (optionally .gz), in file order.

    `who` starts every error message (e.g. "seeds/openhermes"). A JSON file
    holds an array of records; a JSONL file one record per non-blank line.
    Records are returned as parsed: the caller checks that each is an object
    with the fields it needs (see `record_error`). Raises InputError naming the
    file (and the line, for bad JSON) for a missing, unreadable or malformed
    file or an unknown suffix.
    """
    path = Path(path)
    kind = _suffix(path)
    if kind == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except FileNotFoundError:
            raise InputError(f"{who}: file not found ({path})") from None
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(f"{who}: not a readable parquet file: {exc} ({path})") from None
        for number, row in enumerate(frame.iter_rows(named=True), start=1):
            yield f"row {number}", row
    elif kind == ".jsonl":
        for number, line in enumerate(_read_text(path, who).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{who}: line {number} is not valid JSON: {exc.msg} ({path})") from None
    elif kind == ".json":
        try:
            data = json.loads(_read_text(path, who))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{who}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} ({path})"
            ) from None
        if not isinstance(data, list):
            raise InputError(f"{who}: expected a JSON array of records, found {type(data).__name__} ({path})")
        for number, record in enumerate(data, start=1):
            yield f"record {number}", record
    else:
        raise InputError(
            f"{who}: unknown file type '{path.suffix}', expected one of {', '.join(RECORD_SUFFIXES)} "
            f"(optionally .gz) ({path})"
        )


def record_error(who: str, where: str, problem: str, path: str | Path) -> InputError:
    """The error for one bad record: '<who>: <where>: <problem> (<path>)'."""
    return InputError(f"{who}: {where}: {problem} ({path})")


def text_field(record: object, key: str, who: str, where: str, path, *, required: bool = True) -> str | None:
    """`record[key]` as a string; None when absent or null and not required.

    Raises InputError naming file, record and key when the record is not an
    object, the key is missing (and required) or its value is not a string.
    """
    if not isinstance(record, dict):
        raise record_error(who, where, f"expected an object, found {type(record).__name__}", path)
    value = record.get(key)
    if value is None:
        if required:
            raise record_error(who, where, f"has no '{key}'", path)
        return None
    if not isinstance(value, str):
        raise record_error(who, where, f"'{key}' is {type(value).__name__}, expected a string", path)
    return value


def last_items(values, keep: int) -> list:
    """The last `keep` of `values` (None counts as empty; keep 0 gives none): e.g. units already covered."""
    return list(values or [])[-keep:] if keep else []
