"""Task files: local jsonl rows checked, sampled with a seed, and laid out as lighteval's test sets."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from synthpedia.errors import InputError

# Joins an item id and a choice index into the id of a partially scored doc.
_PART = "#choice-"

# lighteval task specs are "name|fewshot", comma separated, "@" for metric params.
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


# lighteval's metric names of the generative tasks a task file may ask for: exact match over the
# accepted answers (TriviaQA), the final number of the generation against the target's (GSM8K).
GENERATIVE_METRICS = ("em", "extractive_match")


def read_task_file(path: str | os.PathLike) -> list[dict]:
    """Rows of a task jsonl file, checked; every row of a file is of one kind.

    Multiple choice: id (str), query (str), choices (>= 2 str), gold (index into
    choices); a row may also hold ``contexts``, one string per choice: the task
    is then scored partially (see :func:`partial_scores`). Generative: id,
    query, golds (>= 1 accepted answer), metric (one of GENERATIVE_METRICS),
    stop (strings ending the generation), max_new_tokens (int >= 1). Either kind
    may list the ids of the few-shot examples its query starts with
    (``fewshot_ids``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"eval: task file not found: {path}")
    rows, seen = [], set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = _task_row(line, f"{path}:{lineno}", seen)
            if rows and ("golds" in row) != ("golds" in rows[0]):
                raise InputError(f"eval: {path}:{lineno}: generative and multiple-choice rows in one task file")
            rows.append(row)
    if not rows:
        raise InputError(f"eval: task file has no rows: {path}")
    return rows


def _strings(value, least: int) -> bool:
    return isinstance(value, list) and len(value) >= least and all(isinstance(v, str) and v for v in value)


def _task_row(line: str, where: str, seen: set) -> dict:
    """One checked task row (see :func:`read_task_file`); `where` is file:line, `seen` the ids so far."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"eval: {where}: not JSON ({e.msg})") from None
    if not isinstance(row, dict):
        raise InputError(f"eval: {where}: a row must be a JSON object")
    generative = "golds" in row
    for key in ("id", "query", *(("golds", "metric", "stop", "max_new_tokens") if generative else ("choices", "gold"))):
        if key not in row:
            raise InputError(f"eval: {where}: missing key {key!r}")
    item = row["id"]
    if not isinstance(item, str) or not item:
        raise InputError(f"eval: {where}: id must be a non-empty string")
    if item in seen:
        raise InputError(f"eval: {where}: duplicate id {item!r}")
    seen.add(item)
    where = f"{where} (id {item})"
    if not isinstance(row["query"], str) or not row["query"].strip():
        raise InputError(f"eval: {where}: query must be a non-empty string")
    kept = {"id": item, "query": row["query"]}
    if generative:
        if not _strings(row["golds"], 1):
            raise InputError(f"eval: {where}: golds must be a list of >= 1 non-empty strings")
        if row["metric"] not in GENERATIVE_METRICS:
            raise InputError(f"eval: {where}: metric must be one of {', '.join(GENERATIVE_METRICS)}, got {row['metric']!r}")
        if not _strings(row["stop"], 0):
            raise InputError(f"eval: {where}: stop must be a list of non-empty strings")
        n = row["max_new_tokens"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"eval: {where}: max_new_tokens must be an integer >= 1, got {n!r}")
        kept.update(golds=list(row["golds"]), metric=row["metric"], stop=list(row["stop"]), max_new_tokens=n)
    else:
        choices = row["choices"]
        if not _strings(choices, 2):
            raise InputError(f"eval: {where}: choices must be a list of >= 2 non-empty strings")
        gold = row["gold"]
        if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(choices):
            raise InputError(f"eval: {where}: gold must be an index into choices, got {gold!r}")
        kept.update(choices=list(choices), gold=gold)
        if "contexts" in row:
            contexts = row["contexts"]
            if not isinstance(contexts, list) or len(contexts) != len(choices) or not all(
                isinstance(c, str) and c.strip() for c in contexts
            ):
                raise InputError(f"eval: {where}: contexts must be one non-empty string per choice")
            kept["contexts"] = list(contexts)
    if "fewshot_ids" in row:
        if not _strings(row["fewshot_ids"], 1):
            raise InputError(f"eval: {where}: fewshot_ids must be a list of non-empty strings")
        kept["fewshot_ids"] = list(row["fewshot_ids"])
    return kept


def select_items(rows: list[dict], max_samples: int | None, seed: int) -> list[dict]:
    """At most `max_samples` rows, drawn without replacement with `seed`, kept in file order."""
    if not max_samples or max_samples >= len(rows):
        return list(rows)
    picks = np.random.default_rng(seed).choice(len(rows), size=max_samples, replace=False)
    return [rows[i] for i in sorted(picks.tolist())]


def chance_level(rows: list[dict]) -> float | None:
    """Expected accuracy of a uniform random guess: mean over items of 1 / number of choices (None: generative)."""
    if "golds" in rows[0]:
        return None
    return float(np.mean([1.0 / len(r["choices"]) for r in rows]))


def num_fewshot(rows: list[dict]) -> int:
    """Few-shot examples before each query of a task (0: zero-shot); every row of a task has as many."""
    counts = {len(r.get("fewshot_ids", ())) for r in rows}
    if len(counts) != 1:
        raise InputError(f"eval: task rows have different numbers of few-shot examples: {sorted(counts)}")
    return counts.pop()


def checkpoint_digest(checkpoint: str | os.PathLike) -> str:
    """sha256 (16 hex) over the checkpoint's weight and config files: what the scores belong to."""
    root = Path(checkpoint)
    files = sorted(p for p in root.iterdir() if p.is_file() and (p.suffix in {".safetensors", ".bin", ".json"}))
    if not any(p.suffix in {".safetensors", ".bin"} for p in files):
        raise InputError(f"eval: no model weights (*.safetensors / *.bin) in checkpoint {root}")
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _write_task_folders(tasks: dict, root: Path, max_samples: dict, seed: int) -> dict:
    """Copy the selected items of each task (at most `max_samples[task]`) into <root>/<task>/test.jsonl.

    Returns {task: rows}.
    """
    selected = {}
    for name in sorted(tasks):
        rows = select_items(read_task_file(tasks[name]), max_samples[name], seed)
        folder = root / name
        folder.mkdir(parents=True)
        with (folder / "test.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                for doc in _docs_of(row):
                    f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        selected[name] = rows
    return selected


def _docs_of(row: dict) -> list[dict]:
    """lighteval docs of one task row: itself, or one single-choice doc per context when scored partially."""
    if "contexts" not in row:
        return [row]
    return [
        {"id": f"{row['id']}{_PART}{k}", "query": context, "choices": [choice], "gold": 0}
        for k, (context, choice) in enumerate(zip(row["contexts"], row["choices"], strict=True))
    ]


def partial_scores(rows: list[dict], logprobs: dict) -> dict:
    """acc of a partially scored task: each item's prediction is the choice best continuing its own context.

    In: the task `rows` (with ``contexts``) and `logprobs` {(item id, choice
    index): log-likelihood of the choice given its context}, as lighteval
    computed them. Every choice of an item continues with the same text, so
    length normalisation changes nothing: acc only. Its stderr is lighteval's
    standard error of a mean.
    """
    from lighteval.metrics.utils.stderr import mean_stderr

    hits, items = [], []
    for row in rows:
        scores = [logprobs[(row["id"], k)] for k in range(len(row["choices"]))]
        hit = float(int(np.argmax(scores)) == row["gold"])
        hits.append(hit)
        items.append({"id": row["id"], "gold": row["gold"], "logprobs": scores, "acc": hit})
    stderr = mean_stderr(hits) if len(hits) > 1 else None
    return {"metrics": {"acc": {"value": float(np.mean(hits)), "stderr": _finite(stderr)}}, "items": items}


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)
