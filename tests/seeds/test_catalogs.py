"""Course catalogs as universities publish them: identity, bad rows, entities, cross-listings, cut-off files."""

from __future__ import annotations

import logging

import pytest

from synthpedia.errors import InputError
from synthpedia.prompts import render_prompts
from synthpedia.seeds.stanford import is_cross_listing_stub, load_stanford_courses

AUDIENCES = {"college": {"label": "college students", "instructions": {"outline": "Aim at undergraduates."}}}


def _catalog(tmp_path, text: str):
    path = tmp_path / "catalog.csv"
    path.write_text(text)
    return path


def test_header_without_description_column_names_the_header(tmp_path):
    path = _catalog(tmp_path, "code,title,units\nMATH 1,Algebra,3\n")
    with pytest.raises(InputError, match=r"the header \(line 1\) has no 'description' column \(it has: code, title, units\)") as err:
        load_stanford_courses(path, "error")
    assert "sources.stanford.courses" in str(err.value) and str(path) in str(err.value)


def test_same_title_different_codes_are_two_courses(tmp_path):
    path = _catalog(
        tmp_path,
        "code,title,description\n"
        "HIST 199,Independent Study,Directed reading in history with a faculty member.\n"
        "CHEM 199,Independent Study,Laboratory research under a chemistry faculty member.\n"
        "HIST 199,Independent Study,Directed reading in history with a faculty member.\n",
    )
    courses = load_stanford_courses(path, "error")
    assert courses.select("code", "course").rows() == [
        ("HIST 199", "Independent Study"),
        ("CHEM 199", "Independent Study"),
    ]  # the repeated HIST 199 row is one course


def test_subject_and_number_make_the_code(tmp_path):
    path = _catalog(
        tmp_path,
        "subject,number,title,description\n"
        "PHYS,190,Independent Study,Research in physics.\n"
        "MATH,190,Independent Study,Research in mathematics.\n",
    )
    assert load_stanford_courses(path, "error")["code"].to_list() == ["PHYS 190", "MATH 190"]


def test_without_any_code_courses_with_one_title_stay_apart_by_description(tmp_path):
    path = _catalog(
        tmp_path,
        "title,description\nSeminar,Readings in ancient philosophy.\nSeminar,Readings in modern poetry.\n",
    )
    assert load_stanford_courses(path, "error")["description"].to_list() == [
        "Readings in ancient philosophy.",
        "Readings in modern poetry.",
    ]


def test_empty_description_under_error_names_the_line(tmp_path):
    path = _catalog(tmp_path, "code,title,description\nA 1,Optics,Light and lenses.\nA 2,Acoustics,\n")
    with pytest.raises(InputError, match=r"line 3: course 'Acoustics' has an empty 'description'.*on_bad_record"):
        load_stanford_courses(path, "error")


def test_empty_description_under_skip_is_counted_and_logged_with_its_line(tmp_path, caplog):
    path = _catalog(
        tmp_path,
        'code,title,description\nA 1,Optics,Light and lenses.\nA 2,Acoustics,\nA 3,Heat,"Engines,\nand entropy."\nA 4,x\n',
    )
    with caplog.at_level(logging.INFO, logger="synthpedia.seeds.stanford"):
        courses = load_stanford_courses(path, "skip")
    assert courses["course"].to_list() == ["Optics", "Heat"]
    assert courses["description"][1] == "Engines, and entropy."
    assert "line 3 skipped: course 'Acoustics' has an empty 'description'" in caplog.text
    assert "line 6 skipped: has 2 fields, the header has 3" in caplog.text
    assert "2 bad records skipped" in caplog.text


def test_html_entities_never_reach_a_prompt(tmp_path):
    path = _catalog(
        tmp_path,
        "code,title,description\nECON 10,Markets &amp; Prices,Supply &amp; demand; the &quot;invisible hand&quot;.\n",
    )
    courses = load_stanford_courses(path, "error")
    assert courses.row(0, named=True)["course"] == "Markets & Prices"
    prompts = render_prompts("stanford_outline", courses, {"audiences": ["college"]}, AUDIENCES)
    assert "&amp;" not in prompts["prompt"][0] and "&quot;" not in prompts["prompt"][0]
    assert 'Supply & demand; the "invisible hand".' in prompts["prompt"][0]


def test_cross_listing_stubs_are_dropped(tmp_path, caplog):
    path = _catalog(
        tmp_path,
        "code,title,description\n"
        "PS 201,Political Theory,Plato to Rawls: justice and the state.\n"
        "PHIL 201,Political Theory,Same as PS 201. See PS 201.\n"
        'PHIL 210,Ethics,"See the department for sections; readings in virtue ethics, duty and consequences '
        'as three answers to how one should live, with weekly essays on cases from medicine and law."\n',
    )
    with caplog.at_level(logging.INFO, logger="synthpedia.seeds.stanford"):
        courses = load_stanford_courses(path, "error")
    assert courses["code"].to_list() == ["PS 201", "PHIL 210"]  # a long description starting "See" is kept
    assert "line 3: cross-listing stub 'Same as PS 201. See PS 201.' dropped" in caplog.text
    assert is_cross_listing_stub("Cross-listed with HIST 12.") and not is_cross_listing_stub("Seeing is believing.")


def test_file_cut_off_inside_a_quoted_field_is_an_error(tmp_path):
    path = _catalog(tmp_path, 'code,title,description\nA 1,Optics,"Light and lenses, and then the file ends')
    with pytest.raises(InputError, match=r"line 2: .*cut off inside a quoted field") as err:
        load_stanford_courses(path, "skip")  # never skipped: the rest of the file is unknown
    assert str(path) in str(err.value)


def test_bad_policy_names_the_config_key(tmp_path):
    path = _catalog(tmp_path, "title,description\nOptics,Light.\n")
    with pytest.raises(InputError, match="sources.stanford.on_bad_record"):
        load_stanford_courses(path, "ignore")


def test_jsonl_catalog_record_without_description_is_skipped_with_its_line(tmp_path, caplog):
    path = tmp_path / "catalog.jsonl"
    path.write_text(
        '{"code": "A 1", "title": "Optics", "description": "Light &amp; lenses."}\n'
        '{"code": "A 2", "title": "Acoustics"}\n'
    )
    with caplog.at_level(logging.INFO, logger="synthpedia.seeds.stanford"):
        courses = load_stanford_courses(path, "skip")
    assert courses.select("course", "description").rows() == [("Optics", "Light & lenses.")]
    assert "line 2 skipped: has no 'description'" in caplog.text
    with pytest.raises(InputError, match=r"line 2: has no 'description'"):
        load_stanford_courses(path, "error")
