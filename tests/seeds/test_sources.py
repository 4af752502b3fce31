"""The non-web seed sources beyond OpenStax and wikiHow: Khan Academy, Stanford, AutoMathText, UltraChat, OpenHermes.

Each loader on its bundled input and, when present, on the real files in
../shared/data; malformed input; the story filters; outline parsing; and the
full rendered prompt of one seed for every new source and style.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from synthpedia.config import validate_config
from synthpedia.errors import InputError
from synthpedia.prompts import render_prompts
from synthpedia.registry import input_files, registry, source_spec
from synthpedia.seeds import load_seeds, loader_module
from synthpedia.seeds.automathtext import load_automathtext
from synthpedia.seeds.khanacademy import load_khanacademy
from synthpedia.seeds.outlines import is_unit_title, parse_outline, parse_outline_sections
from synthpedia.seeds.stanford import load_stanford_courses, outline_unit_seeds
from synthpedia.seeds.stories import load_openhermes, load_ultrachat, read_openhermes, read_ultrachat, story_drop_reason
from synthpedia.workflow import template_files

STORY_STYLES = registry()["ultrachat"].styles


def stanford_outline_spec(stanford_spec: dict) -> dict:
    return source_spec({"sources": {"stanford": stanford_spec}}, registry()["stanford_outline"])


def seed_input_files(source: str, spec: dict) -> list[str]:
    record = registry()[source]
    return [p for paths in input_files({"sources": {record.section: spec}}, record).values() for p in paths]

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
KHAN_TOPICS = RESOURCES / "khanacademy" / "topics.json"
STANFORD_COURSES = RESOURCES / "stanford" / "courses.csv"
MATH_JSONL = RESOURCES / "automathtext" / "math.jsonl"
ULTRACHAT_JSONL = RESOURCES / "ultrachat" / "questions.jsonl"
OPENHERMES_JSONL = RESOURCES / "openhermes" / "conversations.jsonl"
SHARED_DATA = ROOT.parent / "shared" / "data"
KHAN_REAL = SHARED_DATA / "topics_khan_academy_kalite" / "topics.json"
GPTEACHER = SHARED_DATA / "instruct_gpteacher"

# Audiences as the config defines them (labels and one instruction per style), kept short here.
AUDIENCES = {
    "college": {
        "label": "college students",
        "instructions": {"textbook": "Write for college students.", "outline": "Plan it for undergraduates."},
    },
    "general": {
        "label": "a general adult audience",
        "instructions": {
            "college": "Assume first-year calculus.",
            "grade_school": "Assume the four operations.",
            **{style: f"General note for the {style}." for style in STORY_STYLES},
        },
    },
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, records: list) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in records))


def _tables_have_their_columns(source: str, frame: pl.DataFrame) -> None:
    assert tuple(frame.columns) == tuple(loader_module(source).COLUMNS)
    assert frame["seed_id"].n_unique() == frame.height
    assert set(frame["source"]) == {source}


# ---- Khan Academy ----------------------------------------------------------------------------


def test_bundled_topic_tree_gives_one_seed_per_lesson_in_tree_order():
    khan = load_khanacademy(KHAN_TOPICS)
    _tables_have_their_columns("khanacademy", khan)
    assert khan.select("course", "unit", "lesson").rows()[:4] == [
        ("Everyday arithmetic", "Fractions", "Halves and quarters"),
        ("Everyday arithmetic", "Fractions", "Comparing fractions"),
        ("Everyday arithmetic", "Fractions", "Adding fractions with like denominators"),
        ("Everyday arithmetic", "Percentages", "What a percent means"),
    ]
    assert khan.height == 10  # "Getting started" has no course above it: not a lesson
    assert set(khan["subject"]) == {"Math", "Science"}
    adding = khan.row(2, named=True)
    # The video that sits directly in the unit is neither a lesson nor counted in positions.
    assert adding["lesson_index"] == 3
    assert adding["previous_lessons"] == ["Halves and quarters", "Comparing fractions"]
    # Exercises are named by display_name.
    assert khan.row(0, named=True)["items"] == [
        "Cutting a pizza into equal parts",
        "Why equal parts matter",
        "Name the fraction",
    ]


def test_topic_tree_as_a_list_of_topics_and_stable_ids(tmp_path):
    tree = json.loads(KHAN_TOPICS.read_text())
    moved = _write(tmp_path / "elsewhere.json", json.dumps(tree["children"]))
    assert load_khanacademy(moved).equals(load_khanacademy(KHAN_TOPICS))


@pytest.mark.skipif(not KHAN_REAL.exists(), reason="shared Khan Academy topic tree absent")
def test_real_khan_academy_tree_loads():
    khan = load_khanacademy(KHAN_REAL)
    assert khan.height == 1373  # every topic without sub-topics (1707 topics in all)
    first = khan.row(0, named=True)
    assert (first["subject"], first["course"], first["unit"], first["lesson"]) == (
        "Math",
        "Early math",
        "Counting",
        "Counting",
    )
    assert first["items"][0] == "Creating a number grid"
    assert khan["seed_id"].n_unique() == khan.height
    assert (khan["previous_lessons"].list.len() == khan["lesson_index"] - 1).all()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"kind": "Topic", "title": "Root", "children": [', r"not valid JSON at line 1, column \d+"),
        (
            '{"kind": "Topic", "title": "Root", "children": [{"kind": "Topic", "children": []}]}',
            "top-level node 1 is a topic without title",
        ),
        (
            '[{"kind": "Topic", "title": "Math", "children": [{"kind": "Topic", "title": "Algebra", "children": {}}]}]',
            "'Math' > 'Algebra': 'children' is dict, expected a list",
        ),
        ('[{"kind": "Topic", "title": "Math", "children": [{"title": "Video"}]}]', "'Math' > child 1 has no 'kind'"),
        ('[{"kind": "Topic", "title": "Math", "children": []}]', "no lessons"),
        ('"just a string"', "expected the root topic or a list of topics"),
    ],
)
def test_malformed_topic_tree_names_file_and_node(tmp_path, content, message):
    path = _write(tmp_path / "topics.json", content)
    with pytest.raises(InputError, match=message) as err:
        load_khanacademy(path)
    assert str(path) in str(err.value) and "seeds/khanacademy" in str(err.value)


# ---- Stanford: catalog, outlines, units ------------------------------------------------------


def test_bundled_course_catalog():
    courses = load_stanford_courses(STANFORD_COURSES, "error")
    _tables_have_their_columns("stanford_outline", courses)
    assert courses["code"].to_list() == ["SYN 101", "SYN 140", "SYN 210", "SYN 075"]
    compilers = courses.row(2, named=True)
    assert compilers["course"] == "Compilers: From Source to Machine Code"
    assert compilers["description"].endswith('code generation for a simple "toy" language.')


def test_course_catalog_as_jsonl_and_without_code(tmp_path):
    path = _jsonl(tmp_path / "courses.jsonl", [{"title": "Glaciology", "description": "Ice in motion."}])
    row = load_stanford_courses(path, "error").row(0, named=True)
    assert (row["code"], row["course"], row["description"]) == (None, "Glaciology", "Ice in motion.")


@pytest.mark.parametrize(
    "content, message",
    [
        ("title,description\nAlgebra,Groups and rings,extra\n", "line 2: has 3 fields, the header has 2"),
        ("title,description\nAlgebra,\n", "line 2: course 'Algebra' has an empty 'description'"),
        ("name_of_course,summary\nAlgebra,Groups\n", r"the header \(line 1\) has no 'title' column"),
        ("", "course catalog is empty"),
    ],
)
def test_malformed_course_catalog_names_file_and_line(tmp_path, content, message):
    path = _write(tmp_path / "courses.csv", content)
    with pytest.raises(InputError, match=message) as err:
        load_stanford_courses(path, "error")
    assert str(path) in str(err.value)


GENERATED_OUTLINE = """Here is an outline for Introduction to Probability:

**Course Overview and Logistics**
1. Sample Spaces and Events: what can happen, and how to describe it with sets
   - Outcomes and events
   - Set operations
2. **The Axioms of Probability**
3) Counting Methods
Unit 4: Conditional Probability and Independence
## 5. Random Variables - discrete and continuous variables and their distributions
6. Midterm Exam Review
7. Expectation and Variance
8. Office Hours and Grading Policy
9. Homework 3 and Problem Set Solutions
10. Limit Theorems
11. Final Project Presentations
12. Prerequisites and Textbook
13. Meet the Instructor and TAs
14. Course Schedule
15. Counting methods

Grading: 40% homework, 25% midterm, 35% final exam.
"""


def test_parse_outline_keeps_units_and_drops_logistics():
    assert parse_outline(GENERATED_OUTLINE) == [
        "Sample Spaces and Events",
        "The Axioms of Probability",
        "Counting Methods",
        "Conditional Probability and Independence",
        "Random Variables",
        "Expectation and Variance",
        "Limit Theorems",
    ]


def test_parse_outline_formats():
    assert parse_outline("I. Origins\nII. Growth\n  a) detail\nIII. Decline") == ["Origins", "Growth", "Decline"]
    # Without numbers, unindented bullets are the units.
    assert parse_outline("- Lexing\n- Parsing\n  - LL parsers\n- Syllabus") == ["Lexing", "Parsing"]
    # Subject matter that merely resembles logistics words stays.
    assert parse_outline("1. Scheduling Algorithms\n2. Register Assignment\n3. The Gradient") == [
        "Scheduling Algorithms",
        "Register Assignment",
        "The Gradient",
    ]
    assert parse_outline_sections("Week 1-2: Networks\n1.1 Routing") == [("Networks", "Routing")]
    assert parse_outline("no list at all") == []


TWO_LEVEL_OUTLINE = """Here is a two-level outline for the course, in 4-5 sections:

1. Foundations of Probability
1.1 Sample Spaces and Events
1.2 The Axioms of Probability
2. Course Logistics
2.1 Grading and Office Hours
2.2 Weekly Schedule
3. **Random Variables**
   - Discrete Distributions
   - This unit introduces the main continuous distributions and shows how to compute with them in practice.
   - 4-5 units
4. Limit Theorems
"""


def test_two_level_outline_gives_units_under_their_sections():
    # The original asked for sections, then units, and removed logistics, assessments and staff in a second
    # pass; here that pass is deterministic: logistics sections go whole, sentences and counts are not titles.
    assert parse_outline_sections(TWO_LEVEL_OUTLINE) == [
        ("Foundations of Probability", "Sample Spaces and Events"),
        ("Foundations of Probability", "The Axioms of Probability"),
        ("Random Variables", "Discrete Distributions"),
        ("Limit Theorems", "Limit Theorems"),  # a section without units is its own unit
    ]
    assert not is_unit_title("4-5 units") and not is_unit_title("12 weeks of lectures")
    assert not is_unit_title(" ".join(["word"] * 40))
    assert not is_unit_title("This course covers probability. It has two parts.")
    assert is_unit_title("Bayes' Theorem and Its Applications")


def test_outline_unit_seeds_one_row_per_unit():
    courses = load_stanford_courses(STANFORD_COURSES, "error")
    probability, ecology = courses["seed_id"][0], courses["seed_id"][1]
    outlines = pl.DataFrame(
        {
            "seed_id": [ecology, probability, probability],
            "prompt_id": ["p3", "p2", "p1"],
            "text": [
                "Syllabus and grading only",
                "1. Counting Methods\n2. Random Walks",
                GENERATED_OUTLINE,
            ],
        }
    )
    units = outline_unit_seeds(courses, outlines)
    _tables_have_their_columns("stanford", units)
    # Catalog order, then prompt id: p1 (the long outline) before p2; the repeated unit is skipped.
    assert units["unit"].to_list() == parse_outline(GENERATED_OUTLINE) + ["Random Walks"]
    assert set(units["course"]) == {"Introduction to Probability"}
    walks = units.row(-1, named=True)
    assert (walks["unit_index"], walks["previous_units"]) == (2, ["Counting Methods"])
    assert units.row(3, named=True)["previous_units"] == units["unit"].to_list()[:3]
    with pytest.raises(InputError, match="outline of seed_id 'nope' matches no course"):
        outline_unit_seeds(courses, pl.DataFrame({"seed_id": ["nope"], "text": ["1. A"]}))


def test_stanford_seeds_from_config_section_and_generated_shards(tmp_path):
    spec = {"courses": str(STANFORD_COURSES), "on_bad_record": "error", "outline": {"shards": 1, "audiences": ["college"]}}
    courses = load_seeds("stanford_outline", stanford_outline_spec(spec))
    shard = tmp_path / "000.parquet"
    pl.DataFrame(
        {"seed_id": [courses["seed_id"][3]], "prompt_id": ["x"], "text": ["1. Sundials\n2. Exam prep"]}
    ).write_parquet(shard)
    units = load_seeds("stanford", spec, {"outlines": [str(shard)]})
    assert units.select("course", "unit").rows() == [("The History of Timekeeping", "Sundials")]
    # The step reads its own sub-section plus the catalog and its bad-record policy.
    assert stanford_outline_spec(spec) == {
        "shards": 1, "audiences": ["college"], "courses": str(STANFORD_COURSES), "on_bad_record": "error",
    }
    assert seed_input_files("stanford", spec) == [str(STANFORD_COURSES)]
    with pytest.raises(InputError, match="no 'outlines' given"):
        load_seeds("stanford", spec)


# ---- AutoMathText ----------------------------------------------------------------------------


def test_bundled_math_extracts_are_cut_at_a_word_boundary_with_line_breaks_kept():
    math = load_automathtext([MATH_JSONL], 1000)
    _tables_have_their_columns("automathtext", math)
    assert math.height == 6
    assert math["extract"].str.len_chars().max() <= 1000
    matrices = math.row(3, named=True)
    assert matrices["meta"] is None and matrices["url"].endswith("matrices-as-maps")
    assert matrices["extract"].endswith("from computer")  # the source text is longer: cut at a space
    assert "\n\\[ A = \\begin{pmatrix}" in matrices["extract"]
    assert json.loads(math.row(0, named=True)["meta"]) == {"score": 0.91, "topic": "series"}
    assert math.row(5, named=True)["url"] is None
    assert load_automathtext([MATH_JSONL], extract_chars=60)["extract"][4] == (
        "At a party of 10 people everyone shakes hands with everyone"
    )


def test_math_extracts_from_parquet_skip_blank_and_repeated_text(tmp_path):
    path = tmp_path / "math.parquet"
    pl.DataFrame({"text": ["x + 1 = 2", "   ", "x + 1 = 2"], "url": ["u", "u", "u"]}).write_parquet(path)
    assert load_automathtext([str(path)], 1000)["extract"].to_list() == ["x + 1 = 2"]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"text": "a"}', '{"url": "https://x"}'], "line 2: has no 'text'"),
        (['{"text": "a"}', "{not json"], "line 2 is not valid JSON"),
        (['{"text": 3}'], "line 1: 'text' is int, expected a string"),
        (['{"text": "a", "meta": [1]}'], "line 1: 'meta' is list, expected an object"),
        (['["text"]'], "line 1: expected an object, found list"),
    ],
)
def test_malformed_math_records_name_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "math.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message) as err:
        load_automathtext([str(path)], 1000)
    assert str(path) in str(err.value)


def test_unknown_file_type_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown file type '.txt'"):
        load_automathtext([str(_write(tmp_path / "math.txt", "x"))], 1000)
    with pytest.raises(InputError, match="file not found"):
        load_automathtext([str(tmp_path / "absent.jsonl")], 1000)


# ---- stories: UltraChat and OpenHermes -------------------------------------------------------


def test_bundled_ultrachat_questions_in_every_format():
    frame, counts = read_ultrachat([ULTRACHAT_JSONL])
    _tables_have_their_columns("ultrachat", frame)
    assert frame["question"].to_list() == [
        "Why do onions make people cry when they are cut?",
        "How do bees turn nectar into honey?",
        "What causes the seasons on Earth?",
        "How does a refrigerator keep food cold without making cold?",  # 'messages' format
        "Why do cats land on their feet?",  # 'question' format
    ]
    assert counts == {"read": 6, "kept": 5, "blank": 0, "duplicate": 1}


def test_openhermes_filters_drop_exactly_the_original_ones():
    frame, counts = read_openhermes([OPENHERMES_JSONL])
    _tables_have_their_columns("openhermes", frame)
    assert frame["prompt"].to_list() == [
        (
            "My neighbour's tree drops leaves into my garden every autumn. How can I bring it up without "
            "starting a feud?"
        ),  # after a system turn
        "Explain why a bicycle stays upright when it is moving but falls over when it is still.",
        "What should I pack for a three-day hike in the mountains in early spring?",  # language unset
        "Give three tips for keeping a sourdough starter healthy.",  # Alpaca-style record
    ]
    assert counts == {"read": 9, "kept": 4, "source": 2, "category": 2, "language": 1, "blank": 0, "duplicate": 0}


@pytest.mark.parametrize(
    "origin, category, language, reason",
    [
        ("CamelAI", None, None, "source"),
        ("glaive-code-assist", "general", "English", "source"),
        ("airoboros2.2", "RP", None, "category"),
        (None, "gtkm", None, "category"),
        (None, "wordgame", "English", "category"),
        (None, "riddle", None, "category"),
        (None, "coding", None, "category"),
        (None, None, "Chinese", "language"),
        ("camelai", "rp", "German", "source"),  # the first filter that applies is counted
        ("airoboros2.2", "orca", "English", None),
        ("metamath", None, "", None),
        (None, None, "english", None),
    ],
)
def test_story_drop_reason(origin, category, language, reason):
    assert story_drop_reason(origin, category, language) == reason


@pytest.mark.skipif(not GPTEACHER.exists(), reason="shared GPTeacher data absent")
def test_real_gpteacher_files_load_as_openhermes_rows():
    files = [GPTEACHER / "roleplay-simple-deduped-roleplay-instruct.json", GPTEACHER / "codegen-instruct.json"]
    records = [r for f in files for r in json.loads(f.read_text())]
    frame, counts = read_openhermes([str(f) for f in files])
    assert counts["read"] == len(records) == 1923 + 4535
    assert counts["kept"] == frame.height == counts["read"] - counts["duplicate"] - counts["blank"]
    assert frame["prompt"][0] == records[0]["instruction"]
    with_input = next(r for r in records if r["input"].strip())
    expected = f"{with_input['instruction'].strip()}\n\n{with_input['input'].strip()}"
    assert expected in set(frame["prompt"])
    assert frame["origin"].null_count() == frame.height


@pytest.mark.parametrize(
    "record, message",
    [
        ({"conversations": [{"from": "gpt", "value": "Hi"}]}, "line 1: 'conversations' has no turn from the user"),
        ({"conversations": [{"from": "human"}]}, r"line 1, conversations\[1\]: has no 'value'"),
        ({"conversations": "hello"}, "line 1: 'conversations' is str, expected a list of turns"),
        ({"text": "neither format"}, "line 1: has neither 'conversations' nor 'instruction'"),
        ({"instruction": "Do it", "category": 5}, "line 1: 'category' is int, expected a string"),
    ],
)
def test_malformed_openhermes_records_name_file_and_record(tmp_path, record, message):
    path = _jsonl(tmp_path / "oh.jsonl", [record])
    with pytest.raises(InputError, match=message) as err:
        load_openhermes([str(path)])
    assert str(path) in str(err.value) and "seeds/openhermes" in str(err.value)


def test_malformed_ultrachat_and_json_array_files(tmp_path):
    path = _jsonl(tmp_path / "uc.jsonl", [{"data": []}])
    with pytest.raises(InputError, match="line 1: 'data' is not a non-empty list of turns"):
        load_ultrachat([str(path)])
    array = _write(tmp_path / "oh.json", json.dumps({"instruction": "not in an array"}))
    with pytest.raises(InputError, match="expected a JSON array of records, found dict"):
        load_openhermes([str(array)])
    records = _write(tmp_path / "oh2.json", json.dumps([{"instruction": "fine"}, {"input": "no instruction"}]))
    with pytest.raises(InputError, match="record 2: has neither 'conversations' nor 'instruction'"):
        load_openhermes([str(records)])


def test_all_filtered_away_is_an_error(tmp_path):
    path = _jsonl(tmp_path / "oh.jsonl", [{"instruction": "Hola", "language": "Spanish"}])
    with pytest.raises(InputError, match=r"no seeds left from 1 records \(dropped: source=0, category=0, language=1"):
        load_openhermes([str(path)])


# ---- prompts: the full text of one seed for every new source and style ------------------------

KHAN_SEED = {
    "seed_id": "k1",
    "source": "khanacademy",
    "subject": "Math",
    "course": "Everyday arithmetic",
    "unit": "Fractions",
    "lesson": "Adding fractions with like denominators",
    "lesson_index": 3,
    "previous_lessons": ["Halves and quarters", "Comparing fractions"],
    "items": ["Adding slices of the same pie", "Add fractions with like denominators"],
}
KHAN_SPEC = {"audiences": ["college"], "max_previous_lessons": 5, "max_items": 10}


def _only_prompt(source: str, row: dict, spec: dict, style: str | None = None) -> str:
    prompts = render_prompts(source, pl.DataFrame([row]), spec, AUDIENCES)
    if style is not None:
        prompts = prompts.filter(pl.col("style") == style)
    assert prompts.height == 1
    return prompts["prompt"][0]


KHAN_BE = (
    "Be:\n"
    "- Rigorous: cover each concept in depth before moving on, rather than many concepts briefly.\n"
    "- Engaging: tell it with a narrative arc, in a lively voice that makes the reader want to go on.\n"
    "- Applied: ground every idea in specific, practical examples, such as worked problems, experiments or "
    "everyday situations.\n"
    "Write for college students.\n"
    "\n"
    "Write the sub-unit text only: no title page, no table of contents, no closing remarks to the reader, and "
    "do not repeat these instructions.\n"
)


def test_khanacademy_one_prompt_per_lesson_item_exact_text():
    # The original: one prompt per lesson item (video or exercise), naming the course, the unit, the lessons
    # and items before it; rigorous, engaging with a narrative arc, applied.
    prompts = render_prompts("khanacademy", pl.DataFrame([KHAN_SEED]), KHAN_SPEC, AUDIENCES)
    assert sorted(prompts["variant"]) == ["item01", "item02"]
    second = prompts.filter(pl.col("variant") == "item02")["prompt"][0]
    assert second == (
        'Write a long and very detailed course unit for a textbook on "Everyday arithmetic", written for '
        "college students.\n"
        'We are writing the chapter "Fractions", in its lesson "Adding fractions with like denominators".\n'
        'The chapter has already covered these lessons: "Halves and quarters", "Comparing fractions".\n'
        'Sub-units of this lesson already written: "Adding slices of the same pie". Do not repeat them; build on '
        "what they taught.\n"
        'Write the sub-unit titled "Add fractions with like denominators".\n'
        "\n" + KHAN_BE
    )
    first = prompts.filter(pl.col("variant") == "item01")["prompt"][0]
    assert "This is the lesson's first sub-unit, so start from its foundations.\n" in first
    assert 'Write the sub-unit titled "Adding slices of the same pie".\n' in first
    only_one = render_prompts("khanacademy", pl.DataFrame([KHAN_SEED]), {**KHAN_SPEC, "max_items": 1}, AUDIENCES)
    assert only_one["variant"].to_list() == ["item01"]


def test_khanacademy_first_lesson_without_items():
    row = {**KHAN_SEED, "previous_lessons": [], "items": []}
    text = _only_prompt("khanacademy", row, {**KHAN_SPEC, "max_previous_lessons": 0})
    assert text == (
        'Write a long and very detailed course unit for a textbook on "Everyday arithmetic", written for '
        "college students.\n"
        'We are writing the chapter "Fractions", in its lesson "Adding fractions with like denominators".\n'
        "This is the first lesson of the chapter.\n"
        'Write the lesson "Adding fractions with like denominators" as one sub-unit, starting from its '
        "foundations.\n"
        "\n" + KHAN_BE
    )


def test_stanford_outline_prompt_exact_text():
    course = load_stanford_courses(STANFORD_COURSES, "error").row(2, named=True)
    spec = stanford_outline_spec({"courses": str(STANFORD_COURSES), "outline": {"audiences": ["college"]}})
    assert _only_prompt("stanford_outline", course, spec) == (
        'Here is the catalog description of the university course "Compilers: From Source to Machine Code" '
        "(SYN 210):\n"
        "<description>\n"
        "The journey of a program through a compiler. Lexical analysis and parsing, abstract syntax trees, type "
        "checking, intermediate representations, data-flow analysis and optimisation, register allocation and "
        'code generation for a simple "toy" language.\n'
        "</description>\n"
        "\n"
        # Two levels (sections, then units), as the original's outline prompt.
        "Write the outline of this course in two levels, in teaching order: its sections, numbered 1., 2., ..., "
        "and under each section its units, numbered 1.1, 1.2, ..., one title per line and nothing else on the "
        "line, like this:\n"
        "1. <title of the first section>\n"
        "1.1 <title of its first unit>\n"
        "1.2 <title of its second unit>\n"
        "2. <title of the second section>\n"
        "2.1 <title of its first unit>\n"
        "Cover the whole subject of the course in 4 to 8 sections of 2 to 5 units each. List subject matter only: "
        "leave out office hours, grading, exams, homework, the syllabus, instructors and teaching assistants, "
        "prerequisites, textbooks and the schedule.\n"
        "Plan it for undergraduates.\n"
        "\n"
        "Write the outline only, with no introduction and no closing remarks.\n"
    )


def test_stanford_unit_prompt_exact_text():
    row = {
        "seed_id": "s1",
        "source": "stanford",
        "course_seed_id": "c1",
        "code": "SYN 101",
        "course": "Introduction to Probability",
        "section": "Foundations",
        "unit": "Conditional Probability",
        "unit_index": 3,
        "previous_units": ["Sample Spaces", "Counting Methods"],
    }
    assert _only_prompt("stanford", row, {"audiences": ["college"], "max_previous_units": 1}) == (
        'Write a long and very detailed chapter for a textbook based on the university course "Introduction to '
        'Probability", written for college students.\n'
        'The chapter belongs to the part of the course "Foundations".\n'
        'The chapters already written are: "Counting Methods". Do not repeat their content; build on it.\n'
        'Now write the chapter "Conditional Probability".\n'
        "\n"
        "Be:\n"
        "- Rigorous: cover each concept in depth before moving on, rather than many concepts briefly.\n"
        "- Engaging: write in a lively voice that makes the reader want to go on.\n"
        "- Applied: ground every idea in specific, practical examples, such as worked problems, case studies or "
        "experiments.\n"
        "Write for college students.\n"
        "\n"
        "Write the chapter text only: no title page, no table of contents, no closing remarks to the reader, and "
        "do not repeat these instructions.\n"
    )


MATH_SEED = {
    "seed_id": "m1",
    "source": "automathtext",
    "url": None,
    "meta": None,
    "extract": "The sum $1 + 2 + \\dots + n$ equals\n$$\\frac{n(n+1)}{2}.$$",
}
MATH_EXTRACT_BLOCK = (
    "Here is an extract from a web page about mathematics:\n"
    "<extract>\n"
    "The sum $1 + 2 + \\dots + n$ equals\n"
    "$$\\frac{n(n+1)}{2}.$$\n"
    "</extract>\n"
    "\n"
)
MATH_CLOSING = (
    "\n\nDo not copy the extract, do not add a title or headings, and start directly with the piece: no "
    "introduction about yourself.\n"
)


def test_automathtext_college_prompt_exact_text():
    assert _only_prompt("automathtext", MATH_SEED, {"audiences": ["general"]}, "college") == (
        MATH_EXTRACT_BLOCK
        + "Write an educational piece for college students, related to this extract. Do not just list concepts: "
        "develop each one in detail before moving on to the next, aiming for\n"
        "- rigour: precise definitions and full explanations, with derivations or proofs where they help;\n"
        "- engagement: a clear academic voice that keeps the reader interested;\n"
        "- application: worked examples, such as a proof, a computation or a use of the idea in another field.\n"
        "Write mathematics in LaTeX where it helps.\n"
        "Assume first-year calculus." + MATH_CLOSING
    )


def test_automathtext_grade_school_prompt_exact_text():
    assert _only_prompt("automathtext", MATH_SEED, {"audiences": ["general"]}, "grade_school") == (
        MATH_EXTRACT_BLOCK
        + "Write an educational piece for grade-school students, related to this extract. If the extract is too "
        "advanced, choose a simple idea connected to it that a grade-school student can grasp. Use no technical "
        "terms and no college-level topics (such as calculus, vectors or proofs), and write no LaTeX and no "
        "formulas beyond simple arithmetic like 3 + 4 = 7. Explain with everyday things: sharing food, counting "
        "coins, arranging objects in rows, measuring a room.\n"
        "Assume the four operations." + MATH_CLOSING
    )


def test_automathtext_styles_follow_the_config_list():
    prompts = render_prompts(
        "automathtext", pl.DataFrame([MATH_SEED]), {"audiences": ["general"], "styles": ["grade_school"]}, AUDIENCES
    )
    assert prompts["style"].to_list() == ["grade_school"]


STORY_SEED_TEXT = "Why do onions make people cry when they are cut?"
STORY_INTROS = {
    "ultrachat": "Here is a question someone asked about the world:\n",
    "openhermes": "Here is a request someone made to an AI assistant, with the answer it got:\n",
}
# Each style's requirements (reference.md, "Stories"): young children 3-5 paragraphs, a science fact,
# dialogue, a twist that does not resolve as hoped; morality: ambiguity, past actions' consequences,
# dialogue; problem solving: common sense, social cues, positive and negative outcomes, a dialogue,
# different ages; forum: real-life, twist, emotional depth; reddit: niche or humour, twist, reflection,
# straight into the story.
STORY_TASKS = {
    "young_children_story": (
        'Write an educational story for young children (3 to 6 years old), inspired by the text above, in 3 '
        'to 5 short paragraphs. Weave into it one simple science fact about how the world works (the kind of '
        'thing that explains why the sky is blue) and let the characters discover it by talking to each '
        'other: use dialogue. End with an unexpected twist: things do not turn out the way the characters '
        'hoped, and the story shows what they can learn from that instead.'
    ),
    "morality_story": (
        'Write a story for readers who like mature themes, inspired by the text above. Give the characters a '
        'choice with no clean answer, where good people can disagree, and let the consequences of what they '
        'did in the past catch up with them. Carry it through meaningful dialogue, and let the reader weigh '
        'the outcome rather than being told the lesson.'
    ),
    "problem_solving_story": (
        'Write a story, inspired by the text above, in which characters of different ages meet an everyday '
        'problem and work it out with common sense and by reading social cues: what others want, feel or '
        'expect. Include at least one dialogue. Show both a positive outcome of a good decision and a '
        'negative outcome of a poor one, so that the reader sees why each turned out as it did.'
    ),
    "forum_story": (
        'Write a story in the form of a first-person post on an online forum, inspired by the text above. The '
        'writer tells of a real-life situation they went through, with a concrete setting and specific '
        'details, an unexpected twist that changed how it went, and the feelings it left them with: give it '
        'emotional depth.'
    ),
    "reddit_post": (
        'Write a Reddit post, inspired by the text above, in which the poster tells something that happened '
        'to them around a niche interest or with a touch of humour. Start straight away with the story, in an '
        'informal first-person voice with specific details, build to a twist, and close with a reflection on '
        'what it taught them.'
    ),
}
STORY_RULES = (
    'Do not open with a stock phrase such as "Once upon a time", "The sun hung low in the sky", "In the '
    'dimly lit", "In a bustling city", "In a small village nestled", "A few years ago", "A few years '
    'back" or "A few months ago"; open with something particular to this story, and put nothing before '
    'it: no introduction about yourself and no mention of the text above.'
    "\n"
)


@pytest.mark.parametrize("source, column", [("ultrachat", "question"), ("openhermes", "prompt")])
@pytest.mark.parametrize("style", STORY_STYLES)
def test_story_prompt_exact_text(source, column, style):
    row = {"seed_id": "q1", "source": source, column: STORY_SEED_TEXT}
    if source == "openhermes":
        row.update(answer=None, origin=None, category=None, language=None)
    text = _only_prompt(source, row, {"audiences": ["general"], "extract_chars": 1000}, style)
    assert text == (
        STORY_INTROS[source]
        + "<text>\n"
        + STORY_SEED_TEXT
        + "\n</text>\n\n"
        + STORY_TASKS[style]
        + "\n"
        + f"General note for the {style}.\n\n"
        + STORY_RULES
    )


def test_openhermes_story_seed_is_the_first_request_and_its_answer():
    frame, _ = read_openhermes([OPENHERMES_JSONL])
    first = frame.row(0, named=True)
    assert first["answer"] and first["answer"] != first["prompt"]
    row = {"seed_id": "q1", "source": "openhermes", "prompt": "How do I stop my bread going stale?",
           "answer": "Keep it in a paper bag.\nFreeze what you will not eat in two days.",
           "origin": None, "category": None, "language": None}
    text = _only_prompt("openhermes", row, {"audiences": ["general"], "extract_chars": 1000}, "reddit_post")
    assert text.startswith(
        "Here is a request someone made to an AI assistant, with the answer it got:\n<text>\n"
        "Request: How do I stop my bread going stale?\n\n"
        "Answer: Keep it in a paper bag.\nFreeze what you will not eat in two days.\n</text>\n"
    )


def test_every_story_prompt_forbids_stock_openings_and_cuts_long_seeds():
    long_question = "Why is the sky blue? " * 100
    for source, column in (("ultrachat", "question"), ("openhermes", "prompt")):
        row = {"seed_id": "q1", "source": source, column: long_question}
        prompts = render_prompts(
            source, pl.DataFrame([row]), {"audiences": ["general"], "extract_chars": 200}, AUDIENCES
        )
        assert sorted(prompts["style"]) == sorted(STORY_STYLES)
        for text in prompts["prompt"]:
            for opener in ("Once upon a time", "The sun hung low in the sky", "In the dimly lit",
                           "A few years ago", "A few years back", "A few months ago"):
                assert f'"{opener}"' in text
            seed_text = text.split("<text>\n", 1)[1].split("\n</text>", 1)[0]
            assert len(seed_text) <= 200 and seed_text.startswith("Why is the sky blue?")


# ---- config: schema entries, audiences, template files ----------------------------------------


def test_schema_styles_are_the_registered_styles():
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    sources = schema["properties"]["sources"]["properties"]
    for source in ("automathtext", "ultrachat", "openhermes"):
        styles = sources[source]["properties"]["styles"]
        assert tuple(styles["items"]["enum"]) == registry()[source].styles
        assert set(styles["default"]) <= set(styles["items"]["enum"])
    # The original wrote OpenHermes seeds in 3 styles only.
    assert sources["openhermes"]["properties"]["styles"]["default"] == [
        "young_children_story",
        "problem_solving_story",
        "reddit_post",
    ]


def test_config_with_every_new_source_validates_and_fills_defaults():
    config = {
        "sources": {
            "khanacademy": {"topics": str(KHAN_TOPICS)},
            "stanford": {"courses": str(STANFORD_COURSES), "audiences": ["college"]},
            "automathtext": {"files": [str(MATH_JSONL)]},
            "ultrachat": {"files": [str(ULTRACHAT_JSONL)]},
            "openhermes": {"files": [str(OPENHERMES_JSONL)]},
        },
        "audiences": AUDIENCES,
    }
    validated = validate_config(config, base_dir=ROOT)
    sources = validated["sources"]
    assert sources["khanacademy"]["max_previous_lessons"] == 5 and sources["khanacademy"]["audiences"] == ["college"]
    assert sources["stanford"]["outline"] == {"shards": 1, "max_prompts": None, "audiences": ["college"]}
    assert sources["automathtext"]["extract_chars"] == 1000
    assert sources["openhermes"]["styles"] == ["young_children_story", "problem_solving_story", "reddit_post"]
    assert sources["ultrachat"]["styles"] == list(STORY_STYLES)
    for source in sources:
        step = "stanford_outline" if source == "stanford" else source
        assert load_seeds(step, source_spec(validated, registry()[step])).height > 0
        assert all(Path(p).is_file() for p in seed_input_files(source, sources[source]))
    with pytest.raises(InputError, match="sources.automathtext.styles"):
        validate_config({**config, "sources": {"automathtext": {"files": ["x"], "styles": ["poem"]}}}, base_dir=ROOT)


@pytest.mark.parametrize(
    "source", ["khanacademy", "stanford_outline", "stanford", "automathtext", "ultrachat", "openhermes"]
)
def test_template_files_exist(source):
    files = template_files(source)
    assert files and all(Path(f).is_file() for f in files)


def test_outlines_held_to_the_answer_schema_are_read_as_sections_and_units():
    outline = json.dumps({"sections": [
        {"title": "Foundations of Probability", "units": ["Counting Methods", "Conditional Probability"]},
        {"title": "Course logistics", "units": ["Grading policy"]},
        {"title": "Random Variables", "units": ["Expectation\nand Variance"]},
    ]})
    assert parse_outline_sections(outline) == [
        ("Foundations of Probability", "Counting Methods"),
        ("Foundations of Probability", "Conditional Probability"),
        ("Random Variables", "Expectation and Variance"),
    ]
    # Cut off by the token limit: the complete sections are kept, the open one gives its title.
    cut = outline[: outline.index("Variance") - 3]
    assert parse_outline_sections(cut)[-1] == ("Random Variables", "Random Variables")
    # A raw line break inside a string (a small model under a grammar) does not lose the outline.
    loose = '{ "sections": [ { "title":"Waves", "units":[ "Sound\nand Light" ] } ] }'
    assert parse_outline_sections(loose) == [("Waves", "Sound and Light")]


def test_the_outline_step_asks_for_its_answer_schema():
    from synthpedia.workflow import answer_schema

    schema = answer_schema("stanford_outline")
    assert schema["required"] == ["sections"]
    assert schema["properties"]["sections"]["items"]["required"] == ["title", "units"]
    assert answer_schema("stanford") is None and answer_schema("wikihow") is None
