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


def read_task_file(path: str | os.PathLike) -> list[dict]:
    """Rows of a task jsonl file, checked: id (str), query (str), choices (>= 2 str), gold (index into choices).

    A row may also hold ``contexts``, one string per choice: the task is then
    scored partially (see :func:`partial_scores`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"eval: task file not found: {path}")
    rows, seen = [], set()
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"eval: {where}: not JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"eval: {where}: a row must be a JSON object")
            for key in ("id", "query", "choices", "gold"):
                if key not in row:
                    raise InputError(f"eval: {where}: missing key {key!r}")
            item = row["id"]
            if not isinstance(item, str) or not item:
                raise InputError(f"eval: {where}: id must be a non-empty string")
            if item in seen:
                raise InputError(f"eval: {where}: duplicate id {item!r}")
            seen.add(item)
            if not isinstance(row["query"], str) or not row["query"].strip():
                raise InputError(f"eval: {where} (id {item}): query must be a non-empty string")
            choices = row["choices"]
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
                raise InputError(f"eval: {where} (id {item}): choices must be a list of >= 2 non-empty strings")
            gold = row["gold"]
            if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(choices):
                raise InputError(f"eval: {where} (id {item}): gold must be an index into choices, got {gold!r}")
            kept = {"id": item, "query": row["query"], "choices": list(choices), "gold": gold}
            if "contexts" in row:
                contexts = row["contexts"]
                if not isinstance(contexts, list) or len(contexts) != len(choices) or not all(
                    isinstance(c, str) and c.strip() for c in contexts
                ):
                    raise InputError(f"eval: {where} (id {item}): contexts must be one non-empty string per choice")
                kept["contexts"] = list(contexts)
            rows.append(kept)
    if not rows:
        raise InputError(f"eval: task file has no rows: {path}")
    return rows


def select_items(rows: list[dict], max_samples: int | None, seed: int) -> list[dict]:
    """At most `max_samples` rows, drawn without replacement with `seed`, kept in file order."""
    if not max_samples or max_samples >= len(rows):
        return list(rows)
    picks = np.random.default_rng(seed).choice(len(rows), size=max_samples, replace=False)
    return [rows[i] for i in sorted(picks.tolist())]


def chance_level(rows: list[dict]) -> float:
    """Expected accuracy of a uniform random guess: mean over items of 1 / number of choices."""
    return float(np.mean([1.0 / len(r["choices"]) for r in rows]))


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


def _write_task_folders(tasks: dict, root: Path, max_samples: int | None, seed: int) -> dict:
    """Copy the selected items of each task into <root>/<task>/test.jsonl; returns {task: rows}."""
    selected = {}
    for name in sorted(tasks):
        rows = select_items(read_task_file(tasks[name]), max_samples, seed)
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
