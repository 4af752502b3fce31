"""Benchmark items for decontamination and evaluation, read from each benchmark's own files.

Every loader returns `BenchmarkItem`s: `text` is the field the original Cosmopedia
decontamination compared generations against (ARC/OpenBookQA: question stem;
BoolQ: question; HellaSwag: ctx; MMLU: question; PIQA: goal; SIQA: context +
question; WinoGrande: sentence); `question`, `choices` and `gold` make the same
item a zero-shot multiple-choice task: `question` is the query the model reads
(ending where the answer starts), `choices` the candidate answers, `gold` the
index of the right one (-1 for an unlabelled split, usable for decontamination
only).

Formats (`spec["format"]`):
- `arc` (also OpenBookQA): jsonl `{"id", "question": {"stem", "choices": [{"text",
  "label"}]}, "answerKey"}`, or the flat Hugging Face form `{"id", "question",
  "choices": {"text": [...], "label": [...]}, "answerKey"}`; labels A-E or 1-5.
- `boolq`: jsonl `{"question", "passage", "idx", "label"}`, label true/false
  (JSON boolean or string).
- `hellaswag`: Hugging Face jsonl `{"ind", "activity_label", "ctx", "endings",
  "label"}`, or (`.bz2` / `.txt`) 6 lines per item: `activity_label: ctx`, gold
  index, 4 endings.
- `mmlu`: CSV without header (question, A, B, C, D, answer letter); a file or a
  folder of them (read in name order, recursively).
- `piqa`: jsonl `{"goal", "sol1", "sol2"}` + labels file (0/1 per line).
- `siqa`: jsonl `{"context", "question", "answerA", "answerB", "answerC"}` +
  labels file (1/2/3 per line).
- `winogrande`: jsonl `{"qID", "sentence" (with "_"), "option1", "option2",
  "answer": "1"/"2"}`.

Item ids come from the file's id field when it has one, else
`<file stem>:<line number>` (1-based line where the record starts), so they are
stable across runs and machines.
"""

from __future__ import annotations

import bz2
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from synthpedia.errors import InputError
from synthpedia.io import atomic_path

FORMATS = ("arc", "openbookqa", "boolq", "hellaswag", "mmlu", "piqa", "siqa", "winogrande")


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark question, for decontamination (`text`) and evaluation (the rest)."""

    benchmark: str
    item_id: str
    text: str
    question: str
    choices: tuple[str, ...]
    gold: int


class _Records:
    """Context for one file: builds errors that name the benchmark, the file and the line."""

    def __init__(self, benchmark: str, path: Path):
        self.benchmark = benchmark
        self.path = path
        self.stem = path.name.split(".")[0]

    def error(self, line: int | None, problem: str) -> InputError:
        where = f"{self.path} line {line}" if line is not None else str(self.path)
        return InputError(f"benchmarks/{self.benchmark}: {where}: {problem}")

    def default_id(self, line: int) -> str:
        return f"{self.stem}:{line}"


def _open_text(path: Path):
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _jsonl(ctx: _Records) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a jsonl file."""
    with _open_text(ctx.path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ctx.error(number, f"not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ctx.error(number, "expected a JSON object")
            yield number, obj


def _field(ctx: _Records, line: int, obj: dict, key: str) -> str:
    """A required, non-empty string field."""
    if key not in obj:
        raise ctx.error(line, f"missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(line, f"field '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _record_id(ctx: _Records, line: int, obj: dict, key: str) -> str:
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return ctx.default_id(line)
    return str(value).strip()


def _labels(ctx: _Records, labels_path: Path | None, count: int) -> list[int] | None:
    """Integer labels, one per line; None when there is no labels file (unlabelled split)."""
    if labels_path is None:
        return None
    lab = _Records(ctx.benchmark, labels_path)
    if not labels_path.is_file():
        raise lab.error(None, "labels file not found")
    values = []
    with open(labels_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                values.append((number, int(line.strip())))
            except ValueError:
                raise lab.error(number, f"label must be an integer, got {line.strip()!r}") from None
    if len(values) != count:
        raise lab.error(None, f"has {len(values)} labels for {count} records in {ctx.path}")
    return [v for _, v in values]


def _sibling_labels(path: Path) -> Path | None:
    """PIQA/SIQA ship `valid.jsonl` with `valid-labels.lst`: use it when no labels path is given."""
    candidate = path.with_name(path.name.split(".")[0] + "-labels.lst")
    return candidate if candidate.is_file() else None


def _gold_from_label(ctx: _Records, line: int, label, n_choices: int, base: int) -> int:
    """Index of the answer from a 0- or 1-based label; -1 for a missing label."""
    if label is None or label == "":
        return -1
    try:
        gold = int(label) - base
    except (TypeError, ValueError):
        raise ctx.error(line, f"label must be an integer, got {label!r}") from None
    if not 0 <= gold < n_choices:
        raise ctx.error(line, f"label {label!r} is out of range for {n_choices} choices")
    return gold


# --- one loader per format: (ctx, labels path) -> items ----------------------------------------


def _load_arc(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    items = []
    for line, obj in _jsonl(ctx):
        question = obj.get("question")
        if isinstance(question, dict):  # AI2 release: question.stem, question.choices
            stem = _field(ctx, line, question, "stem")
            raw_choices = question.get("choices")
            if not isinstance(raw_choices, list):
                raise ctx.error(line, "missing list 'question.choices'")
            try:
                texts = [str(c["text"]).strip() for c in raw_choices]
                labels = [str(c["label"]).strip() for c in raw_choices]
            except (KeyError, TypeError):
                raise ctx.error(line, "each choice needs 'text' and 'label'") from None
        else:  # Hugging Face form: question is the stem, choices {"text": [...], "label": [...]}
            stem = _field(ctx, line, obj, "question")
            raw_choices = obj.get("choices")
            if not isinstance(raw_choices, dict) or not isinstance(raw_choices.get("text"), list):
                raise ctx.error(line, "missing 'question.stem' / 'choices'")
            texts = [str(t).strip() for t in raw_choices["text"]]
            labels = [str(x).strip() for x in raw_choices.get("label", [])]
        if len(texts) < 2 or len(labels) != len(texts):
            raise ctx.error(line, f"needs at least 2 choices, each with a label (got {len(texts)})")
        if any(not t for t in texts):
            raise ctx.error(line, "a choice has empty text")
        answer = str(obj.get("answerKey", "")).strip()
        if not answer:
            raise ctx.error(line, "missing 'answerKey'")
        if answer not in labels:
            raise ctx.error(line, f"answerKey {answer!r} is not one of the choice labels {labels}")
        items.append(
            BenchmarkItem(
                benchmark=ctx.benchmark,
                item_id=_record_id(ctx, line, obj, "id"),
                text=stem,
                question=f"Question: {stem}\nAnswer:",
                choices=tuple(texts),
                gold=labels.index(answer),
            )
        )
    return items


def _load_boolq(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    items = []
    for line, obj in _jsonl(ctx):
        question = _field(ctx, line, obj, "question")
        passage = _field(ctx, line, obj, "passage")
        label = obj.get("label", obj.get("answer"))
        if isinstance(label, bool):
            gold = int(label)
        elif isinstance(label, str) and label.strip().lower() in ("true", "false"):
            gold = int(label.strip().lower() == "true")
        elif label is None:
            gold = -1
        else:
            raise ctx.error(line, f"label must be true/false, got {label!r}")
        q = question[0].upper() + question[1:]
        q = q if q.endswith("?") else q + "?"
        items.append(
            BenchmarkItem(
                benchmark=ctx.benchmark,
                item_id=_record_id(ctx, line, obj, "idx"),
                text=question,
                question=f"{passage}\nQuestion: {q}\nAnswer:",
                choices=("no", "yes"),
                gold=gold,
            )
        )
    return items


def _hellaswag_item(ctx, line, item_id, activity, ctx_text, endings, label) -> BenchmarkItem:
    if len(endings) != 4 or any(not e for e in endings):
        raise ctx.error(line, f"needs 4 non-empty endings, got {len(endings)}")
    query = f"{activity}: {ctx_text}" if activity else ctx_text
    return BenchmarkItem(
        benchmark=ctx.benchmark,
        item_id=item_id,
        text=ctx_text,
        question=query,
        choices=tuple(endings),
        gold=_gold_from_label(ctx, line, label, 4, base=0),
    )


def _load_hellaswag(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    name = ctx.path.name
    if not (name.endswith(".bz2") or name.endswith(".txt")):
        items = []
        for line, obj in _jsonl(ctx):
            ctx_text = _field(ctx, line, obj, "ctx")
            endings = obj.get("endings")
            if not isinstance(endings, list):
                raise ctx.error(line, "missing list 'endings'")
            activity = str(obj.get("activity_label") or "").strip()
            item_id = _record_id(ctx, line, obj, "ind")
            endings = [str(e).strip() for e in endings]
            items.append(_hellaswag_item(ctx, line, item_id, activity, ctx_text, endings, obj.get("label")))
        return items
    # The text form: 6 lines per item (first line "activity_label: ctx", then gold, then 4 endings).
    with _open_text(ctx.path) as f:
        lines = f.read().split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 6:
        raise ctx.error(len(lines), f"{len(lines)} lines is not a multiple of 6 (6 lines per item)")
    items = []
    for start in range(0, len(lines), 6):
        line = start + 1
        head = lines[start].strip()
        activity, sep, ctx_text = head.partition(": ")
        if not sep or not ctx_text.strip():
            raise ctx.error(line, f"expected 'activity_label: context', got {head[:60]!r}")
        label = lines[start + 1].strip()
        if not label.isdigit():
            raise ctx.error(line + 1, f"expected the gold index (0-3), got {label[:60]!r}")
        endings = [e.strip() for e in lines[start + 2 : start + 6]]
        items.append(
            _hellaswag_item(ctx, line, ctx.default_id(line), activity.strip(), ctx_text.strip(), endings, label)
        )
    return items


def _load_mmlu_file(ctx: _Records) -> list[BenchmarkItem]:
    items = []
    with open(ctx.path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        start = 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != 6:
                    raise ctx.error(line, f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
                question = row[0].strip()
                choices = tuple(cell.strip() for cell in row[1:5])
                answer = row[5].strip().upper()
                if not question:
                    raise ctx.error(line, "empty question")
                if answer not in ("A", "B", "C", "D"):
                    raise ctx.error(line, f"answer must be A-D, got {row[5]!r}")
                items.append(
                    BenchmarkItem(
                        benchmark=ctx.benchmark,
                        item_id=ctx.default_id(line),
                        text=question,
                        question=f"Question: {question}\nAnswer:",
                        choices=choices,
                        gold="ABCD".index(answer),
                    )
                )
        except csv.Error as exc:
            raise ctx.error(reader.line_num, f"bad CSV ({exc})") from None
    return items


def _load_mmlu(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    if ctx.path.is_dir():
        files = sorted(p for p in ctx.path.rglob("*.csv") if p.is_file())
        if not files:
            raise ctx.error(None, "folder has no .csv files")
        items = []
        for path in files:
            items.extend(_load_mmlu_file(_Records(ctx.benchmark, path)))
        return items
    return _load_mmlu_file(ctx)


def _load_piqa(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    records = list(_jsonl(ctx))
    labels = _labels(ctx, labels_path or _sibling_labels(ctx.path), len(records))
    items = []
    for k, (line, obj) in enumerate(records):
        goal = _field(ctx, line, obj, "goal")
        choices = (_field(ctx, line, obj, "sol1"), _field(ctx, line, obj, "sol2"))
        label = labels[k] if labels is not None else obj.get("label")
        items.append(
            BenchmarkItem(
                benchmark=ctx.benchmark,
                item_id=_record_id(ctx, line, obj, "id"),
                text=goal,
                question=f"Question: {goal}\nAnswer:",
                choices=choices,
                gold=_gold_from_label(ctx, line, label, 2, base=0),
            )
        )
    return items


def _load_siqa(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    records = list(_jsonl(ctx))
    labels = _labels(ctx, labels_path or _sibling_labels(ctx.path), len(records))
    items = []
    for k, (line, obj) in enumerate(records):
        context = _field(ctx, line, obj, "context")
        question = _field(ctx, line, obj, "question")
        choices = tuple(_field(ctx, line, obj, key) for key in ("answerA", "answerB", "answerC"))
        label = labels[k] if labels is not None else obj.get("label")
        text = f"{context} {question}"
        items.append(
            BenchmarkItem(
                benchmark=ctx.benchmark,
                item_id=_record_id(ctx, line, obj, "id"),
                text=text,
                question=f"Question: {text}\nAnswer:",
                choices=choices,
                gold=_gold_from_label(ctx, line, label, 3, base=1),
            )
        )
    return items


def _load_winogrande(ctx: _Records, labels_path: Path | None) -> list[BenchmarkItem]:
    items = []
    for line, obj in _jsonl(ctx):
        sentence = _field(ctx, line, obj, "sentence")
        if sentence.count("_") != 1:
            raise ctx.error(line, f"'sentence' must contain exactly one '_' blank, got {sentence.count('_')}")
        options = (_field(ctx, line, obj, "option1"), _field(ctx, line, obj, "option2"))
        items.append(
            BenchmarkItem(
                benchmark=ctx.benchmark,
                item_id=_record_id(ctx, line, obj, "qID"),
                text=sentence,
                question=sentence,
                choices=tuple(sentence.replace("_", option) for option in options),
                gold=_gold_from_label(ctx, line, obj.get("answer"), 2, base=1),
            )
        )
    return items


_LOADERS: dict[str, Callable[[_Records, Path | None], list[BenchmarkItem]]] = {
    "arc": _load_arc,
    "openbookqa": _load_arc,
    "boolq": _load_boolq,
    "hellaswag": _load_hellaswag,
    "mmlu": _load_mmlu,
    "piqa": _load_piqa,
    "siqa": _load_siqa,
    "winogrande": _load_winogrande,
}


def load_benchmark(spec: dict) -> list[BenchmarkItem]:
    """Load one benchmark from local files.

    `spec`: {"name": str, "format": one of FORMATS, "path": file (or folder for mmlu),
    "labels": optional labels file (piqa/siqa; defaults to `<stem>-labels.lst` beside
    the data when present), "max_items": optional int (the first N items)}.
    Returns the items in file order. Raises InputError naming the file and line of a
    malformed record, or the spec key that is wrong.
    """
    if not isinstance(spec, dict):
        raise InputError(f"benchmarks: each entry must be a mapping, got {spec!r}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"benchmarks: entry {spec!r} has no 'name'")
    fmt = spec.get("format")
    if fmt not in _LOADERS:
        raise InputError(f"benchmarks/{name}: format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not spec.get("path"):
        raise InputError(f"benchmarks/{name}: missing 'path'")
    path = Path(os.fspath(spec["path"]))
    if not path.exists():
        raise InputError(f"benchmarks/{name}: path not found ({path})")
    if path.is_dir() and fmt != "mmlu":
        raise InputError(f"benchmarks/{name}: 'path' must be a file for format {fmt} ({path})")
    labels = Path(os.fspath(spec["labels"])) if spec.get("labels") else None
    max_items = spec.get("max_items")
    if max_items is not None and (not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 0):
        raise InputError(f"benchmarks/{name}: 'max_items' must be a non-negative integer, got {max_items!r}")
    items = _LOADERS[fmt](_Records(name, path), labels)
    return items[:max_items] if max_items is not None else items


def write_eval_task(items: list[BenchmarkItem], path: str | os.PathLike) -> None:
    """Write items as an evaluation task: jsonl rows {"id", "query", "choices", "gold"}.

    `query` is the item's question; each choice is a continuation of it and starts
    with one space (log-likelihood of `query + choice`). Unlabelled items
    (gold -1) cannot be evaluated and raise InputError.
    """
    rows = []
    for item in items:
        if not 0 <= item.gold < len(item.choices):
            raise InputError(
                f"benchmarks/{item.benchmark}: item {item.item_id} has no gold answer; "
                "use a labelled split for evaluation"
            )
        rows.append(
            json.dumps(
                {
                    "id": item.item_id,
                    "query": item.question,
                    "choices": [" " + c for c in item.choices],
                    "gold": item.gold,
                },
                ensure_ascii=False,
            )
        )
    with atomic_path(path) as tmp:
        tmp.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
