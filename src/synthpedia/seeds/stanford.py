"""Stanford seeds, in two steps: course catalog -> outline prompts, generated outlines -> unit seeds.

1. ``load_stanford_courses``: a course catalog (CSV with a header, or JSONL /
   JSON / parquet records) with a ``title`` and a ``description`` per course
   and an optional ``code`` ("CS 106A"), or ``subject`` and ``number`` columns
   that make one. One seed per course: the seeds of the
   pseudo-source ``stanford_outline``, whose prompts ask an LLM for the
   course's outline as a numbered list of units.
2. ``outline_unit_seeds``: the generated outlines (``seed_id`` of the course and
   ``text``) -> one seed per unit, for source ``stanford``. The outline prompt
   asks for two levels (sections, then units), as the original did;
   ``parse_outline_sections`` reads them and, in place of the original's second
   LLM pass, filters deterministically what is not subject matter (logistics,
   assessments, staff) and what is not a unit title (sentences, "4-5 units").
"""

from __future__ import annotations

import csv
import html
import io
import logging
import re
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS
from .outlines import parse_outline_sections
from .records import last_items, normalise_space, read_records, text_field

log = logging.getLogger(__name__)

SOURCE = "stanford"
OUTLINE_SOURCE = "stanford_outline"

# results/seeds/stanford_outline.parquet: one row per course of the catalog, in file order.
STANFORD_COURSE_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,  # "stanford_outline"
    "code": pl.String,  # null when the catalog gives none
    "course": pl.String,
    "description": pl.String,
}
STANFORD_COURSE_COLUMNS = tuple(STANFORD_COURSE_SCHEMA)
assert STANFORD_COURSE_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS

# results/seeds/stanford.parquet: one row per unit of a generated outline.
STANFORD_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,  # "stanford"
    "course_seed_id": pl.String,  # the course's seed_id in stanford_outline
    "code": pl.String,
    "course": pl.String,
    "section": pl.String,  # the outline section the unit belongs to ("" for a one-level outline)
    "unit": pl.String,
    "unit_index": pl.Int32,  # 1-based position in the outline, after filtering
    "previous_units": pl.List(pl.String),  # titles of the outline's units before it
}
STANFORD_COLUMNS = tuple(STANFORD_SCHEMA)
assert STANFORD_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS

_FIELD_ALIASES = {
    "title": ("title", "course", "name"),
    "description": ("description",),
    "code": ("code", "course_code", "course code"),
    "subject": ("subject", "department", "dept"),
    "number": ("number", "catalog_number", "catalog number", "course_number", "course number"),
}
# A cross-listing stub stands for a course described under another code: "Same as PS 201. See PS 201."
_STUB = re.compile(
    r"^\(?(?:same\s+as|see|cross[- ]?listed\s+(?:as|with)|also\s+(?:listed|offered)\s+as|identical\s+to)\b",
    re.IGNORECASE,
)
_STUB_MAX_WORDS = 20


def is_cross_listing_stub(description: str) -> bool:
    """Whether a course description only points to the same course under another code."""
    return bool(_STUB.match(description)) and len(description.split()) <= _STUB_MAX_WORDS


class BadRecord(Exception):
    """One catalog record that cannot be read; raised or skipped by the on_bad_record policy."""


# ---- step 1: the catalog ---------------------------------------------------------------------


def _catalog_records(path: Path, who: str):
    """(record name, dict) of a CSV catalog (header line required) or a record file."""
    if path.suffix.lower() != ".csv":
        yield from read_records(path, who)
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{who}: course catalog not found ({path})") from None
    except UnicodeDecodeError:
        raise InputError(f"{who}: course catalog is not valid UTF-8 ({path})") from None
    except OSError as exc:
        raise InputError(f"{who}: cannot read course catalog: {exc.strerror} ({path})") from None
    # strict: a file cut off inside a quoted field is an error, not a silently shortened description.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [normalise_space(name).lower() for name in next(reader)]
    except StopIteration:
        raise InputError(f"{who}: course catalog is empty ({path})") from None
    except csv.Error as exc:
        raise InputError(f"{who}: the header (line 1) is not valid CSV: {exc} ({path})") from None
    for key in ("title", "description"):
        if not set(_FIELD_ALIASES[key]) & set(header):
            raise InputError(
                f"{who}: the header (line 1) has no '{key}' column (it has: {', '.join(header)}); "
                f"config key 'sources.stanford.courses' ({path})"
            )
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"{who}: line {start}: {exc}; is the file cut off inside a quoted field? ({path})"
            ) from None
        if not any(field.strip() for field in fields):
            continue
        where = f"line {start}" if reader.line_num == start else f"lines {start}-{reader.line_num}"
        if len(fields) != len(header):
            yield where, BadRecord(f"has {len(fields)} fields, the header has {len(header)}")
            continue
        yield where, dict(zip(header, fields))


def _field(record, key: str, who: str, where: str, path: Path, *, required: bool) -> str | None:
    for alias in _FIELD_ALIASES[key]:
        if isinstance(record, dict) and record.get(alias) is not None:
            value = text_field(record, alias, who, where, path)
            return normalise_space(html.unescape(value)) or None
    if required:
        text_field(record, key, who, where, path)  # raises: not an object, or no such key
    return None


def _course(record, who: str, where: str, path: Path) -> dict:
    """Title, description and code of one catalog record; BadRecord when it has no usable title or description."""
    if isinstance(record, BadRecord):
        raise record
    try:
        title = _field(record, "title", who, where, path, required=True)
        description = _field(record, "description", who, where, path, required=True)
    except InputError as exc:
        raise BadRecord(str(exc).split(f"{where}: ", 1)[-1].rsplit(f" ({path})", 1)[0]) from None
    if not title:
        raise BadRecord("has an empty 'title'")
    if not description:
        raise BadRecord(f"course '{title}' has an empty 'description'")
    code = _field(record, "code", who, where, path, required=False)
    if code is None:
        subject = _field(record, "subject", who, where, path, required=False)
        number = _field(record, "number", who, where, path, required=False)
        if subject and number:
            code = f"{subject} {number}"
    return {"title": title, "description": description, "code": code}


def load_stanford_courses(path: str | Path, on_bad_record: str) -> pl.DataFrame:
    """Read a course catalog into one row per course (columns: STANFORD_COURSE_COLUMNS), in file order.

    CSV needs a header naming ``title`` (or ``course``) and ``description``
    columns, in any order, and may have a ``code`` column, or ``subject`` and
    ``number`` columns that make the code, and others (ignored). HTML entities
    in the fields are unescaped (``&amp;`` -> ``&``).

    A course is identified by its code and title, and by its description too
    when the catalog has no code: two courses named "Independent Study" in two
    departments stay two courses. A course seen before is skipped and counted.
    Cross-listing stubs ("Same as PS 201. See PS 201.") are dropped and counted.
    ``seed_id`` is a hash of that identity.

    A record without title or description, or a CSV line with the wrong number
    of fields, is a bad record: with `on_bad_record` "error" it raises
    InputError naming the file and the line; with "skip" it is logged with its
    line and counted. A header without a title or description column, a file
    cut off inside a quoted field, a missing or malformed file and an empty
    catalog always raise InputError naming the file.
    """
    path = Path(path)
    who = "seeds/stanford"
    if on_bad_record not in {"error", "skip"}:
        raise InputError(f"{who}: config key 'sources.stanford.on_bad_record' is '{on_bad_record}', expected error or skip")
    rows: list[dict] = []
    seen: set[str] = set()
    duplicates = stubs = skipped = 0
    for where, record in _catalog_records(path, who):
        try:
            course = _course(record, who, where, path)
        except BadRecord as exc:
            if on_bad_record == "error":
                raise InputError(
                    f"{who}: {where}: {exc} (config key sources.stanford.on_bad_record is 'error'; "
                    f"'skip' would skip it) ({path})"
                ) from None
            skipped += 1
            log.warning("%s: %s skipped: %s (%s)", who, where, exc, path)
            continue
        if is_cross_listing_stub(course["description"]):
            stubs += 1
            log.info("%s: %s: cross-listing stub '%s' dropped (%s)", who, where, course["description"], path)
            continue
        identity = (course["code"], course["title"]) if course["code"] else (None, course["title"], course["description"])
        seed_id = stable_hash(OUTLINE_SOURCE, *identity)
        if seed_id in seen:
            duplicates += 1
            continue
        seen.add(seed_id)
        rows.append(
            {
                "seed_id": seed_id,
                "source": OUTLINE_SOURCE,
                "code": course["code"],
                "course": course["title"],
                "description": course["description"],
            }
        )
    if not rows:
        raise InputError(f"{who}: no courses in the catalog ({path})")
    log.info(
        "%s: %d courses; %d bad records skipped, %d cross-listing stubs dropped, %d duplicates skipped (%s)",
        who,
        len(rows),
        skipped,
        stubs,
        duplicates,
        path,
    )
    return pl.DataFrame(rows, schema=STANFORD_COURSE_SCHEMA, orient="row")


def outline_unit_seeds(catalog_seeds: pl.DataFrame, outlines: pl.DataFrame) -> pl.DataFrame:
    """One row per unit of each generated outline (columns: STANFORD_COLUMNS), in catalog then outline order.

    `catalog_seeds` is the stanford_outline seed table (load_stanford_courses);
    `outlines` has a ``seed_id`` (the course's) and the outline ``text``, e.g.
    the outline generation shards; with a ``prompt_id`` column, several outlines
    of one course are read in prompt-id order, otherwise in the given order. A
    unit title already seen for the same course is skipped; previous units are
    those of the same outline. ``seed_id`` is a hash of (source, course seed id,
    unit title, unit index). Outlines without any unit are skipped and logged.
    Raises InputError for missing columns or an outline of an unknown course.
    """
    who = "seeds/stanford"
    for frame, name, needed in (
        (catalog_seeds, "course catalog seeds", ("seed_id", "code", "course")),
        (outlines, "outlines", ("seed_id", "text")),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"{who}: {name} lack the column(s) {', '.join(missing)}")
    courses = {row["seed_id"]: row for row in catalog_seeds.iter_rows(named=True)}
    order = {seed_id: i for i, seed_id in enumerate(courses)}
    unknown = [s for s in outlines["seed_id"].unique(maintain_order=True) if s not in courses]
    if unknown:
        raise InputError(f"{who}: outline of seed_id '{unknown[0]}' matches no course of the catalog")
    outlines = outlines.with_row_index("_given")
    outlines = outlines.with_columns(pl.col("seed_id").replace_strict(order, return_dtype=pl.Int64).alias("_course"))
    sort_by = ["_course", "prompt_id"] if "prompt_id" in outlines.columns else ["_course", "_given"]
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    empty = 0
    for outline in outlines.sort(sort_by).iter_rows(named=True):
        course = courses[outline["seed_id"]]
        sections = parse_outline_sections(outline["text"] or "")
        if not sections:
            empty += 1
            continue
        units = [unit for _, unit in sections]
        for index, (section, unit) in enumerate(sections, start=1):
            key = (course["seed_id"], unit.casefold())
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "seed_id": stable_hash(SOURCE, course["seed_id"], unit, index),
                    "source": SOURCE,
                    "course_seed_id": course["seed_id"],
                    "code": course["code"],
                    "course": course["course"],
                    "section": section,
                    "unit": unit,
                    "unit_index": index,
                    "previous_units": units[: index - 1],
                }
            )
    if empty:
        log.info("%s: %d outlines without any unit skipped", who, empty)
    log.info("%s: %d units from %d outlines", who, len(rows), outlines.height)
    return pl.DataFrame(rows, schema=STANFORD_SCHEMA, orient="row") if rows else pl.DataFrame(schema=STANFORD_SCHEMA)


def read_outlines(paths: list[str]) -> pl.DataFrame:
    """``seed_id``, ``text`` (and ``prompt_id`` when present) of outline files: parquet generation shards or records.

    Raises InputError naming the file and record for a record without
    ``seed_id`` or ``text``.
    """
    who = "seeds/stanford"
    rows: list[dict] = []
    for path in paths:
        for where, record in read_records(path, who):
            rows.append(
                {
                    "seed_id": text_field(record, "seed_id", who, where, path),
                    "text": text_field(record, "text", who, where, path),
                    "prompt_id": text_field(record, "prompt_id", who, where, path, required=False),
                }
            )
    return pl.DataFrame(rows, schema={"seed_id": pl.String, "text": pl.String, "prompt_id": pl.String}, orient="row")


def load_stanford_units(courses: str | Path, outline_paths: list[str], on_bad_record: str) -> pl.DataFrame:
    """Unit seeds (STANFORD_COLUMNS) from the catalog file and the generated outline files."""
    outlines = read_outlines(outline_paths)
    if outlines["prompt_id"].null_count() == outlines.height:
        outlines = outlines.drop("prompt_id")
    return outline_unit_seeds(load_stanford_courses(courses, on_bad_record), outlines)

# ----------------------------------------------------------------------------- registry interface

COLUMNS = STANFORD_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """Unit seeds from `sources.stanford.courses` and the generated outline shards (`reads["outlines"]`)."""
    if not reads.get("outlines"):
        raise InputError("seeds/stanford: no 'outlines' given (the outline generation shards, made by the workflow)")
    return load_stanford_units(spec["courses"], list(reads["outlines"]), spec["on_bad_record"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One textbook chapter prompt per unit of an outline, with the units already covered."""
    previous = last_items(row["previous_units"], spec["max_previous_units"])
    yield "textbook", "plain", {
        "course": row["course"],
        "section": row.get("section") or "",
        "unit": row["unit"],
        "previous_units": previous,
    }
