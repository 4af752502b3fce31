"""Benchmark loaders: every format reads the bundled sample and the real release; bad input names file and line."""

from __future__ import annotations

import bz2
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthpedia.benchsets import BENCHMARK_FORMATS, BenchmarkItem, check_benchmark, load_benchmark, write_eval_task
from synthpedia.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "benchmarks"
SHARED = ROOT.parent / "shared" / "data"

BUNDLED = [
    # name, format, path, labels, items, choices per item
    ("arc_easy", "arc", "arc_easy/ARC-Easy-Sample.jsonl", None, 20, None),
    ("openbookqa", "openbookqa", "openbookqa/Main-Sample.jsonl", None, 12, 4),
    ("boolq", "boolq", "boolq/dev.jsonl", None, 12, 2),
    ("hellaswag", "hellaswag", "hellaswag/validation.jsonl", None, 12, 4),
    ("mmlu", "mmlu", "mmlu", None, 12, 4),
    ("mmlu_mc", "mmlu_mc", "mmlu", None, 12, 4),
    ("commonsenseqa", "commonsenseqa", "commonsenseqa/dev-sample.jsonl", None, 8, 5),
    ("piqa", "piqa", "piqa/valid.jsonl", "piqa/valid-labels.lst", 12, 2),
    ("siqa", "siqa", "siqa/dev.jsonl", "siqa/dev-labels.lst", 12, 3),
    ("winogrande", "winogrande", "winogrande/dev.jsonl", None, 12, 2),
    # generative: the accepted answers stand in the choices, gold 0
    ("triviaqa", "triviaqa", "triviaqa/triviaqa-sample.jsonl", None, 40, None),
    ("gsm8k", "gsm8k", "gsm8k/test-sample.jsonl", None, 30, 1),
]


def spec(name, fmt, path, labels=None, **extra):
    out = {"name": name, "format": fmt, "path": path, **extra}
    if labels:
        out["labels"] = labels
    return out


@pytest.mark.parametrize("name,fmt,path,labels,count,n_choices", BUNDLED, ids=[b[0] for b in BUNDLED])
def test_bundled_sample_loads(name, fmt, path, labels, count, n_choices):
    items = load_benchmark(spec(name, fmt, SAMPLES / path, labels and SAMPLES / labels))
    assert len(items) == count
    assert len({item.item_id for item in items}) == count
    for item in items:
        assert isinstance(item, BenchmarkItem) and item.benchmark == name
        assert item.text.strip() and item.question.strip()
        assert 0 <= item.gold < len(item.choices)
        if n_choices:
            assert len(item.choices) == n_choices
    # the right answer is not always in the same place
    assert len({item.gold for item in items}) > 1 or all(item.generation for item in items)


def test_arc_sample_has_numeric_labels_and_odd_choice_counts():
    items = load_benchmark(spec("arc_easy", "arc", SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl"))
    raw = [json.loads(line) for line in (SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl").read_text().splitlines()]
    assert any(r["answerKey"].isdigit() for r in raw)
    assert {len(item.choices) for item in items} >= {3, 4, 5}
    moon = next(i for i, r in zip(items, raw) if "Moon appear" in r["question"]["stem"])
    assert moon.choices[moon.gold] == "We see different amounts of its sunlit half as it orbits Earth."
    assert moon.text.startswith("Why does the Moon appear") and moon.question.startswith("Question: Why")


def test_fields_used_for_decontamination_and_evaluation():
    hs = load_benchmark(spec("hs", "hellaswag", SAMPLES / "hellaswag/validation.jsonl"))[0]
    assert hs.text.startswith("A woman sprinkles flour")  # ctx only
    assert hs.question.startswith("Baking bread: A woman")  # activity label + ctx
    siqa = load_benchmark(spec("siqa", "siqa", SAMPLES / "siqa/dev.jsonl"))[0]  # labels found beside the data
    assert siqa.text == "Jordan stayed late after practice to help the new player learn the drills. " \
                        "How would the new player feel as a result?"
    assert siqa.choices[siqa.gold] == "grateful for the help"
    wg = load_benchmark(spec("wg", "winogrande", SAMPLES / "winogrande/dev.jsonl"))[0]
    assert "_" in wg.text and wg.question == "The piano could not be carried through the old doorway because the"
    assert wg.contexts == (
        "The piano could not be carried through the old doorway because the piano",
        "The piano could not be carried through the old doorway because the doorway",
    )
    assert wg.choices == ("was too narrow.", "was too narrow.")
    assert wg.gold == 1
    boolq = load_benchmark(spec("boolq", "boolq", SAMPLES / "boolq/dev.jsonl"))
    assert boolq[0].choices == ("no", "yes") and boolq[0].gold == 0  # "false"
    assert boolq[4].gold == 1  # JSON true
    assert boolq[0].question.startswith("Great Wall of China -- ") and boolq[0].question.endswith("?\nAnswer:")
    mmlu = load_benchmark(spec("mmlu", "mmlu", SAMPLES / "mmlu/high_school_world_history_test.csv"))
    silk = next(i for i in mmlu if i.text.startswith("The Silk Road"))
    assert silk.choices[silk.gold] == "connected trade, goods, and ideas between Asia, the Middle East, and Europe"
    assert silk.item_id.startswith("high_school_world_history_test:")


def test_max_items_and_stable_ids():
    first = load_benchmark(spec("piqa", "piqa", SAMPLES / "piqa/valid.jsonl", max_items=3))
    again = load_benchmark(spec("piqa", "piqa", SAMPLES / "piqa/valid.jsonl"))
    assert [i.item_id for i in first] == ["valid:1", "valid:2", "valid:3"]
    assert first == again[:3]


def test_hellaswag_text_form(tmp_path):
    path = tmp_path / "hs_val.txt.bz2"
    lines = [
        "Making tea: A man fills a kettle with water. He",
        "1",
        "drinks the kettle.",
        "puts the kettle on the stove.",
        "throws the kettle.",
        "paints the kettle.",
        "Home and Garden: How to water a fern. Check the soil with a finger. Then you",
        "0",
        "water it when the top feels dry.",
        "bury it.",
        "freeze it.",
        "sing to it.",
    ]
    with bz2.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    items = load_benchmark(spec("hellaswag", "hellaswag", path))
    assert [i.item_id for i in items] == ["hs_val:1", "hs_val:7"]
    assert items[0].text == "A man fills a kettle with water. He"
    assert items[0].choices[items[0].gold] == "puts the kettle on the stove."
    assert items[1].question.startswith("Home and Garden: How to water")


def test_write_eval_task(tmp_path):
    items = load_benchmark(spec("arc_easy", "arc", SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl"))
    out = tmp_path / "task" / "test.jsonl"
    write_eval_task(items, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20 and set(rows[0]) == {"id", "query", "choices", "gold"}
    assert rows[0]["id"] == items[0].item_id
    assert rows[0]["query"].endswith("\nAnswer:")
    assert rows[0]["choices"][rows[0]["gold"]] == " " + items[0].choices[items[0].gold]


def test_unlabelled_split_loads_but_cannot_be_an_eval_task(tmp_path):
    path = tmp_path / "tests.jsonl"
    path.write_text(json.dumps({"goal": "Open a jar", "sol1": "twist the lid", "sol2": "eat the lid"}) + "\n")
    items = load_benchmark(spec("piqa", "piqa", path))
    assert items[0].gold == -1
    with pytest.raises(InputError, match="no gold answer"):
        write_eval_task(items, tmp_path / "out.jsonl")


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


ARC_OK = json.dumps({"id": "a1", "question": {"stem": "Why?", "choices": [
    {"text": "x", "label": "A"}, {"text": "y", "label": "B"}]}, "answerKey": "A"})


@pytest.mark.parametrize(
    "fmt,lines,message",
    [
        ("arc", [ARC_OK, ARC_OK, "{not json"], r"bad\.jsonl line 3: not valid JSON"),
        ("arc", [ARC_OK, ARC_OK.replace('"answerKey": "A"', '"answerKey": "E"')], r"line 2: answerKey 'E'"),
        ("arc", [ARC_OK.replace('"stem": "Why?", ', "")], r"line 1: missing field 'stem'"),
        ("boolq", [json.dumps({"question": "q", "passage": "p", "label": "maybe"})], r"line 1: label must be true/false"),
        ("winogrande", [json.dumps({"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"})],
         r"line 1: 'sentence' must contain exactly one '_'"),
        ("winogrande", [json.dumps({"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "3"})],
         r"line 1: label '3' is out of range"),
        ("hellaswag", [json.dumps({"ctx": "c", "endings": ["a", "b"], "label": 0})], r"line 1: needs 4 non-empty endings"),
        ("siqa", [json.dumps({"context": "c", "question": "q", "answerA": "a", "answerB": "b"})],
         r"line 1: missing field 'answerC'"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path, fmt, lines, message):
    path = _write(tmp_path, "bad.jsonl", lines)
    with pytest.raises(InputError, match=message) as err:
        load_benchmark(spec("bench", fmt, path))
    assert str(path) in str(err.value) and "config key 'benchmarks.bench'" in str(err.value)
    assert str(err.value).endswith(f"(declared format '{fmt}')")


def test_malformed_mmlu_csv_names_file_and_line(tmp_path):
    path = _write(tmp_path, "physics_test.csv", ['"What, exactly, is mass?",a,b,c,d,A', "Too few,a,b,c,B"])
    with pytest.raises(InputError, match=r"physics_test\.csv line 2: expected 6 columns") as err:
        load_benchmark(spec("mmlu", "mmlu", path))
    assert str(path) in str(err.value)
    path = _write(tmp_path, "chem_test.csv", ["q,a,b,c,d,Z"])
    with pytest.raises(InputError, match=r"chem_test\.csv line 1: answer must be A-D"):
        load_benchmark(spec("mmlu", "mmlu", tmp_path))  # a folder: every csv in it


def test_labels_that_do_not_match_the_records(tmp_path):
    data = _write(tmp_path, "valid.jsonl", [json.dumps({"goal": "g", "sol1": "a", "sol2": "b"})] * 3)
    labels = _write(tmp_path, "mine.lst", ["0", "1"])
    with pytest.raises(InputError, match=r"mine\.lst: has 2 labels for 3 records"):
        load_benchmark(spec("piqa", "piqa", data, labels))
    bad = _write(tmp_path, "other.lst", ["0", "x", "1"])
    with pytest.raises(InputError, match=r"other\.lst line 2: label must be an integer"):
        load_benchmark(spec("piqa", "piqa", data, bad))


def test_hellaswag_text_form_must_have_six_lines_per_item(tmp_path):
    path = _write(tmp_path, "hs.txt", ["Act: ctx", "0", "a", "b", "c"])
    with pytest.raises(InputError, match=r"hs\.txt line 5: 5 lines is not a multiple of 6"):
        load_benchmark(spec("hellaswag", "hellaswag", path))


def test_bad_specs_name_the_key(tmp_path):
    with pytest.raises(InputError, match=r"config key 'benchmarks.x': format 'csv' is not one of arc, openbookqa"):
        load_benchmark({"name": "x", "format": "csv", "path": tmp_path})
    with pytest.raises(InputError, match=r"config key 'benchmarks.x': path not found"):
        load_benchmark({"name": "x", "format": "arc", "path": tmp_path / "missing.jsonl"})
    with pytest.raises(InputError, match=r"config key 'benchmarks.x': missing 'path'"):
        load_benchmark({"name": "x", "format": "arc"})


# --- check_benchmark: the start-up check of a benchmark's first records -----------------------


def test_every_format_has_a_bundled_sample():
    assert sorted(BENCHMARK_FORMATS) == sorted({fmt for _, fmt, *_ in BUNDLED})


def test_module_imports_only_the_standard_library():
    # the workflow layer calls check_benchmark in the Snakemake process: nothing heavy may come with it
    code = (
        "import sys; import synthpedia.benchsets; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'polars', 'datatrove', 'torch', 'yaml'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name,fmt,path,labels,count,n_choices", BUNDLED, ids=[b[0] for b in BUNDLED])
def test_check_passes_every_bundled_sample(name, fmt, path, labels, count, n_choices):
    entry = {"format": fmt, "path": str(SAMPLES / path)}
    if labels:
        entry["labels"] = str(SAMPLES / labels)
    assert check_benchmark(name, entry) is None


def test_check_names_benchmark_file_line_and_format_of_a_misdeclared_sample():
    path = SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl"
    with pytest.raises(InputError) as err:
        check_benchmark("arc_easy", {"format": "hellaswag", "path": str(path)})
    assert str(err.value) == (
        f"config key 'benchmarks.arc_easy': {path} line 1: missing field 'ctx' (declared format 'hellaswag')"
    )


def test_check_reads_only_the_first_records(tmp_path):
    good = [json.dumps({"goal": "g", "sol1": "a", "sol2": "b"})] * 3
    data = _write(tmp_path, "valid.jsonl", good + ["{broken"])
    labels = _write(tmp_path, "valid-labels.lst", ["0", "1", "0", "x"])
    check_benchmark("piqa", {"format": "piqa", "path": str(data), "labels": str(labels)}, max_records=3)
    with pytest.raises(InputError, match=r"valid\.jsonl line 4: not valid JSON .*\(declared format 'piqa'\)"):
        check_benchmark("piqa", {"format": "piqa", "path": str(data), "labels": str(labels)}, max_records=4)
    short = _write(tmp_path, "short.lst", ["0"])
    with pytest.raises(InputError, match=r"short\.lst: has 1 labels for 3 records"):
        check_benchmark("piqa", {"format": "piqa", "path": str(data), "labels": str(short)}, max_records=3)


def test_check_names_the_bad_label_line(tmp_path):
    data = _write(tmp_path, "dev.jsonl", [json.dumps({"context": "c", "question": "q", "answerA": "a",
                                                      "answerB": "b", "answerC": "c"})] * 2)
    _write(tmp_path, "dev-labels.lst", ["1", "two"])
    with pytest.raises(InputError, match=r"dev-labels\.lst line 2: label must be an integer, got 'two'"):
        check_benchmark("siqa", {"format": "siqa", "path": str(data)})  # labels found beside the data


# --- the real releases in ../shared/data (absent from a fresh clone: skipped) ---------------

REAL = [
    ("arc_easy", "arc", "arc/ARC-Easy-Test.jsonl", None, 2376),
    ("arc_challenge", "arc", "arc/ARC-Challenge-Test.jsonl", None, 1172),
    ("boolq", "boolq", "boolq/val.jsonl", None, 3270),
    ("hellaswag", "hellaswag", "hellaswag/hellaswag_val_full.txt.bz2", None, 10042),
    ("mmlu", "mmlu", "mmlu/test", None, 14042),
    ("piqa", "piqa", "piqa/valid.jsonl", "piqa/valid-labels.lst", 1838),
    ("siqa", "siqa", "siqa/dev.jsonl", "siqa/dev-labels.lst", 1954),
    ("winogrande", "winogrande", "winogrande/dev.jsonl", None, 1267),
    ("openbookqa", "openbookqa", "openbookqa/Main_test.jsonl", None, 500),
    ("commonsenseqa", "commonsenseqa", "commonsenseqa/dev_rand_split.jsonl", None, 1221),
    ("mmlu_mc", "mmlu_mc", "mmlu/test", None, 14042),
    ("triviaqa", "triviaqa", "triviaqa/triviaqa_sm_sub.jsonl", None, 3000),
    ("gsm8k", "gsm8k", "gsm8k/test.jsonl", None, 1319),
]


@pytest.mark.parametrize("name,fmt,path,labels,count", REAL, ids=[r[0] for r in REAL])
def test_real_release_loads(name, fmt, path, labels, count):
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    items = load_benchmark(spec(name, fmt, SHARED / path, labels and SHARED / labels))
    assert len(items) == count
    assert all(0 <= item.gold < len(item.choices) and item.text for item in items)
    if not name.startswith("mmlu"):  # MMLU ids are file:line, unique too, but check the id-field formats here
        assert len({item.item_id for item in items}) == count


MISDECLARED = [
    # name, declared format, file, what the first record lacks
    ("arc_easy", "hellaswag", "arc/ARC-Easy-Test.jsonl", "line 1: missing field 'ctx'"),
    ("hellaswag", "arc", "hellaswag/hellaswag_val_full.txt.bz2", "line 1: not valid JSON"),
    ("openbookqa", "boolq", "openbookqa/Main_test.jsonl", "line 1: field 'question' must be a non-empty string"),
    ("mmlu", "arc", "mmlu/test/anatomy_test.csv", "line 1: not valid JSON"),
    ("boolq", "piqa", "boolq/val.jsonl", "line 1: missing field 'goal'"),
    ("winogrande", "siqa", "winogrande/dev.jsonl", "line 1: missing field 'context'"),
    ("piqa", "mmlu", "piqa/valid.jsonl", "line 1: expected 6 columns"),
]


@pytest.mark.parametrize("name,fmt,path,problem", MISDECLARED, ids=[m[0] for m in MISDECLARED])
def test_check_fails_a_real_release_declared_as_another_format(shared_data, name, fmt, path, problem):
    with pytest.raises(InputError) as err:
        check_benchmark(name, {"format": fmt, "path": str(shared_data / path)})
    message = str(err.value)
    assert message.startswith(f"config key 'benchmarks.{name}': {shared_data / path} {problem}")
    assert message.endswith(f"(declared format '{fmt}')")


@pytest.mark.parametrize("name,fmt,path,labels,count", REAL, ids=[r[0] for r in REAL])
def test_check_passes_every_real_release(shared_data, name, fmt, path, labels, count):
    entry = {"format": fmt, "path": str(shared_data / path)}
    if labels:
        entry["labels"] = str(shared_data / labels)
    check_benchmark(name, entry)


def test_real_release_details():
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    arc = load_benchmark(spec("arc", "arc", SHARED / "arc/ARC-Easy-Test.jsonl"))
    assert {len(item.choices) for item in arc} == {3, 4, 5}
    first = load_benchmark(spec("hs", "hellaswag", SHARED / "hellaswag/hellaswag_val_full.txt.bz2", max_items=1))[0]
    assert first.text == "A man is sitting on a roof. he"
    assert first.question == "Roof shingle removal: A man is sitting on a roof. he"
    assert first.gold == 3
    wg_test = load_benchmark(spec("wg", "winogrande", SHARED / "winogrande/test.jsonl"))
    assert len(wg_test) == 1267 and {item.gold for item in wg_test} == {-1}


def test_winogrande_is_split_at_the_blank_as_lighteval_splits_it(tmp_path):
    """A real item: context = text before the blank + option, continuation = the rest (partial scoring)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    from lighteval.tasks.tasks.winogrande import winogrande_prompt

    path = SHARED / "winogrande" / "dev.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    item = load_benchmark(spec("wg", "winogrande", path, max_items=1))[0]
    assert item.contexts == (
        "Ian volunteered to eat Dennis's menudo after already having a bowl because Ian",
        "Ian volunteered to eat Dennis's menudo after already having a bowl because Dennis",
    )
    write_eval_task([item], tmp_path / "wg.jsonl")
    row = json.loads((tmp_path / "wg.jsonl").read_text())
    assert row["choices"] == [" despised eating intestine."] * 2 and row["gold"] == 1
    # lighteval's own split: the same blank, the same texts once the option moves into the context
    doc = winogrande_prompt(line, "winogrande")
    assert doc.query == "Ian volunteered to eat Dennis's menudo after already having a bowl because "
    assert doc.gold_index == row["gold"]
    for context, continuation, choice in zip(row["contexts"], row["choices"], doc.choices, strict=True):
        assert context + continuation == doc.query + choice
        assert context.startswith(doc.query) and choice.endswith(continuation.strip())


def _task_row(item, tmp_path) -> dict:
    write_eval_task([item], tmp_path / "task.jsonl")
    return json.loads((tmp_path / "task.jsonl").read_text())


def test_commonsenseqa_is_asked_as_lighteval_asks_it(tmp_path):
    """A real item: query and choices equal those of lighteval's commonsenseqa prompt function."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    from lighteval.tasks.tasks.commonsenseqa import commonsenseqa_prompt

    path = SHARED / "commonsenseqa" / "dev_rand_split.jsonl"
    raw = json.loads(path.read_text().splitlines()[0])
    item = load_benchmark(spec("csqa", "commonsenseqa", path, max_items=1))[0]
    assert item.text == raw["question"]["stem"] and item.item_id == raw["id"]
    row = _task_row(item, tmp_path)
    # lighteval reads the Hugging Face layout (tau/commonsense_qa): question is the stem, choices a dict
    hf = {"id": raw["id"], "question": raw["question"]["stem"], "answerKey": raw["answerKey"],
          "choices": {"label": [c["label"] for c in raw["question"]["choices"]],
                      "text": [c["text"] for c in raw["question"]["choices"]]}}
    doc = commonsenseqa_prompt(hf, "commonsenseqa")
    assert (row["query"], row["choices"], row["gold"]) == (doc.query, doc.choices, doc.gold_index)
    assert row["query"].endswith("E.  new york\nAnswer:") and row["choices"] == ["A", "B", "C", "D", "E"]


def test_mmlu_multiple_choice_form_is_asked_as_lighteval_asks_it(tmp_path):
    """A real item: query and choices equal those of lighteval's mmlu prompt function (cloze form kept beside)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    import csv

    from lighteval.tasks.tasks.mmlu import mmlu_prompt

    path = SHARED / "mmlu" / "test" / "anatomy_test.csv"
    with path.open(newline="") as f:
        first = next(csv.reader(f))
    mc = load_benchmark(spec("mmlu_mc", "mmlu_mc", path, max_items=1))[0]
    cloze = load_benchmark(spec("mmlu", "mmlu", path, max_items=1))[0]
    doc = mmlu_prompt({"subject": "anatomy", "question": first[0], "choices": first[1:5], "answer": first[5]}, "mmlu")
    row = _task_row(mc, tmp_path)
    assert (row["query"], row["choices"], row["gold"]) == (doc.query, doc.choices, doc.gold_index)
    assert mc.text == cloze.text and mc.gold == cloze.gold and mc.item_id == cloze.item_id  # same item, two forms
    assert cloze.question == f"Question: {first[0]}\nAnswer:" and list(cloze.choices) == first[1:5]
