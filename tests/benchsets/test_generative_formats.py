"""TriviaQA and GSM8K: read from their real files, asked as lighteval asks them, few-shot prompts laid out as its own."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synthpedia.benchsets import (
    GSM8K_GENERATION,
    TRIVIAQA_GENERATION,
    check_benchmark,
    eval_task_job,
    load_benchmark,
    triviaqa_answers,
    write_eval_task,
)
from synthpedia.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "benchmarks"
SHARED = ROOT.parent / "shared" / "data"
TRIVIAQA = SHARED / "triviaqa" / "triviaqa_sm_sub.jsonl"
GSM8K_TEST = SHARED / "gsm8k" / "test.jsonl"
GSM8K_TRAIN = SHARED / "gsm8k" / "few_shot.jsonl"


def spec(name, fmt, path, **extra):
    return {"name": name, "format": fmt, "path": str(path), **extra}


def rows_of(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").split("\n") if line]


def task_rows(items, tmp_path, **kwargs) -> list[dict]:
    out = tmp_path / "task.jsonl"
    write_eval_task(items, out, **kwargs)
    return rows_of(out)


def test_triviaqa_is_asked_as_lighteval_asks_it(shared_data, tmp_path):
    """Real items: query, accepted answers, metric, stop sequences and generation size of lighteval's triviaqa."""
    from lighteval.tasks.tasks.triviaqa import triviaqa, triviaqa_prompt

    raw = rows_of(TRIVIAQA)[:200]
    items = load_benchmark(spec("triviaqa", "triviaqa", TRIVIAQA, max_items=200))
    rows = task_rows(items, tmp_path)
    pruned = 0
    for line, item, row in zip(raw, items, rows, strict=True):
        question = line["context"].removeprefix("Question: ").removesuffix("\nAnswer:")
        # lighteval reads the Hugging Face layout (mandarjoshi/trivia_qa rc.nocontext)
        doc = triviaqa_prompt({"question": question, "answer": {"aliases": list(line["aliases"])}}, "triviaqa")
        assert (row["query"], row["golds"]) == (doc.query, doc.get_golds()), row["id"]
        assert item.text == question.strip()
        pruned += len(row["golds"]) < len(set(line["aliases"]))
    assert pruned > 50  # the prefix rule and the lower-casing do change the answer lists
    first = rows[0]
    assert first["id"] == "triviaqa_sm_sub:1"
    assert first["query"] == "Question: Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?\nAnswer:"
    assert "onion" in first["golds"] and "onion skins" not in first["golds"]  # extends "Onion": dropped
    assert (first["metric"], first["stop"], first["max_new_tokens"]) == (
        triviaqa.metrics[0].metric_name, list(triviaqa.stop_sequence), triviaqa.generation_size)
    assert first["metric"] == TRIVIAQA_GENERATION.metric == "em"


def test_triviaqa_answers_drop_extensions_and_punctuation():
    assert triviaqa_answers(["U.S.A.", "USA", "Onion", "Onions", "onion", "Spring onion"]) == [
        "onion", "spring onion", "usa", "usa", "onion"]


def test_gsm8k_is_asked_as_lighteval_asks_it(shared_data, tmp_path):
    """A real item: query, target, metric, stop sequence and generation size of lighteval's gsm8k."""
    from lighteval.tasks.tasks.gsm8k import gsm8k, gsm8k_prompt

    line = rows_of(GSM8K_TEST)[0]
    item = load_benchmark(spec("gsm8k", "gsm8k", GSM8K_TEST, max_items=1))[0]
    row = task_rows([item], tmp_path)[0]
    doc = gsm8k_prompt(line, "gsm8k")
    assert (row["query"], row["golds"]) == (doc.query, doc.get_golds())
    assert row["golds"][0].endswith("#### 18") and item.text == line["question"]
    assert (row["metric"], row["stop"], row["max_new_tokens"]) == (
        gsm8k.metrics[0].metric_name, list(gsm8k.stop_sequence), gsm8k.generation_size)
    assert row["metric"] == GSM8K_GENERATION.metric == "extractive_match"
    assert gsm8k.few_shots_select == "random_sampling_from_train"  # lighteval draws its examples from train too


def test_gsm8k_five_shot_prompt_is_lighteval_few_shot_layout(shared_data, tmp_path):
    """5 train examples before a real test item: the very text lighteval's prompt manager builds from them."""
    from lighteval.tasks.prompt_manager import PromptManager
    from lighteval.tasks.tasks.gsm8k import gsm8k_prompt

    task = tmp_path / "gsm8k.jsonl"
    eval_task_job(spec=spec("gsm8k", "gsm8k", GSM8K_TEST, fewshot=str(GSM8K_TRAIN), max_items=3), task=str(task),
                  num_fewshot=5, seed=42)
    rows = rows_of(task)
    train = rows_of(GSM8K_TRAIN)
    test = rows_of(GSM8K_TEST)
    manager = PromptManager(use_chat_template=False)
    for k, row in enumerate(rows):
        assert len(row["fewshot_ids"]) == 5 and all(i.startswith("few_shot:") for i in row["fewshot_ids"])
        doc = gsm8k_prompt(test[k], "gsm8k")
        doc.fewshot_samples = [gsm8k_prompt(train[int(i.split(":")[1]) - 1], "gsm8k") for i in row["fewshot_ids"]]
        assert row["query"] == manager.prepare_prompt(doc), row["id"]
    assert rows[0]["query"].count("\n#### ") == 5 and rows[0]["query"].endswith(
        "\n\nQuestion: " + test[0]["question"] + "\nAnswer:")
    assert len({tuple(r["fewshot_ids"]) for r in rows}) == 3  # each item its own draw


def test_few_shot_draws_follow_the_seed_and_the_item_only(tmp_path):
    items = load_benchmark(spec("gsm8k", "gsm8k", SAMPLES / "gsm8k/test-sample.jsonl"))
    pool = load_benchmark(spec("gsm8k", "gsm8k", SAMPLES / "gsm8k/train-sample.jsonl"))
    rows = task_rows(items, tmp_path, num_fewshot=5, seed=42, pool=pool)
    again = task_rows(items[5:8], tmp_path, num_fewshot=5, seed=42, pool=pool)
    assert again == rows[5:8]  # the same examples whichever other items are written
    other = task_rows(items, tmp_path, num_fewshot=5, seed=43, pool=pool)
    assert [r["fewshot_ids"] for r in other] != [r["fewshot_ids"] for r in rows]
    assert all(len(set(r["fewshot_ids"])) == 5 for r in rows)
    # without a pool the benchmark's own items are the examples, never the item itself
    own = task_rows(items, tmp_path, num_fewshot=3, seed=42)
    assert all(r["id"] not in r["fewshot_ids"] for r in own)
    assert task_rows(items, tmp_path) == [{k: v for k, v in r.items() if k != "fewshot_ids"} | {
        "query": r["query"].split("\n\n")[-1]} for r in rows]


def test_few_shot_multiple_choice_shows_the_gold_choice(tmp_path):
    """A multiple-choice task may be few-shot too: each example's query, a space, its gold choice."""
    items = load_benchmark(spec("commonsenseqa", "commonsenseqa", SAMPLES / "commonsenseqa/dev-sample.jsonl"))
    rows = task_rows(items, tmp_path, num_fewshot=2, seed=1)
    by_id = {item.item_id: item for item in items}
    first = rows[0]
    shots = [by_id[i] for i in first["fewshot_ids"]]
    assert first["query"] == "\n\n".join([f"{s.question} {s.choices[s.gold]}" for s in shots] + [items[0].question])


def test_few_shot_errors_name_the_key(tmp_path):
    items = load_benchmark(spec("gsm8k", "gsm8k", SAMPLES / "gsm8k/test-sample.jsonl", max_items=3))
    with pytest.raises(InputError, match=r"evaluation.per_task.gsm8k.num_fewshot': 5 examples asked, .* has 2"):
        write_eval_task(items, tmp_path / "t.jsonl", num_fewshot=5)
    wg = load_benchmark(spec("winogrande", "winogrande", SAMPLES / "winogrande/dev.jsonl"))
    with pytest.raises(InputError, match="partially scored tasks are zero-shot only"):
        write_eval_task(wg, tmp_path / "t.jsonl", num_fewshot=1)


@pytest.mark.parametrize(
    "fmt,line,message",
    [
        ("triviaqa", {"context": "What?", "answer": "a", "aliases": ["a"]}, r"line 1: 'context' must read"),
        ("triviaqa", {"context": "Question: What?\nAnswer:", "answer": "a", "aliases": []},
         r"line 1: 'aliases' must be a non-empty list"),
        ("gsm8k", {"question": "How many?", "answer": "Two."}, r"line 1: field 'answer' must be a worked solution"),
        ("gsm8k", {"question": "", "answer": "#### 2"}, r"line 1: field 'question' must be a non-empty string"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, fmt, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(InputError, match=message) as err:
        load_benchmark(spec("bench", fmt, path))
    assert str(path) in str(err.value) and str(err.value).endswith(f"(declared format '{fmt}')")


def test_check_reads_the_few_shot_file_too(tmp_path):
    entry = {"format": "gsm8k", "path": str(SAMPLES / "gsm8k/test-sample.jsonl"),
             "fewshot": str(SAMPLES / "triviaqa/triviaqa-sample.jsonl")}
    with pytest.raises(InputError, match=r"benchmarks.gsm8k.fewshot'.*triviaqa-sample.jsonl line 1: field 'question'"):
        check_benchmark("gsm8k", entry)
    entry["fewshot"] = str(SAMPLES / "gsm8k/train-sample.jsonl")
    assert check_benchmark("gsm8k", entry) is None


def test_both_can_be_decontaminated_against(tmp_path):
    """A generation quoting a TriviaQA question or a GSM8K problem is removed; a clean one is kept."""
    from synthpedia.decontaminate.shard import decontaminate_job

    trivia = load_benchmark(spec("triviaqa", "triviaqa", SAMPLES / "triviaqa/triviaqa-sample.jsonl"))
    maths = load_benchmark(spec("gsm8k", "gsm8k", SAMPLES / "gsm8k/test-sample.jsonl"))
    long_question = next(i for i in trivia if len(i.text.split()) >= 14)
    texts = [f"Quiz night. {long_question.text} Think about it.",
             f"Homework: {maths[0].text} Show your work.",
             "A story about a garden where tomatoes grow tall in the summer sun and bees visit every flower."]
    shard = tmp_path / "gen.parquet"
    pl.DataFrame({"prompt_id": ["p1", "p2", "p3"], "source": ["web"] * 3, "text": texts}).write_parquet(shard)
    benchmarks = {"triviaqa": {"format": "triviaqa", "path": str(SAMPLES / "triviaqa/triviaqa-sample.jsonl")},
                  "gsm8k": {"format": "gsm8k", "path": str(SAMPLES / "gsm8k/test-sample.jsonl"),
                            "fewshot": str(SAMPLES / "gsm8k/train-sample.jsonl")}}
    decontaminate_job(generations=str(shard), clean=str(tmp_path / "clean.parquet"),
                      removed=str(tmp_path / "removed.parquet"), benchmarks=benchmarks, ngram=10, threshold=0.5,
                      min_block=5, every_item=False)
    assert pl.read_parquet(tmp_path / "clean.parquet")["prompt_id"].to_list() == ["p3"]
    hits = pl.read_parquet(tmp_path / "removed.parquet").sort("prompt_id")
    assert hits.select("prompt_id", "benchmark", "item_id").rows() == [
        ("p1", "triviaqa", long_question.item_id), ("p2", "gsm8k", maths[0].item_id)]
