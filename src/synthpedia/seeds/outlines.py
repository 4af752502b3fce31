"""Generated course outlines -> unit titles: reading them and the filtering pass.

A two-level outline (sections, then units) is read from JSON (what the outline
step asks for with constrained decoding), from cut-off JSON, or from numbered
and indented text; the filtering pass drops logistics, assessments and staff,
counts ("4-5 units") and sentences, in place of the original's second LLM pass.
"""

from __future__ import annotations

import json
import re

from .records import normalise_space

# ---- step 2: outlines -> units ---------------------------------------------------------------

# A unit line: optional heading marks or bold, an optional word like "Unit", a number (arabic or
# roman) closed by ".", ")" or ":" (or followed by a dash), then the title. Sub-items ("1.1", "a)",
# indented bullets) do not match: they are details of a unit, not units.
_NUMBERED = re.compile(
    r"""^\s{0,3}(?:\#{1,6}\s*)?(?:[*_]{1,2})?
        (?:(?:unit|module|chapter|week|lecture|part|section|topic|lesson)\s+)?
        (?:\d{1,2}(?:\s*[-–]\s*\d{1,2})?|[ivxlc]{1,6})(?:[.):]|\s*[-–—])(?!\d)\s*(?P<title>.+)$""",
    re.IGNORECASE | re.VERBOSE,
)
_BULLET = re.compile(r"^[-*•]\s+(?P<title>.+)$")
_WORD_PREFIX = re.compile(
    r"^(?:unit|module|chapter|week|lecture|part|section|topic|lesson)\s+(?:\d{1,2}|[ivxlc]{1,6})\s*[:.\-–—]\s*",
    re.IGNORECASE,
)
_BOLD = re.compile(r"^(?:\*\*|__)(?P<bold>[^*_]+?)(?:\*\*|__)\s*[:.\-–—]?\s*(?P<rest>.*)$")
# "Title: a sentence describing it" or "Title - description": the title is the part before.
_DESCRIPTION_SPLIT = re.compile(r"\s*(?::|\s[-–—])\s+")

# Outline entries that are logistics, assessments or staff details, not subject matter to teach.
# Words that are also subject matter in some course ("logistics", "calendar", "participation",
# "registration", "examination") are only matched in phrases that leave no doubt.
LOGISTICS_PATTERN = re.compile(
    r"""\b(?:
        office\ hours? | grading | grades | grade\ (?:breakdown|distribution) | exams? | midterms? |
        final\ (?:exam|project|review|presentation)s? | quiz(?:zes)? | homeworks? | problem\ sets? | psets? |
        assignments | assignment\ \d+ | syllabus | instructors? | teaching\ assistants? | course\ staff |
        prerequisites? | pre-requisites? | textbooks? | required\ (?:readings?|texts?|materials?) |
        course\ materials? | reading\ list | schedule | deadlines? | due\ dates? | attendance |
        class\ participation | late\ (?:policy|policies|submissions?|work|days) | academic\ (?:integrity|honesty) |
        honor\ code | course\ (?:policies|policy|logistics|information|requirements|description|objectives|structure) |
        learning\ (?:objectives|outcomes) | contact\ information | review\ sessions? | evaluation\ criteria |
        assessment\ (?:methods?|criteria)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
# Teaching assistants are "TA"/"TAs": matched case-sensitively so that no word is mistaken for them.
_TA_PATTERN = re.compile(r"\bTAs?\b")
# Whole entries that are logistics on their own.
_LOGISTICS_TITLES = frozenset({"logistics", "administrivia", "housekeeping", "course overview and logistics"})


# Second-level entries of a two-level outline: "1.2 Title", "a) Title", or an indented bullet.
_SUBUNIT = re.compile(
    r"^\s*(?:[-*•]\s+)?(?:\#{1,6}\s*)?(?:[*_]{1,2})?(?:\d{1,2}\.\d{1,2}\.?|[a-h][.)])\s+(?P<title>.+)$"
)
_INDENTED_BULLET = re.compile(r"^\s{2,}[-*•]\s+(?P<title>.+)$")
# A unit title is a short noun phrase: not a count of units ("4-5 units"), nor a sentence the model
# wrote around the list ("This course covers the main ideas of ...").
UNIT_TITLE_MAX_WORDS = 12
_COUNT_OF_UNITS = re.compile(
    r"^\d+\s*(?:[-–]|to)?\s*\d*\s+(?:units?|sections?|weeks?|lectures?|sessions?|modules?|chapters?)\b", re.I
)
_CHATTER = re.compile(r"^(?:here\s+is|here's|this\s+(?:course|outline)|in\s+this\s+course|the\s+course|note\b|sure\b)", re.I)


def is_unit_title(title: str) -> bool:
    """Whether an outline entry reads as a unit title: 1 to 12 words, not a count of units, not a sentence."""
    words = title.split()
    if not 1 <= len(words) <= UNIT_TITLE_MAX_WORDS:
        return False
    if _COUNT_OF_UNITS.match(title) or _CHATTER.match(title):
        return False
    # A full sentence: a stop inside it, or a long line ending with one.
    return not (re.search(r"[.!?]\s+[A-Z]", title) or (title.endswith(".") and len(words) >= 8))


def is_logistics(entry: str) -> bool:
    """Whether an outline entry is about logistics, assessments or staff rather than subject matter."""
    return bool(
        LOGISTICS_PATTERN.search(entry)
        or _TA_PATTERN.search(entry)
        or normalise_space(entry).strip(" .:*_#").casefold() in _LOGISTICS_TITLES
    )


def _clean_title(raw: str) -> str:
    text = normalise_space(raw)
    text = _WORD_PREFIX.sub("", text)
    bold = _BOLD.match(text)
    if bold:
        text = bold.group("bold")
    else:
        parts = _DESCRIPTION_SPLIT.split(text, maxsplit=1)
        if len(parts) == 2 and len(parts[1].split()) >= 5:
            text = parts[0]
    text = text.replace("**", "").replace("__", "").strip(" *_#:.-–—\"'“”")
    return normalise_space(text)


def parse_outline_sections(text: str) -> list[tuple[str, str]]:
    """(section, unit) of each unit of a generated course outline, in order, after the filtering pass.

    A two-level outline (numbered sections, each with "1.1"-style, lettered or
    indented sub-entries) gives its sub-entries as units, under their section;
    it is read that way when at least half its sections have sub-entries. A
    section without any keeps its own title as its one unit. Otherwise the
    outline is one level: its numbered lines ("1. Title", "Unit 2: Title",
    "## 3) Title", "**IV. Title**"), or without those its unindented bullets,
    are the units, with section "".

    An outline given as JSON (``outline_from_json``) is read as two levels.

    The filtering pass (deterministic, in place of the original's second LLM
    pass): a section about logistics, assessments or staff (``is_logistics``)
    is dropped with its units; so is any unit that is about them, that is not
    a unit title (``is_unit_title``: a 1-12 word phrase, not "4-5 units", not
    a sentence), or that repeats a title already kept (case-insensitively).
    """
    lines = (text or "").splitlines()
    numbered = [(i, m) for i, m in ((i, _NUMBERED.match(line)) for i, line in enumerate(lines)) if m]
    entries: list[tuple[str, str, str]] = []  # (section title, raw unit, cleaned unit)
    sections_with_units = 0
    structured = outline_from_json(text)
    if structured is not None:
        for raw_section, subs in structured:
            section = _clean_title(raw_section)
            if not section or is_logistics(section) or is_logistics(raw_section):
                continue
            entries += [(section, raw, _clean_title(raw)) for raw in subs or [raw_section]]
    elif numbered:
        starts = [i for i, _ in numbered] + [len(lines)]
        grouped = []
        for (start, match), end in zip(numbered, starts[1:]):
            subs = [
                m.group("title")
                for m in (_SUBUNIT.match(line) or _INDENTED_BULLET.match(line) for line in lines[start + 1 : end])
                if m
            ]
            sections_with_units += bool(subs)
            grouped.append((match.group("title"), subs))
        two_level = sections_with_units * 2 >= len(grouped)
        for raw_section, subs in grouped:
            if not two_level:
                entries.append(("", raw_section, _clean_title(raw_section)))
                continue
            section = _clean_title(raw_section)
            if not section or is_logistics(section) or is_logistics(raw_section):
                continue
            for raw in subs or [raw_section]:
                entries.append((section, raw, _clean_title(raw)))
    else:
        entries = [("", m.group("title"), _clean_title(m.group("title"))) for m in map(_BULLET.match, lines) if m]
    units: list[tuple[str, str]] = []
    seen: set[str] = set()
    for section, raw, title in entries:
        if not title or is_logistics(title) or is_logistics(raw) or not is_unit_title(title):
            continue
        key = title.casefold()
        if key in seen:
            continue
        seen.add(key)
        units.append((section, title))
    return units


def outline_from_json(text: str) -> list[tuple[str, list[str]]] | None:
    """(section, its units) of an outline given as JSON, as OUTLINE_SCHEMA asks; None for other text.

    The outline step asks for this shape with constrained decoding where the
    backend can (the registry's `answer_schema` of stanford_outline).
    """
    try:
        # strict=False: a small model's grammar-held strings may still carry raw line breaks.
        found = json.loads(text or "", strict=False)
    except ValueError:
        return _truncated_outline(text or "")
    sections = found.get("sections") if isinstance(found, dict) else None
    if not isinstance(sections, list):
        return None
    grouped = []
    for section in sections:
        if isinstance(section, dict) and isinstance(section.get("title"), str):
            units = [u for u in section.get("units") or [] if isinstance(u, str)]
            grouped.append((normalise_space(section["title"]), [normalise_space(u) for u in units]))
    return grouped


_JSON_SECTION = re.compile(r'"title"\s*:\s*"(?P<title>(?:[^"\\]|\\.)*)"\s*,\s*"units"\s*:\s*\[(?P<units>[^\]]*)')
_JSON_OUTLINE_START = re.compile(r'\s*\{\s*"sections"\s*:')
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _json_text(escaped: str) -> str:
    """A JSON string's content (without its quotes) as text, on one line."""
    try:
        return normalise_space(json.loads(f'"{escaped}"', strict=False))
    except ValueError:
        return normalise_space(escaped)


def _truncated_outline(text: str) -> list[tuple[str, list[str]]] | None:
    """The complete sections of a JSON outline cut off by the token limit (None if it is not one)."""
    if not _JSON_OUTLINE_START.match(text):
        return None
    grouped = []
    for match in _JSON_SECTION.finditer(text):
        closed = match.end() < len(text)  # the units array ended before the text did
        units = _JSON_STRING.findall(match.group("units")) if closed else []
        grouped.append((_json_text(match.group("title")), [_json_text(u) for u in units]))
    return grouped


def parse_outline(text: str) -> list[str]:
    """Unit titles of a generated course outline, in order (see parse_outline_sections)."""
    return [unit for _, unit in parse_outline_sections(text)]
