"""Exact OpenStax prompts, one per audience: the audience changes the format, not only the tone.

Requirements (reference.md, "OpenStax"; docs/fidelity.md) are noted at each expected prompt.
"""

from __future__ import annotations

import polars as pl
import pytest

from synthpedia.prompts import render_prompts
from synthpedia.seeds.openstax import choose_previous_units

SEED_ROW = {
    "seed_id": "s1",
    "source": "openstax",
    "book": "Introduction to Ecology",
    "chapter": "Populations",
    "section": "Population Growth",
    "unit": "Carrying Capacity",
    "previous_units": ["Exponential Growth", "Limits to Growth"],
    "extract": "A population cannot grow forever.\nFood, space and water run short.",
}
SPEC = {
    "audiences": ["young_children", "high_school", "college", "researchers"],
    "variants": ["plain", "with_extract"],
    "extract_chars": 600,
    "max_previous_units": 5,
    "sampled_previous_units": [2, 5],
    "shards": 1,
    "max_prompts": None,
}
EXPECTED = {
    # rigorous, engaging, applied textbook unit; LaTeX allowed
    "college": (
        'Write a new unit titled "Carrying Capacity" for the textbook "Introduction to Ecology" (chapter '
        '"Populations", section "Population Growth"), for college students.\n'
        'Make it rigorous (each concept covered in depth), engaging (an academic voice that holds '
        'attention) and applied (worked examples, derivations or cases); use LaTeX for mathematics where '
        'it helps.\n'
        'Units already covered in this section: "Exponential Growth", "Limits to Growth". Do not repeat '
        'them; build on them.\n'
        '\n'
        'Here is an excerpt from the original textbook, for inspiration only; do not copy it:\n'
        '<extract>\n'
        'A population cannot grow forever.\n'
        'Food, space and water run short.\n'
        '</extract>\n'
        '\n'
        'Write for college students. Be rigorous: cover each concept in depth with precise definitions, '
        'the evidence or derivations behind it, and worked examples. Use an academic yet engaging tone, '
        'and prefer depth over breadth. Do not use images.\n'
        '\n'
        'Write the unit text only: no title page, no table of contents, no closing remarks to the '
        'reader, and do not repeat these instructions.\n'
    ),
    # story-based e-learning module with thought experiments and real-life scenarios, no jargon
    "high_school": (
        'Write an engaging e-learning module for middle school students on the unit "Carrying Capacity" '
        'from the textbook "Introduction to Ecology" (chapter "Populations", section "Population '
        'Growth").\n'
        'Tell it as a story the student can step into: start from a real-life scenario, add a thought '
        'experiment or two that the reader works through, and connect every idea to their own life. '
        'Avoid jargon; when a new term is needed, explain it in plain words.\n'
        'Units already covered in this section: "Exponential Growth", "Limits to Growth". Do not repeat '
        'them; build on them.\n'
        '\n'
        'Here is an excerpt from the original textbook, for inspiration only; do not copy it:\n'
        '<extract>\n'
        'A population cannot grow forever.\n'
        'Food, space and water run short.\n'
        '</extract>\n'
        '\n'
        'Write for middle and high school students. Use clear language, define every new term when it '
        'first appears, and give concrete real-world examples and one short activity or thought '
        'experiment. Stay away from university-level mathematics. Be engaging, like a good teacher '
        'talking to the class.\n'
        '\n'
        'Write the unit text only: no title page, no table of contents, no closing remarks to the '
        'reader, and do not repeat these instructions.\n'
    ),
    # journal-article style for experts, critical analysis of recent findings, no invented references
    "researchers": (
        'Write a new unit titled "Carrying Capacity" for the textbook "Introduction to Ecology" (chapter '
        '"Populations", section "Population Growth"), in the style of an article in a scientific journal '
        'for professionals and researchers.\n'
        "Present advanced theory in the field's own terminology, then analyse recent research findings "
        'and debates critically, including the methods and data behind them. Use LaTeX for mathematics '
        'where it helps. Do not invent references, authors, studies or data: name only work you are '
        'certain exists, or none.\n'
        'Units already covered in this section: "Exponential Growth", "Limits to Growth". Do not repeat '
        'them; build on them.\n'
        '\n'
        'Here is an excerpt from the original textbook, for inspiration only; do not copy it:\n'
        '<extract>\n'
        'A population cannot grow forever.\n'
        'Food, space and water run short.\n'
        '</extract>\n'
        '\n'
        'Write for professionals and researchers. Assume expert knowledge; discuss current debates, '
        'recent findings and the methods and data behind them critically, in a dense academic style with '
        'precise terminology.\n'
        '\n'
        'Write the unit text only: no title page, no table of contents, no closing remarks to the '
        'reader, and do not repeat these instructions.\n'
    ),
    # e-learning module built on a story with cartoon-like characters and everyday examples, no jargon
    "young_children": (
        'Write a fun, simple e-learning module for young children aged 5 to 10, on the unit "Carrying '
        'Capacity" from the textbook "Introduction to Ecology" (chapter "Populations", section '
        '"Population Growth").\n'
        'Build the whole module around a short story with friendly, cartoon-like characters (animals, '
        'toys, children) who meet the idea in their day, and explain it only through everyday things a '
        'child knows, such as sharing apples between friends or lining up toys. Use no technical words '
        'or formulas at all.\n'
        'Units already covered in this section: "Exponential Growth", "Limits to Growth". Do not repeat '
        'them; build on them.\n'
        '\n'
        'Here is an excerpt from the original textbook, for inspiration only; do not copy it:\n'
        '<extract>\n'
        'A population cannot grow forever.\n'
        'Food, space and water run short.\n'
        '</extract>\n'
        '\n'
        'Write for children aged 5 to 10. Use short sentences and everyday words, with no technical '
        "terms, formulas or jargon. Explain each idea through a small story or an example from a child's "
        'day (toys, food, pets, the playground, the garden) and end with one simple question the child '
        'can think about. Keep a warm, playful tone.\n'
        '\n'
        'Write the unit text only: no title page, no table of contents, no closing remarks to the '
        'reader, and do not repeat these instructions.\n'
    ),
}


@pytest.fixture
def audiences(default_config):
    return default_config["audiences"]


@pytest.mark.parametrize("audience", sorted(EXPECTED))
def test_openstax_prompt_per_audience_exact_text(audiences, audience):
    prompts = render_prompts("openstax", pl.DataFrame([SEED_ROW]), SPEC, audiences)
    assert prompts.height == 8  # 4 audiences x (with and without the excerpt), as in the original
    row = prompts.filter((pl.col("audience") == audience) & (pl.col("variant") == "with_extract")).row(0, named=True)
    assert row["prompt"] == EXPECTED[audience]
    plain = prompts.filter((pl.col("audience") == audience) & (pl.col("variant") == "plain"))["prompt"][0]
    assert "<extract>" not in plain and plain.split("\n")[:3] == row["prompt"].split("\n")[:3]


def test_previous_units_all_up_to_five_else_a_seeded_two_to_five():
    few = ["A", "B", "C", "D", "E"]
    assert choose_previous_units(few, 5, [2, 5], seed=0, seed_id="s1") == few
    many = [f"Unit {i}" for i in range(1, 10)]
    picks = [tuple(choose_previous_units(many, 5, [2, 5], seed=0, seed_id=f"s{i}")) for i in range(60)]
    assert {len(p) for p in picks} == {2, 3, 4, 5}
    assert all(list(p) == sorted(p, key=many.index) for p in picks)  # book order kept
    assert picks[0] == tuple(choose_previous_units(many, 5, [2, 5], seed=0, seed_id="s0"))  # reproducible
    assert any(
        choose_previous_units(many, 5, [2, 5], seed=1, seed_id=f"s{i}") != list(picks[i]) for i in range(60)
    )  # the config seed changes the draw
