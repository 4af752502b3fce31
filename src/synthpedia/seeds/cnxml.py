"""CNXML as readable text: OpenStax module markup -> the plain text of a unit's extract.

Study aids (told by class or by title) are left out wherever they sit; inline
markup becomes text; MathML becomes one line of readable text (1.5×10⁸, P²=a³,
√(b²−4ac), (x+1)/2); an empty cross-reference is removed with its brackets and a
sentence that still needs it is dropped. What was dropped is counted in `stats`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .records import normalise_space

CNXML_NS = "http://cnx.rice.edu/cnxml"

# Sections (and notes) with these classes are study aids or end matter, not units.
STUDY_AID_CLASSES = frozenset(
    {
        "learning-objectives",
        "objectives",
        "further-exploration",
        "further-research",
        "further-reading",
        "collaborative-group-activities",
        "group-activities",
        "summary",
        "section-summary",
        "chapter-summary",
        "review-questions",
        "review-exercises",
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
        "references",
        "practice",
        "practice-test",
        "practice-perfect",
        # College Algebra's corequisite-support review appears only in the corequisite edition.
        "coreq-skills",
        "glossary",
    }
)
# The same study aids told by their title, lower case, in books that give them no class.
STUDY_AID_TITLES = frozenset(
    {
        "learning objectives",
        "learning outcomes",
        "for further exploration",
        "further exploration",
        "further reading",
        "collaborative group activities",
        "group activities",
        "summary",
        "section summary",
        "chapter summary",
        "review questions",
        "review exercises",
        "chapter review",
        "chapter review exercises",
        "critical thinking questions",
        "key terms",
        "key concepts",
        "key equations",
        "section exercises",
        "exercises",
        "practice test",
        "chapter practice test",
        "practice makes perfect",
        "references",
        "glossary",
    }
)
# Notes are sidebars and are left out, except those that carry the running explanation.
KEPT_NOTE_CLASSES = frozenset({"how-to", "how-to-notitle", "qa"})

# Subtrees that are not running text: their content never enters an extract.
_SKIPPED_TAGS = frozenset(
    {
        "figure",
        "media",
        "image",
        "table",
        "glossary",
        "exercise",
        "footnote",
        "caption",
        "label",
        "metadata",
    }
)
# Elements whose text is one block (paragraph) of the extract.
_BLOCK_TAGS = frozenset({"para", "item", "title", "preformat", "code", "definition", "equation"})

# Words kept lower case when an all-capitals title is re-cased (unless first in the title or after a colon).
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into nor of on or per the to via vs with".split()
)
# Stands for an empty cross-reference while a block's text is put together.
_REFERENCE = "\ue000"
# "(Figure 2.3)" or "(see Example 1 and Example 2)" once its empty references are gone.
_EMPTY_REFERENCE = re.compile(r"\s*\((?:\s|,|;|\band\b|\bsee\b|\bSee\b|\ue000)*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ROMAN_NUMERAL = re.compile(r"^(?=[IVX]{2,})X{0,3}(IX|IV|V?I{0,3})$")

# Counts logged per book: study aids dropped, units made from text before the first
# section and from section-less modules, untitled sections merged, units without
# text, sentences dropped for an empty cross-reference, formulas rendered.
STAT_NAMES = (
    "study_aids",
    "lead_units",
    "sectionless_modules",
    "untitled_sections",
    "no_text",
    "modules_without_units",
    "reference_sentences",
    "math",
)


def qname(ns: str, tag: str) -> str:
    """An ElementTree tag name in namespace `ns`."""
    return f"{{{ns}}}{tag}"


def local_name(tag) -> str:
    """A tag's name without its namespace ("" for comments and processing instructions)."""
    # Comments and processing instructions have a non-string tag.
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def display_title(title: str) -> str:
    """Whitespace-normalised title; an ALL-CAPITALS title becomes Title Case.

    Several OpenStax books (U.S. History among them) write unit titles in
    capitals ("THE MAYA"); a prompt asking for a unit titled that way gets
    shouting headings back. Roman numerals stay in capitals ("JAMES II" ->
    "James II"); other all-capital acronyms cannot be told from words and are
    re-cased too ("AIDS" -> "Aids"), a known limit of this rule.
    """
    title = normalise_space(title)
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


def _classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


def is_study_aid(element: ET.Element) -> bool:
    """True for a section or note that is a study aid or end matter, told by its class or its title."""
    if _classes(element) & STUDY_AID_CLASSES:
        return True
    title = element.find(qname(CNXML_NS, "title"))
    return title is not None and normalise_space("".join(title.itertext())).lower() in STUDY_AID_TITLES


def is_left_out(element: ET.Element) -> bool:
    """True for a subtree whose text never enters an extract."""
    name = local_name(element.tag)
    if not name or name in _SKIPPED_TAGS:
        return True
    if name == "note":
        return not (_classes(element) & KEPT_NOTE_CLASSES) or is_study_aid(element)
    return name == "section" and is_study_aid(element)


def _inline_text(element: ET.Element, stats: dict[str, int]) -> str:
    """The text of `element` and its inline children (MathML rendered), skipping non-text subtrees (tails kept)."""
    if local_name(element.tag) == "math":
        stats["math"] += 1
        return normalise_space(mathml_text(element))
    pieces: list[str] = []

    def walk(el: ET.Element) -> None:
        if el.text:
            pieces.append(el.text)
        for child in el:
            name = local_name(child.tag)
            if name == "newline":
                pieces.append(" ")
            elif name == "math":
                stats["math"] += 1
                pieces.append(normalise_space(mathml_text(child)))
            elif name in {"sup", "sub"}:
                text = normalise_space("".join(child.itertext()))
                pieces.append(_superscript(text) if name == "sup" else _subscript(text))
            elif name == "link" and not "".join(child.itertext()).strip():
                pieces.append(_REFERENCE)
            elif not is_left_out(child):
                walk(child)
                if name in _BLOCK_TAGS or name == "list":
                    pieces.append(" ")  # a list inside a paragraph: keep its items apart
            if child.tail:
                pieces.append(child.tail)

    walk(element)
    return _without_empty_references(normalise_space("".join(pieces)), stats)


def _without_empty_references(text: str, stats: dict[str, int]) -> str:
    """`text` without bracketed empty references, and without the sentences that needed one."""
    if _REFERENCE not in text:
        return text
    text = _EMPTY_REFERENCE.sub("", text)
    if _REFERENCE not in text:
        return text
    kept = []
    for sentence in _SENTENCE_END.split(text):
        if _REFERENCE in sentence:
            stats["reference_sentences"] += 1
        else:
            kept.append(sentence)
    return " ".join(kept)


def text_blocks(container: ET.Element, stats: dict[str, int], *, skip_own_title: bool) -> list[str]:
    """Paragraph-level blocks of running text under `container`, in document order."""
    blocks: list[str] = []
    own_text = normalise_space(container.text or "")
    if own_text and local_name(container.tag) not in {"section", "content", "document"}:
        blocks.append(own_text)
    for child in container:
        name = local_name(child.tag)
        if is_left_out(child):
            if name == "section" or name == "note":
                stats["study_aids"] += name == "section"
            continue
        if name == "title" and skip_own_title:
            continue
        if name in _BLOCK_TAGS:
            text = _inline_text(child, stats)
            if text:
                blocks.append(text)
        elif name in {"list", "quote", "section", "div", "statement", "example", "note", "rule", "proof"}:
            blocks.extend(text_blocks(child, stats, skip_own_title=False))
        else:
            # Inline or unknown markup standing alone (emphasis, term, math): keep its text.
            text = _inline_text(child, stats)
            if text:
                blocks.append(text)
    return blocks


# ----------------------------------------------------------------------------- MathML as readable text

_SUPERSCRIPTS = str.maketrans("0123456789+-−=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPTS = str.maketrans("0123456789+-−=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎")
_SUPERSCRIPT_SOURCE = set("0123456789+-−=()ni")
_SUBSCRIPT_SOURCE = set("0123456789+-−=()")
# Roots with their own Unicode sign; any other index is written as a superscript before √.
_ROOT_SIGNS = {"2": "√", "3": "∛", "4": "∜"}


def _shifted(text: str, alphabet: set[str], table: dict, mark: str) -> str:
    """`text` raised or lowered with Unicode's small digits, or `mark` + (text) where it has none."""
    if not text.strip():
        return ""
    if set(text) <= alphabet:
        return text.translate(table)
    return mark + _group(text)


def _superscript(text: str) -> str:
    """'8' -> '⁸', '-3' -> '⁻³'; anything Unicode cannot raise ('x+1', '1/2') -> '^(x+1)'."""
    return _shifted(text, _SUPERSCRIPT_SOURCE, _SUPERSCRIPTS, "^")


def _subscript(text: str) -> str:
    """'2' -> '₂'; anything Unicode cannot lower -> '_(...)'."""
    return _shifted(text, _SUBSCRIPT_SOURCE, _SUBSCRIPTS, "_")


def _is_atom(text: str) -> bool:
    """One number, one name or one already-bracketed group: needs no parentheses around it."""
    if re.fullmatch(r"[\d.,]+|[^\W\d_][′⁰¹²³⁴⁵⁶⁷⁸⁹⁻ⁿⁱ]*|[\d.]+[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+", text):
        return True
    if len(text) >= 2 and text[0] in "([{|" and text[-1] in ")]}|":
        depth = 0
        for i, ch in enumerate(text):
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth == 0 and i < len(text) - 1 and ch in ")]}":
                return False
        return True
    return False


# Braces, brackets and bars drawn over or under a formula: layout, not content.
_DECORATIONS = frozenset("︸︷⏟⏞⏜⏝⎴⎵¯‾_―—-^~˜ˆ→←↔⃗")


def _with_limits(base: str, limits: list[str], *, over_only: bool) -> str:
    """munder/mover/munderover: 'x̅' for a bar, 'base (label)' for a braced label, else sub/superscripts."""
    limits = [limit.strip() for limit in limits]
    if over_only and limits and limits[0] in {"¯", "‾", "_", "―"}:
        return "".join(ch + "\u0305" for ch in base)
    out = base
    for position, limit in enumerate(limits):
        if not limit or set(limit) <= _DECORATIONS:
            continue
        if re.fullmatch(r"[^\W\d_]{2,}(?: [^\W\d_]+)*", limit):
            out += f" ({limit})"  # a label under a brace: "−3,−2,−1 (negative integers)"
        elif limit in {"?", "!", "*", "∗"}:
            out += limit  # "=?": is it equal?
        elif over_only or position == 1:
            out += _superscript(limit)
        else:
            out += _subscript(limit)
    return out


def _group(text: str) -> str:
    if not text:
        return ""
    return text if _is_atom(text) else f"({text})"


def mathml_text(element: ET.Element) -> str:
    """A MathML element as one line of readable text: 1.5×10⁸, P²=a³, √(b²−4ac), (x+1)/2."""
    name = local_name(element.tag)
    children = [child for child in element if local_name(child.tag)]
    parts = [mathml_text(child) for child in children]
    if name == "mtext":
        return re.sub(r"\s+", " ", "".join(element.itertext()))  # its spaces part words: "m and n"
    if name in {"mi", "mn", "mo", "ms"}:
        return normalise_space("".join(element.itertext()))
    if name in {"mspace"}:
        return " "
    if name in {"mphantom", "annotation", "annotation-xml", "none", "mprescripts"}:
        return ""
    if name == "semantics":
        return parts[0] if parts else ""
    if name == "msup" and len(parts) == 2:
        return parts[0] + _superscript(parts[1])
    if name == "msub" and len(parts) == 2:
        return parts[0] + _subscript(parts[1])
    if name == "msubsup" and len(parts) == 3:
        return parts[0] + _subscript(parts[1]) + _superscript(parts[2])
    if name == "mfrac" and len(parts) == 2:
        return f"{_group(parts[0])}/{_group(parts[1])}"
    if name == "msqrt":
        return "√" + _group("".join(parts))
    if name == "mroot" and len(parts) == 2:
        sign = _ROOT_SIGNS.get(parts[1])
        return (sign or parts[1].translate(_SUPERSCRIPTS) + "√") + _group(parts[0])
    if name in {"munder", "mover", "munderover"} and parts:
        return _with_limits(parts[0], parts[1:], over_only=name == "mover")
    if name == "mfenced":
        opening, closing = element.get("open", "("), element.get("close", ")")
        separator = (element.get("separators", ",") or ",")[0]
        return opening + separator.join(parts) + closing
    if name == "mtable":
        return "; ".join(part.strip() for part in parts if part.strip())
    if name == "mtr" or name == "mlabeledtr":
        # Cells of an aligned derivation ("x", "=", "2") read as one line; a matrix's as a row of values.
        return " ".join(part.strip() for part in parts if part.strip())
    # math, mrow, mstyle, mpadded, menclose, mtd, merror, mmultiscripts...: children in order.
    # A fraction next to a factor is bracketed: "(b/a)x", not "b/ax".
    names = [local_name(child.tag) for child in children]
    for i, part in enumerate(parts):
        if names[i] != "mfrac" or _is_atom(part):
            continue
        before = i > 0 and names[i - 1] not in {"mo", "mspace"}
        after = i + 1 < len(parts) and names[i + 1] not in {"mo", "mspace"}
        if before or after:
            parts[i] = f"({part})"
    return "".join(parts)


