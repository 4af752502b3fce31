"""OpenStax seeds: book -> chapter -> section -> unit, read from collection XML and module CNXML.

A book is a collection file (namespace http://cnx.rice.edu/collxml) laid out as in
OpenStax's own repositories::

    <book>/collections/<slug>.collection.xml
    <book>/modules/mNNNNN/index.cnxml

In the collection, a chapter is a ``col:subcollection`` with an ``md:title`` that
directly lists ``col:module`` entries; each module is a section of the book.
Modules that sit outside any chapter (preface, appendices) are skipped, and so
are modules of a subcollection that only groups chapters (a book's "Unit 1").

In a module (namespace http://cnx.rice.edu/cnxml), each top-level ``section`` of
``content`` is a *unit*: the thing a prompt asks the model to write. End-of-section
matter (summary, review and critical-thinking questions, key terms, ...) is not a
unit. A unit's extract is the plain text of its paragraphs, list items, quotes and
nested sections; figures, tables, notes (sidebars), exercises, footnotes and the
glossary are left out, because they are not running text.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl

from ..errors import InputError
from .records import last_items
from ..io import stable_hash
from ..tables import SEED_COLUMNS

log = logging.getLogger(__name__)

SOURCE = "openstax"

COLLXML_NS = "http://cnx.rice.edu/collxml"
MDML_NS = "http://cnx.rice.edu/mdml"
CNXML_NS = "http://cnx.rice.edu/cnxml"

# results/seeds/openstax.parquet, in this order; indices are 1-based like the book's own numbering.
OPENSTAX_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "book": pl.String,
    "chapter": pl.String,
    "chapter_index": pl.Int32,
    "section": pl.String,
    "section_index": pl.Int32,  # 0 for an unnumbered introduction module
    "module_id": pl.String,
    "unit": pl.String,
    "unit_index": pl.Int32,
    "previous_units": pl.List(pl.String),  # titles of the units before it in the same section
    "extract": pl.String,  # the unit's whole plain text; the prompt stage cuts it
}
OPENSTAX_COLUMNS = tuple(OPENSTAX_SCHEMA)
assert OPENSTAX_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS

# Top-level sections with these classes are end-of-section matter, not units.
END_MATTER_CLASSES = frozenset(
    {
        "summary",
        "section-summary",
        "review-questions",
        "critical-thinking",
        "key-terms",
        "key-concepts",
        "key-equations",
        "section-exercises",
        "exercises",
        "problems",
        "conceptual-questions",
        "multiple-choice",
        "free-response",
        "visual-exercise",
        "interactive-exercise",
        "check-understanding",
        "further-research",
        "references",
        "practice",
        "glossary",
    }
)

# Subtrees that are not running text: their content never enters an extract.
_SKIPPED_TAGS = frozenset(
    {
        "figure",
        "media",
        "image",
        "table",
        "glossary",
        "exercise",
        "note",
        "footnote",
        "caption",
        "label",
        "metadata",
    }
)
# Elements whose text is one block (paragraph) of the extract.
_BLOCK_TAGS = frozenset({"para", "item", "title", "preformat", "code", "definition"})

# Words kept lower case when an all-capitals title is re-cased (unless first in the title or after a colon).
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into nor of on or per the to via vs with".split()
)
# What is left of "(Figure 2.3)" once the empty cross-reference <link target-id="..."/> is read as text.
_EMPTY_REFERENCE = re.compile(r"\s*\((?:\s|,|;|\band\b|\bsee\b|\bSee\b)*\)")
_ROMAN_NUMERAL = re.compile(r"^(?=[IVX]{2,})X{0,3}(IX|IV|V?I{0,3})$")


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _local(tag) -> str:
    # Comments and processing instructions have a non-string tag.
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _normalise_space(text: str) -> str:
    return " ".join(text.split())


def display_title(title: str) -> str:
    """Whitespace-normalised title; an ALL-CAPITALS title becomes Title Case.

    Several OpenStax books (U.S. History among them) write unit titles in
    capitals ("THE MAYA"); a prompt asking for a unit titled that way gets
    shouting headings back. Roman numerals stay in capitals ("JAMES II" ->
    "James II"); other all-capital acronyms cannot be told from words and are
    re-cased too ("AIDS" -> "Aids"), a known limit of this rule.
    """
    title = _normalise_space(title)
    letters = [c for c in title if c.isalpha()]
    if not letters or not all(c.isupper() for c in letters):
        return title
    words = title.split(" ")
    out = []
    start_of_phrase = True
    for word in words:
        core = word.strip("“”\"'‘’()[]:;,.!?")
        if _ROMAN_NUMERAL.match(core):
            out.append(word)
        elif core.lower() in _SMALL_WORDS and not start_of_phrase:
            out.append(word.lower())
        else:
            out.append(_capitalise(word))
        start_of_phrase = word.endswith((":", "—", "–")) or word in {"—", "–", "-"}
    return " ".join(out)


def _capitalise(word: str) -> str:
    """'ADAMS-ONÍS' -> 'Adams-Onís', '“CITY' -> '“City', 'AMERICA’S' -> 'America’s', 'K.' -> 'K.'."""
    parts = re.split(r"(-)", word.lower())
    fixed = []
    for part in parts:
        for i, ch in enumerate(part):
            if ch.isalpha():
                part = part[:i] + ch.upper() + part[i + 1 :]
                break
        fixed.append(part)
    return "".join(fixed)


def _inline_text(element: ET.Element) -> str:
    """The text of `element` and its inline children, skipping non-text subtrees (their tails kept)."""
    pieces: list[str] = []

    def walk(el: ET.Element) -> None:
        if el.text:
            pieces.append(el.text)
        for child in el:
            name = _local(child.tag)
            if name == "newline":
                pieces.append(" ")
            elif name and name not in _SKIPPED_TAGS:
                walk(child)
                if name in _BLOCK_TAGS or name == "list":
                    pieces.append(" ")  # a list inside a paragraph: keep its items apart
            if child.tail:
                pieces.append(child.tail)

    walk(element)
    return _normalise_space(_EMPTY_REFERENCE.sub("", "".join(pieces)))


def _text_blocks(container: ET.Element, *, skip_own_title: bool) -> list[str]:
    """Paragraph-level blocks of running text under `container`, in document order."""
    blocks: list[str] = []
    own_text = _normalise_space(container.text or "")
    if own_text and _local(container.tag) not in {"section", "content", "document"}:
        blocks.append(own_text)
    for child in container:
        name = _local(child.tag)
        if not name or name in _SKIPPED_TAGS:
            continue
        if name == "title" and skip_own_title:
            continue
        if name in _BLOCK_TAGS:
            text = _inline_text(child)
            if text:
                blocks.append(text)
        elif name == "list":
            blocks.extend(_text_blocks(child, skip_own_title=False))
        elif name in {"quote", "section", "div", "statement", "example"}:
            blocks.extend(_text_blocks(child, skip_own_title=False))
        else:
            # Inline or unknown markup standing alone (emphasis, term, math): keep its text.
            text = _inline_text(child)
            if text:
                blocks.append(text)
    return blocks


def _cut(text: str, max_chars: int | None) -> str:
    """`text` cut to at most `max_chars` characters, at a word boundary when one is near."""
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    if space >= max_chars // 2:
        cut = cut[:space]
    return cut.rstrip()


def _parse_xml(path: Path, what: str) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputError(f"seeds/openstax: {what} not found ({path})") from None
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).rsplit(": line", 1)[0]  # expat appends the position, said once here
        raise InputError(
            f"seeds/openstax: {what} is not well-formed XML at line {line}, column {column}: {reason} ({path})"
        ) from None
    except OSError as exc:
        raise InputError(f"seeds/openstax: cannot read {what}: {exc.strerror} ({path})") from None


def _book_slug(root: ET.Element, collection_path: Path) -> str:
    slug = root.findtext(f"{_q(COLLXML_NS, 'metadata')}/{_q(MDML_NS, 'slug')}")
    if slug and slug.strip():
        return slug.strip()
    return collection_path.name.removesuffix(".xml").removesuffix(".collection")


def _chapters(root: ET.Element, collection_path: Path) -> list[tuple[str, list[str]]]:
    """(chapter title, module ids) for every subcollection that directly lists modules, in book order."""
    content = root.find(_q(COLLXML_NS, "content"))
    if content is None:
        raise InputError(f"seeds/openstax: collection has no col:content ({collection_path})")
    chapters: list[tuple[str, list[str]]] = []
    chapter_of: dict[str, str] = {}  # module id -> chapter title, to catch a module listed twice
    skipped_outside = 0

    def walk(el: ET.Element) -> None:
        nonlocal skipped_outside
        for sub in el.findall(_q(COLLXML_NS, "subcollection")):
            sub_content = sub.find(_q(COLLXML_NS, "content"))
            modules = [] if sub_content is None else sub_content.findall(_q(COLLXML_NS, "module"))
            children = [] if sub_content is None else sub_content.findall(_q(COLLXML_NS, "subcollection"))
            title = _normalise_space(
                "".join(sub.find(_q(MDML_NS, "title")).itertext())
                if sub.find(_q(MDML_NS, "title")) is not None
                else ""
            )
            number = len(chapters) + 1
            if modules and not children:
                if not title:
                    raise InputError(
                        f"seeds/openstax: chapter {number} (its first module "
                        f"{modules[0].get('document')}) has no md:title ({collection_path})"
                    )
                ids = []
                for module in modules:
                    doc = (module.get("document") or "").strip()
                    if not doc:
                        raise InputError(
                            f"seeds/openstax: chapter '{title}' has a col:module without a document "
                            f"attribute ({collection_path})"
                        )
                    if doc in chapter_of:
                        raise InputError(
                            f"seeds/openstax: module {doc} is listed more than once (in chapter "
                            f"'{chapter_of[doc]}' and in chapter '{title}') ({collection_path})"
                        )
                    chapter_of[doc] = title
                    ids.append(doc)
                chapters.append((title, ids))
            else:
                # A part that groups chapters: its own modules are outside any chapter.
                skipped_outside += len(modules)
                if sub_content is not None:
                    walk(sub_content)

    skipped_outside += len(content.findall(_q(COLLXML_NS, "module")))
    walk(content)
    if skipped_outside:
        log.info("seeds/openstax: %d modules outside chapters skipped (%s)", skipped_outside, collection_path)
    return chapters


def _module_title(root: ET.Element) -> str:
    title = root.find(_q(CNXML_NS, "title"))
    if title is None:
        title = root.find(f"{_q(CNXML_NS, 'metadata')}/{_q(MDML_NS, 'title')}")
    return "" if title is None else _normalise_space("".join(title.itertext()))


def _units(module_root: ET.Element) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(unit title, plain text) for each top-level content section, and counts of sections dropped by reason."""
    dropped = {"end_matter": 0, "untitled": 0, "no_text": 0}
    units: list[tuple[str, str]] = []
    content = module_root.find(_q(CNXML_NS, "content"))
    if content is None:
        return units, dropped
    for section in content.findall(_q(CNXML_NS, "section")):
        classes = set((section.get("class") or "").split())
        if classes & END_MATTER_CLASSES:
            dropped["end_matter"] += 1
            continue
        title_el = section.find(_q(CNXML_NS, "title"))
        title = display_title("".join(title_el.itertext())) if title_el is not None else ""
        if not title:
            dropped["untitled"] += 1
            continue
        text = "\n\n".join(_text_blocks(section, skip_own_title=True))
        if not text:
            dropped["no_text"] += 1
            continue
        units.append((title, text))
    return units, dropped


def load_openstax(collection_paths: list[str], max_extract_chars: int | None = None) -> pl.DataFrame:
    """Read OpenStax books into one row per unit (columns: OPENSTAX_COLUMNS).

    `collection_paths` are collection XML files; each book's modules are read
    from ``<book>/modules/<id>/index.cnxml`` next to its ``collections/`` folder.
    Rows come in book order (book as listed, then chapter, section, unit).
    ``seed_id`` is a hash of (source, book slug, module id, unit index), so it
    does not depend on where the files live. ``extract`` is the unit's whole
    plain text (paragraphs separated by a blank line) unless `max_extract_chars`
    cuts it. Untitled or text-less sections are skipped and logged.

    Raises InputError, naming the file and the record, for: no books given, a
    missing or malformed XML file, a collection without title or chapters, a
    chapter without title, a missing module file, a module without title, and a
    book in which no unit was found.
    """
    if isinstance(collection_paths, (str, Path)):
        collection_paths = [collection_paths]
    if not collection_paths:
        raise InputError("seeds/openstax: no books given (config key 'sources.openstax.books' is empty)")
    rows: list[dict] = []
    path_of_slug: dict[str, str] = {}
    for raw_path in collection_paths:
        slug, book_rows = _load_book(Path(raw_path), max_extract_chars)
        # Seed ids hash the book slug: the same book given twice would give every seed twice.
        if slug in path_of_slug:
            raise InputError(
                f"seeds/openstax: book '{slug}' is given more than once ({path_of_slug[slug]}, {raw_path})"
            )
        path_of_slug[slug] = str(raw_path)
        rows.extend(book_rows)
    return pl.DataFrame(rows, schema=OPENSTAX_SCHEMA, orient="row") if rows else pl.DataFrame(schema=OPENSTAX_SCHEMA)


def _load_book(collection_path: Path, max_extract_chars: int | None) -> tuple[str, list[dict]]:
    """(book slug, rows) of one collection file."""
    root = _parse_xml(collection_path, "collection file")
    if root.tag != _q(COLLXML_NS, "collection"):
        raise InputError(
            f"seeds/openstax: root element is {root.tag}, expected col:collection "
            f"(namespace {COLLXML_NS}) ({collection_path})"
        )
    book_title_el = root.find(f"{_q(COLLXML_NS, 'metadata')}/{_q(MDML_NS, 'title')}")
    book = _normalise_space("".join(book_title_el.itertext())) if book_title_el is not None else ""
    if not book:
        raise InputError(f"seeds/openstax: collection has no md:title in its metadata ({collection_path})")
    slug = _book_slug(root, collection_path)
    chapters = _chapters(root, collection_path)
    if not chapters:
        raise InputError(f"seeds/openstax: book '{book}' has no chapter with modules ({collection_path})")

    # <book>/collections/x.collection.xml -> <book>/modules/
    modules_dir = collection_path.parent.parent / "modules"
    rows: list[dict] = []
    dropped_total = {"end_matter": 0, "untitled": 0, "no_text": 0}
    for chapter_index, (chapter, module_ids) in enumerate(chapters, start=1):
        section_number = 0
        for module_id in module_ids:
            module_path = modules_dir / module_id / "index.cnxml"
            if not module_path.is_file():
                raise InputError(
                    f"seeds/openstax: module {module_id} (chapter '{chapter}') has no file {module_path} "
                    f"({collection_path})"
                )
            module_root = _parse_xml(module_path, f"module {module_id}")
            if module_root.tag != _q(CNXML_NS, "document"):
                raise InputError(
                    f"seeds/openstax: module {module_id}: root element is {module_root.tag}, expected document "
                    f"(namespace {CNXML_NS}) ({module_path})"
                )
            section = _module_title(module_root)
            if not section:
                raise InputError(f"seeds/openstax: module {module_id} has no title ({module_path})")
            # Introductions are unnumbered in the book; numbered sections start at 1.
            if module_root.get("class") == "introduction":
                section_index = 0
            else:
                section_number += 1
                section_index = section_number
            units, dropped = _units(module_root)
            for reason, count in dropped.items():
                dropped_total[reason] += count
            titles = [title for title, _ in units]
            for unit_index, (unit, text) in enumerate(units, start=1):
                rows.append(
                    {
                        "seed_id": stable_hash(SOURCE, slug, module_id, unit_index),
                        "source": SOURCE,
                        "book": book,
                        "chapter": chapter,
                        "chapter_index": chapter_index,
                        "section": section,
                        "section_index": section_index,
                        "module_id": module_id,
                        "unit": unit,
                        "unit_index": unit_index,
                        "previous_units": titles[: unit_index - 1],
                        "extract": _cut(text, max_extract_chars),
                    }
                )
    if not rows:
        raise InputError(
            f"seeds/openstax: book '{book}' has no units (top-level sections with text) ({collection_path})"
        )
    log.info(
        "seeds/openstax: %s: %d chapters, %d units; sections dropped: %s",
        slug,
        len(chapters),
        len(rows),
        ", ".join(f"{k}={v}" for k, v in dropped_total.items()),
    )
    return slug, rows

# ----------------------------------------------------------------------------- registry interface

COLUMNS = OPENSTAX_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The openstax seed table from config section `sources.openstax`."""
    return load_openstax(spec["books"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One textbook prompt per variant (plain, with_extract) of a unit; the last previous units listed."""
    from ..prompts import cut_text

    previous = last_items(row["previous_units"], spec["max_previous_units"])
    base = {
        "book": row["book"],
        "chapter": row["chapter"],
        "section": row["section"],
        "unit": row["unit"],
        "previous_units": previous,
    }
    for variant in spec["variants"]:
        extract = cut_text(row["extract"], spec["extract_chars"]) if variant == "with_extract" else ""
        if variant == "with_extract" and not extract:
            continue  # a unit without text has no "with extract" variant
        yield "textbook", variant, {**base, "extract": extract}
