"""OpenStax seeds: book -> chapter -> section -> unit, read from collection XML and module CNXML.

A book is a collection file (namespace http://cnx.rice.edu/collxml) laid out as in
OpenStax's own repositories::

    <book>/collections/<slug>.collection.xml
    <book>/modules/mNNNNN/index.cnxml

In the collection, a chapter is a ``col:subcollection`` with an ``md:title`` that
directly lists ``col:module`` entries; each module is a section of the book.
Modules that sit outside any chapter (preface, appendices) are skipped, and so
are modules of a subcollection that only groups chapters (a book's "Unit 1").

In a module (namespace http://cnx.rice.edu/cnxml), each titled top-level ``section``
of ``content`` is a *unit*: the thing a prompt asks the model to write. The text
before the first section is a unit too ("Introduction"), and a module whose text
sits directly under ``content`` (a chapter introduction, a short module) is one
unit titled like the module. Study aids are not units and never enter an extract,
wherever they sit: they are told by class (``learning-objectives``, ``summary``,
``review-questions``, ...) or by title ("Learning Objectives", "For Further
Exploration", "Collaborative Group Activities", "Key Terms", ...). Untitled sections
are read as part of the unit they sit in.

A unit's extract is the plain text of its paragraphs, list items, quotes, nested
sections and worked-procedure notes ("How To", "Q&A"); figures, tables, exercises,
footnotes, the glossary and other sidebars are left out, because they are not
running text. MathML becomes one line of readable text (1.5×10⁸, P²=a³, √(b²−4ac),
(x+1)/2). An empty cross-reference (``<link target-id="..."/>``, which the book
fills in with "Figure 2.3" when it is printed) is removed with its brackets; a
sentence that still needs it to make sense ("See and .") is dropped.
The counts of what was kept and dropped are logged per book.
"""

from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS
from .cnxml import (
    CNXML_NS,
    STAT_NAMES,
    display_title,
    is_left_out,
    is_study_aid,
    local_name,
    qname,
    text_blocks,
)
from .records import normalise_space

log = logging.getLogger(__name__)

SOURCE = "openstax"

COLLXML_NS = "http://cnx.rice.edu/collxml"
MDML_NS = "http://cnx.rice.edu/mdml"

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
    slug = root.findtext(f"{qname(COLLXML_NS, 'metadata')}/{qname(MDML_NS, 'slug')}")
    if slug and slug.strip():
        return slug.strip()
    return collection_path.name.removesuffix(".xml").removesuffix(".collection")


def _chapters(root: ET.Element, collection_path: Path) -> list[tuple[str, list[str]]]:
    """(chapter title, module ids) for every subcollection that directly lists modules, in book order."""
    content = root.find(qname(COLLXML_NS, "content"))
    if content is None:
        raise InputError(f"seeds/openstax: collection has no col:content ({collection_path})")
    chapters: list[tuple[str, list[str]]] = []
    chapter_of: dict[str, str] = {}  # module id -> chapter title, to catch a module listed twice
    skipped_outside = 0

    def walk(el: ET.Element) -> None:
        nonlocal skipped_outside
        for sub in el.findall(qname(COLLXML_NS, "subcollection")):
            sub_content = sub.find(qname(COLLXML_NS, "content"))
            modules = [] if sub_content is None else sub_content.findall(qname(COLLXML_NS, "module"))
            children = [] if sub_content is None else sub_content.findall(qname(COLLXML_NS, "subcollection"))
            title = normalise_space(
                "".join(sub.find(qname(MDML_NS, "title")).itertext())
                if sub.find(qname(MDML_NS, "title")) is not None
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

    skipped_outside += len(content.findall(qname(COLLXML_NS, "module")))
    walk(content)
    if skipped_outside:
        log.info("seeds/openstax: %d modules outside chapters skipped (%s)", skipped_outside, collection_path)
    return chapters


def _module_title(root: ET.Element) -> str:
    title = root.find(qname(CNXML_NS, "title"))
    if title is None:
        title = root.find(f"{qname(CNXML_NS, 'metadata')}/{qname(MDML_NS, 'title')}")
    return "" if title is None else normalise_space("".join(title.itertext()))


def _units(module_root: ET.Element, section_title: str, stats: dict[str, int]) -> list[tuple[str, str]]:
    """(unit title, plain text) of one module, in order; `stats` counts what was kept and dropped.

    Titled top-level sections are units; the text before the first of them is a
    unit titled "Introduction", or titled like the module when the module has no
    titled section. Untitled sections and stray text after a section join the
    unit before them.
    """
    content = module_root.find(qname(CNXML_NS, "content"))
    if content is None:
        return []
    lead: list[str] = []
    units: list[tuple[str, list[str]]] = []
    for child in content:
        name = local_name(child.tag)
        if name == "section" and is_study_aid(child):
            stats["study_aids"] += 1
            continue
        title_el = child.find(qname(CNXML_NS, "title")) if name == "section" else None
        title = display_title("".join(title_el.itertext())) if title_el is not None else ""
        if name == "section" and title:
            units.append((title, text_blocks(child, stats, skip_own_title=True)))
            continue
        if name == "section":
            stats["untitled_sections"] += 1
        holder = units[-1][1] if units else lead
        if name == "section" or not is_left_out(child):
            holder.extend(text_blocks(_wrap(child), stats, skip_own_title=False))
    if lead:
        if units:
            stats["lead_units"] += 1
            units.insert(0, ("Introduction", lead))
        else:
            stats["sectionless_modules"] += 1
            units.append((section_title, lead))
    kept = []
    for title, blocks in units:
        if blocks:
            kept.append((title, "\n\n".join(blocks)))
        else:
            stats["no_text"] += 1
    return kept


def _wrap(element: ET.Element) -> ET.Element:
    """A bare container holding `element`, so that _text_blocks reads it as one child."""
    holder = ET.Element(qname(CNXML_NS, "div"))
    holder.append(element)
    return holder


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
    if root.tag != qname(COLLXML_NS, "collection"):
        raise InputError(
            f"seeds/openstax: root element is {root.tag}, expected col:collection "
            f"(namespace {COLLXML_NS}) ({collection_path})"
        )
    book_title_el = root.find(f"{qname(COLLXML_NS, 'metadata')}/{qname(MDML_NS, 'title')}")
    book = normalise_space("".join(book_title_el.itertext())) if book_title_el is not None else ""
    if not book:
        raise InputError(f"seeds/openstax: collection has no md:title in its metadata ({collection_path})")
    slug = _book_slug(root, collection_path)
    chapters = _chapters(root, collection_path)
    if not chapters:
        raise InputError(f"seeds/openstax: book '{book}' has no chapter with modules ({collection_path})")

    # <book>/collections/x.collection.xml -> <book>/modules/
    modules_dir = collection_path.parent.parent / "modules"
    rows: list[dict] = []
    stats = dict.fromkeys(STAT_NAMES, 0)
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
            if module_root.tag != qname(CNXML_NS, "document"):
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
            # A chapter opening titled just "Introduction" is named after its chapter as a unit.
            whole_module_title = f"Introduction to {chapter}" if section.casefold() == "introduction" else section
            units = _units(module_root, whole_module_title, stats)
            if not units:
                stats["modules_without_units"] += 1
                log.warning("seeds/openstax: module %s ('%s') gives no unit (%s)", module_id, section, module_path)
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
        "seeds/openstax: %s: %d chapters, %d units; %s",
        slug,
        len(chapters),
        len(rows),
        ", ".join(f"{k}={v}" for k, v in stats.items()),
    )
    return slug, rows

# ----------------------------------------------------------------------------- registry interface

COLUMNS = OPENSTAX_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The openstax seed table from config section `sources.openstax`."""
    return load_openstax(spec["books"])


def choose_previous_units(previous, keep_all: int, sample_range, seed: int, seed_id: str) -> list[str]:
    """The units already covered that a prompt lists, in book order.

    All of them when there are at most `keep_all` (config key
    sources.openstax.max_previous_units); otherwise a random number of them in
    `sample_range` (sources.openstax.sampled_previous_units, [low, high]), as the
    original did, drawn from a generator seeded by the config seed and the seed
    id: the same config gives the same prompts.
    """
    previous = list(previous or [])
    if len(previous) <= keep_all:
        return previous
    low, high = sample_range
    rng = random.Random(int(stable_hash("previous_units", seed, seed_id), 16))
    count = rng.randint(min(low, len(previous)), min(high, len(previous)))
    return [previous[i] for i in sorted(rng.sample(range(len(previous)), count))]


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One textbook prompt per variant (plain, with_extract) of a unit, with the units already covered."""
    from ..prompts import cut_text

    previous = choose_previous_units(
        row["previous_units"], spec["max_previous_units"], spec["sampled_previous_units"], seed, row["seed_id"]
    )
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
