"""A real OpenStax book with MathML (College Algebra 2e, chapters 1-3) read whole.

The data lives outside the repository (../shared/data); its SOURCE.txt names the
collection file made for tests (only the first 3 chapters' modules are present).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from synthpedia.seeds.cnxml import CNXML_NS, STUDY_AID_TITLES, mathml_text
from synthpedia.seeds.openstax import load_openstax

ROOT = Path(__file__).resolve().parents[2]
ALGEBRA = ROOT.parent / "shared" / "data" / "openstax_college_algebra_2e"
ALGEBRA_COLLECTION = ALGEBRA / "collections" / "college-algebra-2e-ch1-3.collection.xml"
CHAPTER_MODULES = {
    "Prerequisites": "m51240 m51239 m51241 m51242 m51246 m51247 m51248".split(),
    "Equations and Inequalities": "m51251 m51252 m51253 m51254 m51255 m51256 m51258 m51259".split(),
    "Functions": "m51260 m51261 m51262 m51263 m51265 m51266 m51267 m51268".split(),
}
STUDY_AID_CLASSES_IN_BOOK = {
    "learning-objectives",
    "practice-perfect",
    "section-exercises",
    "key-concepts",
    "key-equations",
    "review-exercises",
    "practice-test",
    "coreq-skills",
}
needs_book = pytest.mark.skipif(not ALGEBRA_COLLECTION.exists(), reason="shared College Algebra 2e data absent")


@pytest.fixture(scope="module")
def algebra() -> pl.DataFrame:
    return load_openstax([str(ALGEBRA_COLLECTION)])


def _words(text: str) -> list[str]:
    # Words of two letters or more: formulas count the same however they are written.
    return re.findall(r"[^\W\d_]{2,}", text)


def _paragraphs(module: str) -> list[list[str]]:
    """The words of each of a module's running paragraphs, read straight from the CNXML.

    Left aside, as the loader does: figures, tables, exercises (and the "Try It"
    notes built of them), study-aid sections (by class), other sidebars.
    """
    root = ET.parse(ALGEBRA / "modules" / module / "index.cnxml").getroot()
    content = root.find(f"{{{CNXML_NS}}}content")
    paragraphs = []

    def walk(el: ET.Element) -> None:
        for child in el:
            name = child.tag.rsplit("}", 1)[-1]
            classes = set((child.get("class") or "").split())
            if name in {"figure", "table", "exercise", "glossary", "footnote", "media"}:
                continue
            if name == "section" and classes & STUDY_AID_CLASSES_IN_BOOK:
                continue
            if name == "note" and not classes & {"how-to-notitle", "qa"}:
                continue
            if name == "para":
                paragraphs.append(_words(_text_without_math(child)))
            else:
                walk(child)

    walk(content)
    return [words for words in paragraphs if words]


def _text_without_math(element: ET.Element) -> str:
    pieces = [element.text or ""]
    for child in element:
        if not child.tag.endswith("}math"):
            pieces.append(_text_without_math(child))
        pieces.append(child.tail or "")
    return "".join(pieces)


def _kept_words(paragraph: list[str], extract: list[str], starts: dict[str, list[int]]) -> int:
    """How many of a paragraph's words appear, in order, in the extract (formulas may sit between them)."""
    best = 0
    for start in starts.get(paragraph[0], []):
        position, kept = start, 0
        for word in paragraph:
            window = extract[position : position + 12]
            if word in window:
                position += window.index(word) + 1
                kept += 1
        best = max(best, kept)
    return best


@needs_book
def test_no_unit_is_a_study_aid(algebra):
    titles = {title.lower() for title in algebra["unit"]}
    assert not titles & STUDY_AID_TITLES
    assert "learning objectives" not in titles and "practice makes perfect" not in titles
    for previous in algebra["previous_units"]:
        assert not {title.lower() for title in previous} & STUDY_AID_TITLES
    text = "\n".join(algebra["extract"])
    assert "Identify the study skills leading to success" not in text  # corequisite-edition material


@needs_book
def test_every_chapter_module_gives_a_unit(algebra):
    for chapter, modules in CHAPTER_MODULES.items():
        got = algebra.filter(pl.col("chapter") == chapter)["module_id"].unique().to_list()
        assert sorted(got) == sorted(modules), chapter
    # A chapter opening has its text directly under <content>: one unit named like the module.
    opening = algebra.filter(pl.col("module_id") == "m51240").row(0, named=True)
    assert opening["unit"] == "Introduction to Prerequisites" and opening["section_index"] == 0
    # Text before the first section of a numbered module is its first unit.
    real_numbers = algebra.filter(pl.col("module_id") == "m51239")
    assert real_numbers["unit"].to_list()[:2] == ["Introduction", "Classifying a Real Number"]
    assert real_numbers["extract"][0].startswith("It is often said that mathematics is the language of science.")


@needs_book
def test_words_kept_against_the_modules_paragraphs(algebra, capsys):
    """A paragraph's words count as kept when they appear in order in its module's extracts."""
    kept = total = 0
    for modules in CHAPTER_MODULES.values():
        for module in modules:
            extract = _words(" ".join(algebra.filter(pl.col("module_id") == module)["extract"]))
            starts: dict[str, list[int]] = {}
            for index, word in enumerate(extract):
                starts.setdefault(word, []).append(index)
            for words in _paragraphs(module):
                total += len(words)
                kept += _kept_words(words, extract, starts)
    share = kept / total
    with capsys.disabled():
        print(f"\nCollege Algebra 2e ch. 1-3: {kept} of {total} paragraph words kept ({share:.1%})")
    assert share > 0.90


@needs_book
def test_formulas_read_correctly(algebra):
    text = "\n".join(algebra["extract"])
    assert "x=(−b±√(b²−4ac))/(2a)" in text  # the quadratic formula, square root kept
    assert "1.3×10¹³" in text and "1.3×1013" not in text  # a power of ten stays a power
    assert "√(2m³n²)" in text
    assert "x²+(b/a)x=−c/a" in text  # a fraction next to a factor keeps its brackets
    assert "0.3̅6̅" in text  # a repeating decimal keeps its bar
    assert "\ue000" not in text and not re.search(r"\bSee (and |, )*\.", text)
    assert not re.search(r"\bFor +through +,", text)


def test_mathml_samples_read_as_text():
    def render(xml: str) -> str:
        return mathml_text(ET.fromstring(f'<m:math xmlns:m="http://www.w3.org/1998/Math/MathML">{xml}</m:math>'))

    assert render("<m:mn>1.5</m:mn><m:mo>×</m:mo><m:msup><m:mn>10</m:mn><m:mn>8</m:mn></m:msup>") == "1.5×10⁸"
    assert (
        render("<m:msup><m:mi>P</m:mi><m:mn>2</m:mn></m:msup><m:mo>=</m:mo><m:msup><m:mi>a</m:mi><m:mn>3</m:mn></m:msup>")
        == "P²=a³"
    )
    assert render("<m:msqrt><m:mi>x</m:mi><m:mo>+</m:mo><m:mn>1</m:mn></m:msqrt>") == "√(x+1)"
    assert render("<m:mroot><m:mn>8</m:mn><m:mn>3</m:mn></m:mroot>") == "∛8"
    assert render("<m:msup><m:mi>e</m:mi><m:mrow><m:mi>x</m:mi><m:mo>+</m:mo><m:mi>y</m:mi></m:mrow></m:msup>") == "e^(x+y)"
    assert render("<m:msub><m:mi>x</m:mi><m:mn>1</m:mn></m:msub>") == "x₁"


def test_dangling_cross_references_leave_no_fragment(tmp_path):
    book = tmp_path / "book"
    (book / "collections").mkdir(parents=True)
    (book / "modules" / "m1").mkdir(parents=True)
    (book / "collections" / "b.collection.xml").write_text(
        '<col:collection xmlns:col="http://cnx.rice.edu/collxml" xmlns:md="http://cnx.rice.edu/mdml">'
        "<col:metadata><md:title>B</md:title></col:metadata><col:content><col:subcollection>"
        '<md:title>One</md:title><col:content><col:module document="m1"/></col:content>'
        "</col:subcollection></col:content></col:collection>"
    )
    (book / "modules" / "m1" / "index.cnxml").write_text(
        '<document xmlns="http://cnx.rice.edu/cnxml"><title>Sets</title><content><section><title>Unions</title>'
        '<para>A union joins two sets (<link target-id="f1"/>). For <link target-id="e1"/> through '
        '<link target-id="e2"/>, use the table. Unions are <link target-id="d1">defined</link> by their members.</para>'
        "</section></content></document>"
    )
    df = load_openstax([str(book / "collections" / "b.collection.xml")])
    assert df["extract"].to_list() == ["A union joins two sets. Unions are defined by their members."]


def test_study_aids_told_by_title_are_neither_units_nor_covered_units(tmp_path):
    book = tmp_path / "book"
    (book / "collections").mkdir(parents=True)
    (book / "modules" / "m1").mkdir(parents=True)
    (book / "collections" / "b.collection.xml").write_text(
        '<col:collection xmlns:col="http://cnx.rice.edu/collxml" xmlns:md="http://cnx.rice.edu/mdml">'
        "<col:metadata><md:title>B</md:title></col:metadata><col:content><col:subcollection>"
        '<md:title>One</md:title><col:content><col:module document="m1"/></col:content>'
        "</col:subcollection></col:content></col:collection>"
    )
    (book / "modules" / "m1" / "index.cnxml").write_text(
        '<document xmlns="http://cnx.rice.edu/cnxml"><title>Planets</title><content>'
        "<section><title>Learning Objectives</title><para>Name the planets.</para></section>"
        "<section><title>Orbits</title><para>Planets move on ellipses.</para>"
        "<section><title>Learning Objectives</title><para>Describe an orbit.</para></section></section>"
        "<section><title>For Further Exploration</title><para>Kepler, J. Harmonices Mundi.</para></section>"
        "<section><title>Collaborative Group Activities</title><para>Build a model.</para></section>"
        "</content></document>"
    )
    df = load_openstax([str(book / "collections" / "b.collection.xml")])
    assert df.select("unit", "previous_units", "extract").rows() == [("Orbits", [], "Planets move on ellipses.")]
