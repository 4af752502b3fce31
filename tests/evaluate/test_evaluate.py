"""Evaluation: lighteval scores a tiny local checkpoint on local tasks, offline, and its numbers check by hand."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from train_kit import TINY, make_docs, train_bpe, write_token_folder

from synthpedia import __version__
from synthpedia.errors import InputError
from synthpedia.evaluate import (
    EVAL_METRICS,
    eval_table,
    eval_table_job,
    evaluate_checkpoint,
    evaluate_job,
    read_task_file,
    select_items,
)
from synthpedia.tables import TABLES, table_columns
from synthpedia.train import train_torch

ROOT = Path(__file__).resolve().parents[2]

SUBJECTS = ["The cat", "A dog", "The teacher", "My friend", "A bird", "The farmer", "The student"]


def write_tasks(root):
    """Two small tasks: 4 choices of different lengths (plausible and garbage); 3 or 4 choices per item."""
    root.mkdir(parents=True, exist_ok=True)
    animals = root / "animals.jsonl"
    with animals.open("w") as f:
        for i, s in enumerate(SUBJECTS):
            choices = [" reads the book today.", " xq zz vv kk.", " the the", " builds a small house near the park."]
            f.write(json.dumps({"id": f"an-{i}", "query": f"Story: {s}", "choices": choices, "gold": i % 4}) + "\n")
    lessons = root / "lessons.jsonl"
    with lessons.open("w") as f:
        for i, s in enumerate(SUBJECTS[:5]):
            choices = [" counts ten apples every day.", " qq.", " river river"]
            # a trailing space in the query: lighteval moves it onto the choices
            f.write(json.dumps({"id": f"le-{i}", "query": f"Lesson: {s} ", "choices": choices, "gold": 0}) + "\n")
        for i, s in enumerate(SUBJECTS[:4]):
            # more choices than tokens per choice (as in ARC): lighteval's gather path loses choices here
            choices = [" ten", " a", " the", " map"]
            f.write(json.dumps({"id": f"ls-{i}", "query": f"Lesson: {s} counts", "choices": choices, "gold": i}) + "\n")
    return {"animals": str(animals), "lessons": str(lessons)}


def train_tiny(root, seed: int, steps: int, out) -> None:
    docs = {"stories": make_docs(150, 1, "Story"), "textbooks": make_docs(150, 2, "Lesson")}
    tok_path = root / "tokenizer.json"
    if not tok_path.exists():
        tok = train_bpe([d for v in docs.values() for d in v], tok_path)
        for source, texts in docs.items():
            write_token_folder(tok, texts, root / "tokens" / source)
    dirs = {s: str(root / "tokens" / s) for s in docs}
    train_torch(dirs, {"stories": 1, "textbooks": 1}, str(tok_path), str(out), {**TINY, "steps": steps}, seed=seed)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    ckpt = root / "ckpt"
    train_tiny(root, seed=3, steps=20, out=ckpt)
    tasks = write_tasks(root / "tasks")
    trained_files = sorted(str(p.relative_to(ckpt)) for p in ckpt.rglob("*"))

    # No network: every inet connection attempt is recorded and refused.
    attempts = []
    real_connect = socket.socket.connect

    def refuse(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network disabled in tests: {address}")
        return real_connect(sock, address)

    import torch

    with pytest.MonkeyPatch.context() as mp:
        # the run is offline by itself, whatever the job's environment says
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            mp.delenv(name, raising=False)
        mp.setattr(socket.socket, "connect", refuse)
        evaluate_job(
            checkpoint=str(ckpt),
            tasks=tasks,
            results=str(root / "eval.json"),
            max_samples=None,
            batch_size=32,
            seed=0,
            threads=torch.get_num_threads(),  # the job caps torch at its threads: keep this process's count
        )
        environment = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    results = json.loads((root / "eval.json").read_text())
    return {
        "root": root, "ckpt": ckpt, "tasks": tasks, "results": results, "attempts": attempts,
        "environment": environment, "trained_files": trained_files,
    }


def test_the_checkpoint_holds_exactly_what_training_wrote_after_evaluation(run):
    ckpt = run["ckpt"]
    assert "model.safetensors" in run["trained_files"]
    assert sorted(str(p.relative_to(ckpt)) for p in ckpt.rglob("*")) == run["trained_files"]


def hand_scores(ckpt, rows):
    """Log-likelihood of each choice given the query, computed directly with transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    out = {}
    for row in rows:
        query = row["query"].rstrip()
        space = row["query"][len(query) :]
        ctx = tok(query).input_ids
        logprobs, ntoks = [], []
        for choice in row["choices"]:
            cont = tok(space + choice, add_special_tokens=False).input_ids
            # lighteval keeps the last max_position_embeddings tokens of context + choice
            kept = (ctx + cont)[-model.config.max_position_embeddings :]
            start = len(kept) - len(cont)
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([kept])).logits[0].float(), dim=-1)
            logprobs.append(sum(lp[start - 1 + i, t].item() for i, t in enumerate(cont)))
            ntoks.append(len(cont))
        gold = row["gold"]
        chars = [len(c) for c in row["choices"]]
        out[row["id"]] = {
            "logprobs": logprobs,
            "choice_tokens": ntoks,
            "acc": float(np.argmax(logprobs) == gold),
            "acc_norm": float(np.argmax(np.array(logprobs) / chars) == gold),
            "acc_norm_token": float(np.argmax(np.array(logprobs) / ntoks) == gold),
        }
    return out


def test_lighteval_runs_offline_on_both_tasks(run):
    res = run["results"]
    assert run["attempts"] == []
    assert run["environment"] == {"HF_HUB_OFFLINE": None, "HF_DATASETS_OFFLINE": None}  # restored after the run
    assert res["lighteval_version"] == "0.13.0"
    assert set(res["tasks"]) == {"animals", "lessons"}
    assert res["tasks"]["animals"]["n"] == 7 and res["tasks"]["lessons"]["n"] == 9
    assert res["tasks"]["animals"]["chance"] == pytest.approx(0.25)
    assert res["tasks"]["lessons"]["chance"] == pytest.approx((5 / 3 + 4 / 4) / 9)
    for task in res["tasks"].values():
        for metric in EVAL_METRICS:
            assert 0.0 <= task["metrics"][metric]["value"] <= 1.0
            assert task["metrics"][metric]["stderr"] is not None
        assert len(task["items"]) == task["n"]
    assert res["batch_size"] == 32 and res["max_samples"] is None and res["seed"] == 0


def test_scores_match_a_hand_computation(run):
    differs = False
    for name, path in run["tasks"].items():
        rows = read_task_file(path)
        hand = hand_scores(run["ckpt"], rows)
        differs |= any(h["acc_norm_token"] != h["acc"] for h in hand.values())
        task = run["results"]["tasks"][name]
        for item in task["items"]:
            expected = hand[item["id"]]
            assert item["logprobs"] == pytest.approx(expected["logprobs"], abs=1e-3), item["id"]
            assert item["choice_tokens"] == expected["choice_tokens"], item["id"]
            for metric in EVAL_METRICS:
                assert item[metric] == expected[metric], (name, item["id"], metric)
        for metric in EVAL_METRICS:
            mean = np.mean([hand[r["id"]][metric] for r in rows])
            assert task["metrics"][metric]["value"] == pytest.approx(mean), (name, metric)
    # the tasks exercise the padding pitfall: with padded token counts acc_norm_token would equal acc
    assert differs


@pytest.fixture(scope="module")
def more_tasks(run, tmp_path_factory):
    """One more lighteval run on the same checkpoint: a partially scored task and the bundled letter-answer tasks."""
    from synthpedia.benchsets import eval_task_job

    root = tmp_path_factory.mktemp("more-tasks")
    blanks = root / "blanks.jsonl"
    options = [("reads", "zz"), ("qq", "builds"), ("finds", "kk"), ("vv", "counts"), ("likes", "xq")]
    with blanks.open("w") as f:
        for i, (s, pair) in enumerate(zip(SUBJECTS, options, strict=False)):
            row = {"id": f"bl-{i}", "query": f"Story: {s}", "choices": [" the book today."] * 2, "gold": i % 2,
                   "contexts": [f"Story: {s} {option}" for option in pair]}
            f.write(json.dumps(row) + "\n")
    tasks = {"blanks": str(blanks)}
    samples = ROOT / "resources" / "benchmarks"
    specs = {
        "commonsenseqa": {"format": "commonsenseqa", "path": str(samples / "commonsenseqa" / "dev-sample.jsonl")},
        "mmlu_mc": {"format": "mmlu_mc", "path": str(samples / "mmlu")},
    }
    for name, entry in specs.items():
        tasks[name] = str(root / f"{name}.jsonl")
        eval_task_job(spec={"name": name, **entry}, task=tasks[name])
    results = evaluate_checkpoint(str(run["ckpt"]), tasks, str(root / "out.json"), max_samples=None,
                                  batch_size=32, seed=0)
    return {"tasks": tasks, "results": results["tasks"], "ckpt": run["ckpt"]}


def test_partial_scoring_compares_one_continuation_after_each_context(more_tasks):
    """WinoGrande's way: each option fills the blank in its own context; the same rest is scored after each."""
    got = more_tasks["results"]["blanks"]
    assert got["scoring"] == "partial" and set(got["metrics"]) == {"acc"} and got["n"] == 5
    rows = read_task_file(more_tasks["tasks"]["blanks"])
    hits = []
    for row, item in zip(rows, got["items"], strict=True):
        # by hand: log p(continuation | context k), one single-choice row per context
        hand = hand_scores(more_tasks["ckpt"], [{"id": k, "query": c, "choices": [row["choices"][k]], "gold": 0}
                                                for k, c in enumerate(row["contexts"])])
        expected = [hand[k]["logprobs"][0] for k in range(2)]
        assert item["logprobs"] == pytest.approx(expected, abs=1e-3), row["id"]
        hits.append(float(np.argmax(expected) == row["gold"]))
        assert item["acc"] == hits[-1]
    assert got["metrics"]["acc"]["value"] == pytest.approx(np.mean(hits))
    assert got["metrics"]["acc"]["stderr"] == pytest.approx(np.std(hits, ddof=1) / np.sqrt(5))


def test_commonsenseqa_and_mmlu_letter_tasks_score_as_by_hand(more_tasks):
    """The bundled CommonsenseQA and MMLU (multiple-choice form) samples, scored on a checkpoint, checked by hand."""
    got = more_tasks["results"]
    for name in ("commonsenseqa", "mmlu_mc"):
        rows = read_task_file(more_tasks["tasks"][name])
        hand = hand_scores(more_tasks["ckpt"], rows[:4])  # a few items by hand
        items = {item["id"]: item for item in got[name]["items"]}
        for item_id, expected in hand.items():
            assert items[item_id]["logprobs"] == pytest.approx(expected["logprobs"], abs=1e-3), (name, item_id)
            for metric in EVAL_METRICS:
                assert items[item_id][metric] == expected[metric], (name, item_id, metric)
        assert got[name]["metrics"]["acc"]["value"] == pytest.approx(np.mean([i["acc"] for i in items.values()]))
    assert got["commonsenseqa"]["n"] == 8 and got["commonsenseqa"]["chance"] == pytest.approx(0.2)
    assert got["mmlu_mc"]["n"] == 12 and got["mmlu_mc"]["chance"] == pytest.approx(0.25)


def test_token_normalisation_ignores_padding(run):
    # choices have different token counts, so lighteval pads the shorter ones with -1;
    # the per-item token counts we report are the unpadded ones
    items = run["results"]["tasks"]["animals"]["items"]
    counts = items[0]["choice_tokens"]
    assert len(set(counts)) > 1
    assert all(item["choice_tokens"] == counts for item in items)


def test_retrained_checkpoint_gets_fresh_scores(run, tmp_path):
    # lighteval's sample cache is keyed by model config (same path, same args): it must not serve old scores
    before = run["results"]["tasks"]["animals"]["items"]
    train_tiny(run["root"], seed=4, steps=3, out=run["ckpt"])
    after = evaluate_checkpoint(
        str(run["ckpt"]), run["tasks"], str(tmp_path / "again.json"), max_samples=None, batch_size=32, seed=0
    )
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(json.dumps(after))
    assert after["checkpoint_digest"] != run["results"]["checkpoint_digest"]
    assert [i["logprobs"] for i in after["tasks"]["animals"]["items"]] != [i["logprobs"] for i in before]


def test_lighteval_patches_are_undone(run):
    import torch
    import xxhash
    from lighteval.logging import info_loggers
    from lighteval.tasks.registry import Registry

    assert Registry.load_all_task_configs.__name__ == "load_all_task_configs"
    assert info_loggers.xxhash is xxhash
    assert torch.is_grad_enabled()  # lighteval switches autograd off at import; we switch it back


def test_eval_table_has_one_row_per_run_task_metric(run):
    table = eval_table({"tiny": run["results"]})
    assert table.schema == TABLES["eval"]
    assert table.height == 2 * len(EVAL_METRICS)
    row = table.filter((pl.col("task") == "lessons") & (pl.col("metric") == "acc")).row(0, named=True)
    assert row["run"] == "tiny"
    assert row["chance"] == pytest.approx((5 / 3 + 4 / 4) / 9)
    assert row["value"] == run["results"]["tasks"]["lessons"]["metrics"]["acc"]["value"]


def test_eval_table_job_writes_the_stamped_table(run, tmp_path):
    tables = [str(tmp_path / "eval.csv"), str(tmp_path / "eval.parquet")]
    eval_table_job(results={"tiny": str(run["root"] / "eval.json")}, tables=tables, config_hash="abc123")
    csv, parquet = pl.read_csv(tables[0]), pl.read_parquet(tables[1])
    assert tuple(csv.columns) == tuple(parquet.columns) == table_columns("eval")
    assert csv.height == parquet.height == 2 * len(EVAL_METRICS)
    assert set(csv["config_hash"]) == {"abc123"} and set(csv["version"]) == {__version__}
    assert csv["value"].to_list() == pytest.approx(parquet["value"].to_list())


def test_import_sets_no_hub_variable():
    # (polars tunes its allocator through the environment on import: only the hub's variables are ours to leave)
    code = (
        "import os; before = dict(os.environ); import synthpedia.evaluate; "
        "print(sorted(k for k, _ in set(os.environ.items()) ^ set(before.items()) "
        "if k.startswith(('HF_', 'TRANSFORMERS_', 'TOKENIZERS_'))))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_max_samples_draws_a_seeded_subset():
    rows = [{"id": str(i), "choices": ["a", "b"]} for i in range(50)]
    a = select_items(rows, 10, seed=1)
    assert len(a) == 10 and a == select_items(rows, 10, seed=1)
    assert a != select_items(rows, 10, seed=2)
    assert [r["id"] for r in a] == sorted((r["id"] for r in a), key=int)  # file order kept
    assert select_items(rows, None, seed=1) == rows


def test_bad_task_rows_name_file_line_and_id(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "q1", "query": "Q?", "choices": ["a", "b"], "gold": 0})
        + "\n"
        + json.dumps({"id": "q2", "query": "Q?", "choices": ["a", "b"], "gold": 2})
        + "\n"
    )
    with pytest.raises(InputError, match=r"bad.jsonl:2 \(id q2\): gold"):
        read_task_file(bad)
    with pytest.raises(InputError, match="task name"):
        evaluate_checkpoint(str(tmp_path), {"a|b": str(bad)}, str(tmp_path / "x.json"), max_samples=None, batch_size=8,
                            seed=0)


def test_token_norm_metric_drops_padding_that_stock_lighteval_counts():
    import torch
    from lighteval.metrics.metrics_sample import LoglikelihoodAcc
    from lighteval.metrics.normalizations import LogProbTokenNorm
    from lighteval.models.model_output import ModelResponse
    from lighteval.tasks.requests import Doc

    from synthpedia.evaluate.run import _metrics

    # choice 0: 3 tokens, -6.0 in all (-2.0 per token); choice 1: 1 token, -4.0, padded with -1 like the backend does
    doc = Doc(query="Q", choices=[" a b c", " d"], gold_index=0)
    padded = torch.tensor([[5, 6, 7], [8, -1, -1]])
    response = ModelResponse(logprobs=[-6.0, -4.0], output_tokens=padded)
    stock = LoglikelihoodAcc(logprob_normalization=LogProbTokenNorm()).compute(doc=doc, model_response=response)
    ours = {m.metric_name: m for m in _metrics()}["acc_norm_token"].sample_level_fn
    assert stock == 0  # divides both by the padded length 3: same ranking as raw acc
    assert ours.compute(doc=doc, model_response=response) == 1
