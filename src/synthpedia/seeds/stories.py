"""Story seeds: the first user turn of UltraChat and OpenHermes conversations.

Both sources feed the same five story styles; a seed is what someone asked.

- **UltraChat** (the "Questions about the world" part in the original): record
  files (see ``records.read_records``) whose records hold the conversation as
  ``data`` (a list of turns, the user's first), as ``messages`` (a list of
  ``{role, content}``) or just a ``question``.
- **OpenHermes** (OpenHermes-2.5): records with ``conversations``, a list of
  ``{from, value}`` turns (``from``: system, human/user, gpt/assistant), and
  optional ``source``, ``category`` and ``language``. Alpaca-style records
  ``{instruction, input, response}`` (GPTeacher, one of OpenHermes-2.5's own
  sources) are read as a conversation whose user turn is the instruction
  followed by its input. The original's filters apply, in this order, each row
  counted under the first that drops it: source (camelai, glaive-code-assist),
  category (rp, gtkm, coding, wordgame, riddle), language (English or unset is
  kept); all comparisons ignore case.

Blank first turns and repeats of a seed already read are skipped; every count
is logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS
from .records import read_records, record_error, text_field

log = logging.getLogger(__name__)

# The original's OpenHermes filters (compared case-insensitively).
DROPPED_ORIGINS = frozenset({"camelai", "glaive-code-assist"})
DROPPED_CATEGORIES = frozenset({"rp", "gtkm", "coding", "wordgame", "riddle"})
KEPT_LANGUAGES = frozenset({"english"})  # and unset (null or empty)

# The reasons a story record is dropped, in the order they are tested; counts use these names.
DROP_REASONS = ("source", "category", "language", "blank", "duplicate")

ULTRACHAT_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "question": pl.String,  # the user's first turn, as written (surrounding whitespace removed)
}
ULTRACHAT_COLUMNS = tuple(ULTRACHAT_SCHEMA)

OPENHERMES_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "prompt": pl.String,  # the user's first turn, as written (surrounding whitespace removed)
    "answer": pl.String,  # the assistant's first answer after it, or null when the record has none
    "origin": pl.String,  # the record's own 'source' (the dataset it came from), or null
    "category": pl.String,  # or null
    "language": pl.String,  # or null
}
OPENHERMES_COLUMNS = tuple(OPENHERMES_SCHEMA)
assert ULTRACHAT_COLUMNS[: len(SEED_COLUMNS)] == OPENHERMES_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS

_USER_ROLES = frozenset({"human", "user"})
_ASSISTANT_ROLES = frozenset({"gpt", "assistant", "bot", "model"})


def story_drop_reason(origin: str | None, category: str | None, language: str | None) -> str | None:
    """Which OpenHermes filter drops a record with these fields ("source", "category", "language"), or None."""
    if origin and origin.strip().casefold() in DROPPED_ORIGINS:
        return "source"
    if category and category.strip().casefold() in DROPPED_CATEGORIES:
        return "category"
    if language and language.strip() and language.strip().casefold() not in KEPT_LANGUAGES:
        return "language"
    return None


def _paths(paths, source: str) -> list:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise InputError(f"seeds/{source}: no input files given (config key 'sources.{source}.files' is empty)")
    return list(paths)


def _first_user_turn(turns, key: str, text_key: str, role_key: str, who: str, where: str, path) -> str:
    if not isinstance(turns, list):
        raise record_error(who, where, f"'{key}' is {type(turns).__name__}, expected a list of turns", path)
    for number, turn in enumerate(turns, start=1):
        turn_where = f"{where}, {key}[{number}]"
        role = text_field(turn, role_key, who, turn_where, path)
        if role.strip().casefold() in _USER_ROLES:
            return text_field(turn, text_key, who, turn_where, path)
    raise record_error(who, where, f"'{key}' has no turn from the user", path)


def _ultrachat_question(record, who: str, where: str, path) -> str:
    if not isinstance(record, dict):
        raise record_error(who, where, f"expected an object, found {type(record).__name__}", path)
    if "data" in record:
        turns = record["data"]
        if not isinstance(turns, list) or not turns:
            raise record_error(who, where, "'data' is not a non-empty list of turns", path)
        if not isinstance(turns[0], str):
            raise record_error(who, where, f"'data' turn 1 is {type(turns[0]).__name__}, expected a string", path)
        return turns[0]
    if "messages" in record:
        return _first_user_turn(record["messages"], "messages", "content", "role", who, where, path)
    if "question" in record:
        return text_field(record, "question", who, where, path)
    raise record_error(who, where, "has none of 'data', 'messages' or 'question'", path)


def read_ultrachat(paths: list[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """(seed rows with ULTRACHAT_COLUMNS in file order, counts of records read, kept and skipped by reason).

    ``seed_id`` is a hash of (source, question). Raises InputError naming the
    file and record for a missing or malformed file, or a record without a
    readable first user turn.
    """
    source, who = "ultrachat", "seeds/ultrachat"
    counts = Counter({reason: 0 for reason in ("read", "kept", "blank", "duplicate")})
    rows: list[dict] = []
    seen: set[str] = set()
    for path in _paths(paths, source):
        for where, record in read_records(path, who):
            counts["read"] += 1
            question = _ultrachat_question(record, who, where, path).strip()
            if not question:
                counts["blank"] += 1
                continue
            seed_id = stable_hash(source, question)
            if seed_id in seen:
                counts["duplicate"] += 1
                continue
            seen.add(seed_id)
            rows.append({"seed_id": seed_id, "source": source, "question": question})
    counts["kept"] = len(rows)
    return pl.DataFrame(rows, schema=ULTRACHAT_SCHEMA, orient="row"), dict(counts)


def _first_answer(turns: list, who: str, where: str, path) -> str | None:
    """The first assistant turn that follows the first user turn of `turns`, or None."""
    asked = False
    for number, turn in enumerate(turns, start=1):
        turn_where = f"{where}, conversations[{number}]"
        role = text_field(turn, "from", who, turn_where, path).strip().casefold()
        if role in _USER_ROLES:
            asked = True
        elif asked and role in _ASSISTANT_ROLES:
            return text_field(turn, "value", who, turn_where, path)
    return None


def _openhermes_fields(record, who: str, where: str, path) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(first user turn, first answer, origin, category, language) of an OpenHermes or Alpaca-style record."""
    if not isinstance(record, dict):
        raise record_error(who, where, f"expected an object, found {type(record).__name__}", path)
    if "conversations" in record:
        prompt = _first_user_turn(record["conversations"], "conversations", "value", "from", who, where, path)
        answer = _first_answer(record["conversations"], who, where, path)
    elif "instruction" in record:
        instruction = text_field(record, "instruction", who, where, path)
        extra = text_field(record, "input", who, where, path, required=False) or ""
        prompt = f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction
        answer = text_field(record, "response", who, where, path, required=False) or text_field(
            record, "output", who, where, path, required=False
        )
    else:
        raise record_error(who, where, "has neither 'conversations' nor 'instruction'", path)
    origin, category, language = (
        text_field(record, key, who, where, path, required=False) for key in ("source", "category", "language")
    )
    return prompt, answer, origin, category, language


def read_openhermes(paths: list[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """(seed rows with OPENHERMES_COLUMNS in file order, counts of records read, kept and dropped by reason).

    The reasons are DROP_REASONS: the three filters of the original, then blank
    and duplicate prompts. ``seed_id`` is a hash of (source, prompt). Raises
    InputError naming the file and record for a missing or malformed file, a
    record with neither ``conversations`` nor ``instruction``, a conversation
    without a user turn, or a field of the wrong type.
    """
    source, who = "openhermes", "seeds/openhermes"
    counts = Counter({reason: 0 for reason in ("read", "kept", *DROP_REASONS)})
    rows: list[dict] = []
    seen: set[str] = set()
    for path in _paths(paths, source):
        for where, record in read_records(path, who):
            counts["read"] += 1
            prompt, answer, origin, category, language = _openhermes_fields(record, who, where, path)
            reason = story_drop_reason(origin, category, language)
            if reason is None and not prompt.strip():
                reason = "blank"
            seed_id = stable_hash(source, prompt.strip())
            if reason is None and seed_id in seen:
                reason = "duplicate"
            if reason is not None:
                counts[reason] += 1
                continue
            seen.add(seed_id)
            rows.append(
                {
                    "seed_id": seed_id,
                    "source": source,
                    "prompt": prompt.strip(),
                    "answer": (answer or "").strip() or None,
                    "origin": origin or None,
                    "category": category or None,
                    "language": language or None,
                }
            )
    counts["kept"] = len(rows)
    return pl.DataFrame(rows, schema=OPENHERMES_SCHEMA, orient="row"), dict(counts)


def _log_and_check(source: str, frame: pl.DataFrame, counts: dict[str, int], paths) -> pl.DataFrame:
    dropped = ", ".join(f"{reason}={n}" for reason, n in counts.items() if reason not in ("read", "kept"))
    log.info("seeds/%s: kept %d of %d records; dropped: %s", source, counts["kept"], counts["read"], dropped)
    if frame.is_empty():
        raise InputError(
            f"seeds/{source}: no seeds left from {counts['read']} records (dropped: {dropped}) "
            f"({', '.join(map(str, _paths(paths, source)))})"
        )
    return frame


def load_ultrachat(paths: list[str]) -> pl.DataFrame:
    """UltraChat seeds (ULTRACHAT_COLUMNS); counts are logged. InputError also when no seed is left."""
    frame, counts = read_ultrachat(paths)
    return _log_and_check("ultrachat", frame, counts, paths)


def load_openhermes(paths: list[str]) -> pl.DataFrame:
    """OpenHermes seeds after the original's filters (OPENHERMES_COLUMNS); what each filter dropped is logged."""
    frame, counts = read_openhermes(paths)
    return _log_and_check("openhermes", frame, counts, paths)


def story_contexts(text: str, spec: dict, styles: tuple[str, ...]):
    """(style, variant, template variables) of each story prompt for one seed text."""
    from ..prompts import cut_text

    seed_text = cut_text(text, spec["extract_chars"])
    for style in styles:
        yield style, "plain", {"seed_text": seed_text}
