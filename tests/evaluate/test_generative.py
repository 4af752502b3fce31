"""Generative tasks (TriviaQA, GSM8K 5-shot): lighteval generates on a tiny checkpoint, and its answers and
scores check by hand; the eval table joins each benchmark's decontamination counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from train_kit import TINY, make_docs, train_bpe, write_token_folder

from synthpedia.benchsets import eval_task_job
from synthpedia.evaluate import eval_table, eval_table_job, evaluate_checkpoint, read_task_file
from synthpedia.evaluate.run import _generative_metric
from synthpedia.evaluate.table import removed_per_benchmark
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS, TABLES, table_columns
from synthpedia.train import train_torch

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "benchmarks"


def hand_generate(ckpt, query: str, stop: list[str], max_new_tokens: int) -> str:
    """Greedy generation by hand, one item at a time, under lighteval's length rules for a lone item.

    The context keeps its last min(len + max_new_tokens, max positions) tokens; at most max
    positions - context tokens are generated (at least 1); the text is cut at the first stop
    sequence (or the end-of-text token).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    limit = model.config.max_position_embeddings
    ids = tok(query).input_ids
    ids = ids[-min(len(ids) + max_new_tokens, limit):]
    budget = max(1, min(limit - len(ids), max_new_tokens))
    new = []
    with torch.no_grad():
        for _ in range(budget):
            nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(nxt)
            text = tok.decode(new, skip_special_tokens=True)
            if nxt == tok.eos_token_id or any(s in text for s in stop):
                break
    text = tok.decode(new, skip_special_tokens=True)
    for term in [tok.eos_token, *stop]:
        text = text.split(term)[0]
    return text


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("generative")
    docs = {"stories": make_docs(150, 1, "Story"), "textbooks": make_docs(150, 2, "Lesson")}
    tok = train_bpe([d for v in docs.values() for d in v], root / "tokenizer.json")
    for source, texts in docs.items():
        write_token_folder(tok, texts, root / "tokens" / source)
    ckpt = root / "ckpt"
    train_torch({s: str(root / "tokens" / s) for s in docs}, {"stories": 1, "textbooks": 1}, str(root / "tokenizer.json"),
                str(ckpt), {**TINY, "steps": 20}, seed=3)
    tasks = {"triviaqa": str(root / "triviaqa.jsonl"), "gsm8k": str(root / "gsm8k.jsonl")}
    eval_task_job(spec={"name": "triviaqa", "format": "triviaqa", "path": str(SAMPLES / "triviaqa/triviaqa-sample.jsonl")},
                  task=tasks["triviaqa"])
    eval_task_job(spec={"name": "gsm8k", "format": "gsm8k", "path": str(SAMPLES / "gsm8k/test-sample.jsonl"),
                        "fewshot": str(SAMPLES / "gsm8k/train-sample.jsonl")}, task=tasks["gsm8k"], num_fewshot=5, seed=42)
    # A task whose accepted answers are, for half its items, what the checkpoint answers (found by hand):
    # the exact-match score is then known without any item being right by chance.
    rows = read_task_file(tasks["triviaqa"])[:6]
    echo = root / "echo.jsonl"
    with echo.open("w") as f:
        for k, row in enumerate(rows):
            answer = hand_generate(ckpt, row["query"], row["stop"], row["max_new_tokens"]).strip()
            golds = [answer] if k % 2 == 0 and answer else ["no such answer"]
            f.write(json.dumps({**row, "golds": golds}) + "\n")
    tasks["echo"] = str(echo)
    results = evaluate_checkpoint(str(ckpt), tasks, str(root / "eval.json"), batch_size=1, seed=0,
                                  max_samples={"triviaqa": 8, "gsm8k": 4, "echo": None},
                                  max_new_tokens={"gsm8k": 12})
    return {"ckpt": ckpt, "tasks": tasks, "results": results, "root": root}


def test_generative_results_record_task_settings(generated):
    got = generated["results"]["tasks"]
    assert set(got) == {"triviaqa", "gsm8k", "echo"}
    trivia, maths = got["triviaqa"], got["gsm8k"]
    assert (trivia["n"], trivia["num_fewshot"], trivia["max_new_tokens"], trivia["chance"]) == (8, 0, 20, None)
    assert trivia["stop"] == ["\n", ".", ","] and set(trivia["metrics"]) == {"em"}
    assert (maths["n"], maths["num_fewshot"], maths["max_new_tokens"]) == (4, 5, 12)  # the override, not 256
    assert set(maths["metrics"]) == {"extractive_match"} and maths["stop"] == ["Question:"]
    assert generated["results"]["max_samples"] == {"triviaqa": 8, "gsm8k": 4, "echo": None}


def test_generations_and_scores_match_a_hand_computation(generated):
    """Each answer is the hand-made greedy generation; each score is lighteval's metric on it, as by hand."""
    got = generated["results"]["tasks"]
    for name in ("triviaqa", "gsm8k"):
        rows = {r["id"]: r for r in read_task_file(generated["tasks"][name])}
        settings = got[name]
        for item in settings["items"][:3]:  # a few items by hand
            row = rows[item["id"]]
            expected = hand_generate(generated["ckpt"], row["query"], settings["stop"], settings["max_new_tokens"])
            assert item["prediction"] == expected, (name, item["id"])
        metric = next(iter(settings["metrics"]))
        scores = [item[metric] for item in settings["items"]]
        assert settings["metrics"][metric]["value"] == pytest.approx(np.mean(scores))
    # exact match by hand: the stripped answer is one of the accepted answers
    for item in got["triviaqa"]["items"]:
        golds = read_task_file(generated["tasks"]["triviaqa"])
        golds = next(r["golds"] for r in golds if r["id"] == item["id"])
        assert item["em"] == float(bool(item["prediction"].strip()) and item["prediction"].strip() in golds)
    echo = got["echo"]
    answered = [r for k, r in enumerate(read_task_file(generated["tasks"]["echo"])) if r["golds"] != ["no such answer"]]
    assert echo["n"] == 6 and answered
    assert echo["metrics"]["em"]["value"] == pytest.approx(len(answered) / 6)
    assert {i["id"] for i in echo["items"] if i["em"] == 1.0} == {r["id"] for r in answered}


def test_lighteval_metrics_score_as_lighteval_defines_them():
    """The metric objects are lighteval's own: exact match compares stripped text (the golds are lower-cased,
    the generation is not); extractive match compares the final numbers."""
    from lighteval.models.model_output import ModelResponse
    from lighteval.tasks.requests import Doc

    em = _generative_metric("em").sample_level_fn
    trivia = Doc(query="Question: What type of animal is a Garron?\nAnswer:", choices=[["horse", "horses"]],
                 gold_index=0)
    assert [em.compute(doc=trivia, model_response=ModelResponse(text=[t])) for t in (" horse", "horses ", "Horse", "")] \
        == [1, 1, 0, 0]
    final = _generative_metric("extractive_match").sample_level_fn
    solution = " She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18"
    maths = Doc(query="Question: ...\nAnswer:", choices=[solution], gold_index=0)
    answers = (" 9 * 2 = 18 dollars.\n#### 18", " She makes $18.", " It is 9.", " 16 - 3 - 4 = 9, so 18",
               " 18 eggs, then 9")
    scores = [final.compute(doc=maths, model_response=ModelResponse(text=[t])) for t in answers]
    assert scores == [1.0, 1.0, 0.0, 1.0, 0.0]  # the last number of the answer counts


def _hits(rows):
    return pl.DataFrame(rows, schema=dict.fromkeys(CONTAMINATION_HIT_COLUMNS, pl.String) | {"ratio": pl.Float64},
                        orient="row")


def test_eval_rows_join_each_benchmark_contamination():
    """Per task: generations removed and distinct items over all groups; a benchmark never checked gets nulls."""
    hits = _hits([
        ("p1", "web", "triviaqa", "t:1", 0.9), ("p2", "web", "triviaqa", "t:1", 0.8),
        ("p3", "wikihow", "triviaqa", "t:2", 0.7), ("p3", "wikihow", "arc_easy", "a:1", 0.6),
        ("p9", "ultrachat", "triviaqa", "t:1", 0.9),  # a source in no group: not counted, as in the contamination table
    ])
    groups = {"web_and_books": ["web", "openstax"], "howto": ["wikihow"]}
    removed = removed_per_benchmark(hits, groups, ["arc_easy", "gsm8k", "triviaqa"])
    assert removed.sort("benchmark").rows() == [("arc_easy", 1, 1), ("gsm8k", 0, 0), ("triviaqa", 3, 2)]
    results = {"tiny": {"tasks": {
        "triviaqa": {"n": 5, "chance": None, "num_fewshot": 0, "metrics": {"em": {"value": 0.2, "stderr": 0.2}}},
        "gsm8k": {"n": 4, "chance": None, "num_fewshot": 5,
                  "metrics": {"extractive_match": {"value": 0.0, "stderr": 0.0}}},
        "piqa": {"n": 4, "chance": 0.5, "num_fewshot": 0, "metrics": {
            "acc": {"value": 0.5, "stderr": 0.1}, "acc_norm": {"value": 0.75, "stderr": 0.1}}},
    }}}
    table = eval_table(results, removed)
    assert table.schema == TABLES["eval"]
    rows = {(r["task"], r["metric"]): r for r in table.iter_rows(named=True)}
    assert rows[("triviaqa", "em")] == {
        "run": "tiny", "task": "triviaqa", "num_fewshot": 0, "metric": "em", "value": 0.2, "stderr": 0.2,
        "chance": None, "samples_removed": 3, "unique_benchmark_items": 2}
    assert (rows[("gsm8k", "extractive_match")]["num_fewshot"], rows[("gsm8k", "extractive_match")]["samples_removed"]) \
        == (5, 0)
    for metric in ("acc", "acc_norm"):  # piqa was not decontaminated against: unknown, not zero
        assert rows[("piqa", metric)]["samples_removed"] is None and rows[("piqa", metric)]["chance"] == 0.5
    assert eval_table(results).get_column("samples_removed").null_count() == table.height  # no decontamination given


def test_eval_table_job_reads_the_removed_shards(tmp_path):
    result = {"tasks": {"triviaqa": {"n": 2, "chance": None, "num_fewshot": 0,
                                     "metrics": {"em": {"value": 0.5, "stderr": 0.5}}}}}
    (tmp_path / "tiny.json").write_text(json.dumps(result))
    _hits([("p1", "web", "triviaqa", "t:7", 0.9)]).write_parquet(tmp_path / "web-000.removed.parquet")
    _hits([]).write_parquet(tmp_path / "wikihow-000.removed.parquet")
    out = tmp_path / "eval.csv"
    eval_table_job(results={"tiny": str(tmp_path / "tiny.json")}, tables=[str(out)], config_hash="h",
                   removed=[str(tmp_path / "web-000.removed.parquet"), str(tmp_path / "wikihow-000.removed.parquet")],
                   groups={"all": ["web", "wikihow"]}, benchmarks=["triviaqa"])
    table = pl.read_csv(out)
    assert tuple(table.columns) == table_columns("eval")
    assert table.select("task", "metric", "samples_removed", "unique_benchmark_items").rows() == [
        ("triviaqa", "em", 1, 1)]


def test_default_run_evaluates_both_generative_tasks_small(default_config):
    evaluation = default_config["evaluation"]
    assert {"triviaqa", "gsm8k"} <= set(evaluation["tasks"])
    # per_task entries get the schema's defaults; max_samples absent falls back to evaluation.max_samples in the rule
    assert evaluation["per_task"]["triviaqa"] == {"max_samples": 20, "num_fewshot": 0, "max_new_tokens": None}
    assert evaluation["per_task"]["gsm8k"] == {"num_fewshot": 5, "max_samples": 20, "max_new_tokens": 32}
    assert default_config["benchmarks"]["gsm8k"]["fewshot"].endswith("train-sample.jsonl")
    assert {"triviaqa", "gsm8k"} <= set(default_config["decontamination"]["benchmarks"])


def test_paper_preset_evaluates_the_papers_tasks():
    """config/cosmopedia.yaml with the stand-in inputs: the paper's task list, 1000 items, GSM8K 5-shot."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    from synthpedia.config import validate_config
    from synthpedia.workflow import preset_config

    given = {}
    for name in ("cosmopedia.yaml", "stand-in-inputs.yaml"):
        update_config(given, load_configfile(str(ROOT / "config" / name)))
    config = validate_config(preset_config(given, ROOT / "config.yaml"), base_dir=ROOT)
    evaluation = config["evaluation"]
    assert set(evaluation["tasks"]) == {"arc_easy", "arc_challenge", "boolq", "commonsenseqa", "hellaswag", "mmlu",
                                        "openbookqa", "piqa", "siqa", "winogrande", "triviaqa", "gsm8k"}
    assert evaluation["max_samples"] == 1000
    assert evaluation["per_task"] == {"gsm8k": {"num_fewshot": 5, "max_new_tokens": None}}
    assert config["benchmarks"]["gsm8k"]["format"] == "gsm8k" and "fewshot" in config["benchmarks"]["gsm8k"]
