"""Benchmark items for decontamination and evaluation, read from each benchmark's own files.

Every loader returns `BenchmarkItem`s: `text` is the field the original Cosmopedia
decontamination compared generations against (ARC/OpenBookQA: question stem;
BoolQ: question; HellaSwag: ctx; MMLU: question; PIQA: goal; SIQA: context +
question; WinoGrande: sentence; TriviaQA and GSM8K, added here: the question);
`question`, `choices` and `gold` make the same item a multiple-choice task:
`question` is the query the model reads (ending where the answer starts),
`choices` the candidate answers, `gold` the index of the right one (-1 for an
unlabelled split, usable for decontamination only).

Formats (`spec["format"]`, one of BENCHMARK_FORMATS):
- `arc` and `openbookqa`: jsonl `{"id", "question": {"stem", "choices": [{"text",
  "label"}]}, "answerKey"}`, or the flat Hugging Face form `{"id", "question",
  "choices": {"text": [...], "label": [...]}, "answerKey"}`; labels A-E or 1-5.
- `boolq`: jsonl `{"question", "passage", "idx", "label"}`, label true/false
  (JSON boolean or string).
- `hellaswag`: Hugging Face jsonl `{"ind", "activity_label", "ctx", "endings",
  "label"}`, or (`.bz2` / `.txt`) 6 lines per item: `activity_label: ctx`, gold
  index, 4 endings.
- `mmlu`: CSV without header (question, A, B, C, D, answer letter); a file or a
  folder of them (read in name order, recursively). Asked in cloze form: the
  answer texts are the choices.
- `mmlu_mc`: the same files, asked in multiple-choice form as lighteval's
  `mmlu` tasks ask them (subject line from the file name, lettered options,
  " A"-" D" as the choices).
- `commonsenseqa`: jsonl `{"answerKey", "id", "question": {"question_concept",
  "choices": [{"label", "text"}] (A-E), "stem"}}`, asked as lighteval's
  `commonsenseqa` task asks it (lettered options, the letters as choices, no
  space before them).
- `piqa`: jsonl `{"goal", "sol1", "sol2"}` + labels file (0/1 per line).
- `siqa`: jsonl `{"context", "question", "answerA", "answerB", "answerC"}` +
  labels file (1/2/3 per line).
- `winogrande`: jsonl `{"qID", "sentence" (with "_"), "option1", "option2",
  "answer": "1"/"2"}`; scored partially at the blank: one context per option
  (the text before the blank, the option filled in), one continuation (the
  rest of the sentence).
- `triviaqa`: jsonl `{"context": "Question: <question>\nAnswer:", "answer",
  "aliases": [...]}` (llm-foundry's TriviaQA subset; no ids). Generative, as
  lighteval's `triviaqa` task asks it: the query `Question: <q>\nAnswer:`, the
  accepted answers the aliases with those that extend a shorter alias dropped,
  lower-cased, punctuation removed; exact match (`em`), generation stopped at
  a newline, "." or ",", 20 new tokens.
- `gsm8k`: jsonl `{"question", "answer"}`, the answer a worked solution ending
  in `#### <number>` (the official release's layout; no ids). Generative, as
  lighteval's `gsm8k` task asks it: `Question: <q>\nAnswer:`, the target the
  whole solution after one space; scored by lighteval's `extractive_match`
  (the final number of the generation against the solution's), generation
  stopped at "Question:", 256 new tokens.

Generative items (`generation` set) keep their accepted answers in `choices`
(`gold` 0). Few-shot prompts (`write_eval_task`, `num_fewshot` > 0) are laid
out as lighteval lays out plain-text few-shot prompts: each example's query, a
space and its target (stripped), examples and the query joined by a blank
line. The examples come from the benchmark's `fewshot` file (its train split,
same format) or, without one, from the benchmark's other items; each item's
examples are drawn with the config seed and the item id, so they do not
depend on which other items are evaluated.

Item ids come from the file's id field when it has one, else
`<file stem>:<line number>` (1-based line where the record starts), so they are
stable across runs and machines.

Each format is a reader (file -> records, each with the line it starts on) and a
parser (record -> item), so `check_benchmark` can parse the first records of a
file at start-up with the very code that reads it all in a job. An error names
the config key, the file, the line and the declared format. This module imports
only the standard library (the workflow layer calls `check_benchmark`).
"""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

from synthpedia.benchfiles import (
    BenchmarkFile,
    BenchmarkRecord,
    read_hellaswag,
    read_jsonl,
    read_labels,
    read_mmlu,
    sibling_labels,
)
from synthpedia.errors import InputError


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark question, for decontamination (`text`) and evaluation (the rest)."""

    benchmark: str
    item_id: str
    text: str
    question: str
    choices: tuple[str, ...]
    gold: int
    # Partial scoring (WinoGrande): one context per choice, each choice scored as the continuation
    # of its own context; None: every choice continues `question`.
    contexts: tuple[str, ...] | None = None
    # Whether each choice continues the query after one space (" Paris"); False for the letter
    # answers lighteval's CommonsenseQA task scores right after "Answer:".
    spaced: bool = True
    # Generative items: how the answer is generated and scored; `choices` then holds the accepted
    # answers (lighteval's golds) and `gold` is 0. None: multiple choice by log-likelihood.
    generation: Generation | None = None


@dataclass(frozen=True)
class Generation:
    """A generative task's settings, as lighteval's task config for it has them."""

    metric: str  # lighteval's metric name: "em" (exact match) or "extractive_match" (final number)
    stop: tuple[str, ...]  # generation stops at the first of these (the stop sequence is cut off)
    max_new_tokens: int  # lighteval's generation_size


# lighteval 0.13's `triviaqa` and `gsm8k` task configs (checked against them in tests/benchsets).
TRIVIAQA_GENERATION = Generation(metric="em", stop=("\n", ".", ","), max_new_tokens=20)
GSM8K_GENERATION = Generation(metric="extractive_match", stop=("Question:",), max_new_tokens=256)
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


# --- parsers: record -> item ----------------------------------------------------------------


def _field(rec: BenchmarkRecord, key: str, obj: dict | None = None) -> str:
    """A required, non-empty string field of `obj` (the record's object by default), stripped."""
    obj = rec.value if obj is None else obj
    if key not in obj:
        raise rec.error(f"missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise rec.error(f"field '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _gold(rec: BenchmarkRecord, label, n_choices: int, base: int) -> int:
    """Index of the answer from a 0- or 1-based label; -1 for a missing label."""
    if label is None or label == "":
        return -1
    try:
        gold = int(label) - base
    except (TypeError, ValueError):
        raise rec.error(f"label must be an integer, got {label!r}") from None
    if not 0 <= gold < n_choices:
        raise rec.error(f"label {label!r} is out of range for {n_choices} choices")
    return gold


def _item(rec: BenchmarkRecord, id_key: str | None, text: str, question: str, choices, gold: int) -> BenchmarkItem:
    """The item of `rec`: its id from field `id_key` when the record has a non-blank one, else file:line."""
    value = rec.value.get(id_key) if id_key else None
    if value is None or (isinstance(value, str) and not value.strip()):
        item_id = rec.file.default_id(rec.line)
    else:
        item_id = str(value).strip()
    return BenchmarkItem(rec.file.benchmark, item_id, text, question, tuple(choices), gold)


def _arc_choices(rec: BenchmarkRecord) -> tuple[str, list[str], list[str]]:
    """(stem, choice texts, choice labels) of an ARC record, in either of its two layouts."""
    question = rec.value.get("question")
    if isinstance(question, dict):  # AI2 release: question.stem, question.choices
        stem = _field(rec, "stem", question)
        raw = question.get("choices")
        if not isinstance(raw, list):
            raise rec.error("missing list 'question.choices'")
        try:
            return stem, [str(c["text"]).strip() for c in raw], [str(c["label"]).strip() for c in raw]
        except (KeyError, TypeError):
            raise rec.error("each choice needs 'text' and 'label'") from None
    # Hugging Face form: question is the stem, choices {"text": [...], "label": [...]}
    stem = _field(rec, "question")
    raw = rec.value.get("choices")
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), list):
        raise rec.error("missing 'question.stem' / 'choices'")
    return stem, [str(t).strip() for t in raw["text"]], [str(x).strip() for x in raw.get("label", [])]


def _parse_arc(rec: BenchmarkRecord, label) -> BenchmarkItem:
    stem, texts, labels = _arc_choices(rec)
    if len(texts) < 2 or len(labels) != len(texts):
        raise rec.error(f"needs at least 2 choices, each with a label (got {len(texts)})")
    if any(not t for t in texts):
        raise rec.error("a choice has empty text")
    answer = str(rec.value.get("answerKey", "")).strip()
    if not answer:
        raise rec.error("missing 'answerKey'")
    if answer not in labels:
        raise rec.error(f"answerKey {answer!r} is not one of the choice labels {labels}")
    return _item(rec, "id", stem, f"Question: {stem}\nAnswer:", texts, labels.index(answer))


def _parse_boolq(rec: BenchmarkRecord, label) -> BenchmarkItem:
    question = _field(rec, "question")
    passage = _field(rec, "passage")
    answer = rec.value.get("label", rec.value.get("answer"))
    if isinstance(answer, bool):
        gold = int(answer)
    elif isinstance(answer, str) and answer.strip().lower() in ("true", "false"):
        gold = int(answer.strip().lower() == "true")
    elif answer is None:
        gold = -1
    else:
        raise rec.error(f"label must be true/false, got {answer!r}")
    q = question[0].upper() + question[1:]
    q = q if q.endswith("?") else q + "?"
    return _item(rec, "idx", question, f"{passage}\nQuestion: {q}\nAnswer:", ("no", "yes"), gold)


def _hellaswag_item(rec: BenchmarkRecord, id_key, activity: str, context: str, endings: list[str], label) -> BenchmarkItem:
    if len(endings) != 4 or any(not e for e in endings):
        raise rec.error(f"needs 4 non-empty endings, got {len(endings)}")
    query = f"{activity}: {context}" if activity else context
    return _item(rec, id_key, context, query, endings, _gold(rec, label, 4, base=0))


def _parse_hellaswag(rec: BenchmarkRecord, label) -> BenchmarkItem:
    if isinstance(rec.value, dict):  # Hugging Face jsonl
        context = _field(rec, "ctx")
        endings = rec.value.get("endings")
        if not isinstance(endings, list):
            raise rec.error("missing list 'endings'")
        activity = str(rec.value.get("activity_label") or "").strip()
        return _hellaswag_item(rec, "ind", activity, context, [str(e).strip() for e in endings], rec.value.get("label"))
    # the text form: "activity_label: ctx", the gold index, then 4 endings
    head, gold, *endings = rec.value
    activity, sep, context = head.partition(": ")
    if not sep or not context.strip():
        raise rec.error(f"expected 'activity_label: context', got {head[:60]!r}")
    if not gold.isdigit():
        raise rec.error(f"expected the gold index (0-3), got {gold[:60]!r}", offset=1)
    return _hellaswag_item(rec, None, activity.strip(), context.strip(), endings, gold)


def _parse_mmlu(rec: BenchmarkRecord, label) -> BenchmarkItem:
    row = rec.value
    if len(row) != 6:
        raise rec.error(f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}")
    question = row[0].strip()
    answer = row[5].strip().upper()
    if not question:
        raise rec.error("empty question")
    if answer not in ("A", "B", "C", "D"):
        raise rec.error(f"answer must be A-D, got {row[5]!r}")
    choices = [cell.strip() for cell in row[1:5]]
    return _item(rec, None, question, f"Question: {question}\nAnswer:", choices, "ABCD".index(answer))


def _mmlu_subject(rec: BenchmarkRecord) -> str:
    """The subject of an MMLU file, from its name (``high_school_biology_test.csv``), in words."""
    stem = rec.file.stem
    for split in ("_test", "_dev", "_val"):
        stem = stem.removesuffix(split)
    return stem.replace("_", " ")


def _parse_mmlu_mc(rec: BenchmarkRecord, label) -> BenchmarkItem:
    """MMLU in multiple-choice form, as lighteval's ``mmlu`` tasks ask it: the lettered options, then a letter."""
    item = _parse_mmlu(rec, label)
    query = (f"The following are multiple choice questions (with answers) about {_mmlu_subject(rec)}.\n\n"
             f"Question: {item.text}")
    query += "".join(f"\n{key}. {choice}" for key, choice in zip("ABCD", item.choices, strict=True))
    return replace(item, question=query + "\nAnswer:", choices=("A", "B", "C", "D"))


def _parse_commonsenseqa(rec: BenchmarkRecord, label) -> BenchmarkItem:
    """CommonsenseQA as lighteval's ``commonsenseqa`` task asks it: lettered options, the letter right after "Answer:"."""
    stem, texts, labels = _arc_choices(rec)
    if len(texts) < 2 or labels != list("ABCDE"[: len(texts)]):
        raise rec.error(f"needs 2 to 5 choices labelled A, B, C... in order (got {labels})")
    answer = str(rec.value.get("answerKey", "")).strip()
    if answer not in labels:
        raise rec.error(f"answerKey {answer!r} is not one of the choice labels {labels}")
    query = f"The following are multiple choice questions (with answers) about common sense.\nQuestion: {stem}\n"
    query += "".join(f"{key}.  {text}\n" for key, text in zip(labels, texts, strict=True))
    item = _item(rec, "id", stem, query + "Answer:", labels, labels.index(answer))
    return replace(item, spaced=False)


def _parse_piqa(rec: BenchmarkRecord, label) -> BenchmarkItem:
    goal = _field(rec, "goal")
    choices = (_field(rec, "sol1"), _field(rec, "sol2"))
    label = label if label is not None else rec.value.get("label")
    return _item(rec, "id", goal, f"Question: {goal}\nAnswer:", choices, _gold(rec, label, 2, base=0))


def _parse_siqa(rec: BenchmarkRecord, label) -> BenchmarkItem:
    text = f"{_field(rec, 'context')} {_field(rec, 'question')}"
    choices = tuple(_field(rec, key) for key in ("answerA", "answerB", "answerC"))
    label = label if label is not None else rec.value.get("label")
    return _item(rec, "id", text, f"Question: {text}\nAnswer:", choices, _gold(rec, label, 3, base=1))


def _parse_winogrande(rec: BenchmarkRecord, label) -> BenchmarkItem:
    sentence = _field(rec, "sentence")
    if sentence.count("_") != 1:
        raise rec.error(f"'sentence' must contain exactly one '_' blank, got {sentence.count('_')}")
    options = (_field(rec, "option1"), _field(rec, "option2"))
    # Partial scoring at the blank: the context is the text before it with the option filled in,
    # the continuation (the same for both options) is the rest of the sentence.
    before, after = sentence.split("_")
    item = _item(rec, "qID", sentence, before.rstrip(), [after.strip()] * 2,
                 _gold(rec, rec.value.get("answer"), 2, base=1))
    return replace(item, contexts=tuple(before + option for option in options))


def triviaqa_answers(aliases: list[str]) -> list[str]:
    """The answers lighteval's TriviaQA task accepts: aliases sorted, an alias extending the one kept
    before it dropped, the rest lower-cased with ASCII punctuation removed."""
    kept: list[str] = []
    for alias in sorted(aliases):
        if not kept or not alias.startswith(kept[-1]):
            kept.append(alias)
    return [alias.lower().translate(_NO_PUNCTUATION) for alias in kept]


_TRIVIAQA_PREFIX, _TRIVIAQA_SUFFIX = "Question: ", "\nAnswer:"


def _parse_triviaqa(rec: BenchmarkRecord, label) -> BenchmarkItem:
    """llm-foundry's TriviaQA row: the question inside `context`, the accepted answers in `aliases`."""
    context = rec.value.get("context")
    if not isinstance(context, str) or not (context.startswith(_TRIVIAQA_PREFIX) and context.endswith(_TRIVIAQA_SUFFIX)):
        raise rec.error(f"'context' must read 'Question: <question>\\nAnswer:', got {str(context)[:60]!r}")
    question = context[len(_TRIVIAQA_PREFIX) : -len(_TRIVIAQA_SUFFIX)]
    if not question.strip():
        raise rec.error("empty question in 'context'")
    aliases = rec.value.get("aliases")
    if not isinstance(aliases, list) or not aliases or not all(isinstance(a, str) and a for a in aliases):
        raise rec.error("'aliases' must be a non-empty list of non-empty strings")
    answers = triviaqa_answers(aliases)
    item = _item(rec, None, question.strip(), f"Question: {question}\nAnswer:", answers, 0)
    return replace(item, generation=TRIVIAQA_GENERATION)


def _parse_gsm8k(rec: BenchmarkRecord, label) -> BenchmarkItem:
    """GSM8K: the question, and the worked solution ending in "#### <final answer>" as the target."""
    question = rec.value.get("question")
    if not isinstance(question, str) or not question.strip():
        raise rec.error(f"field 'question' must be a non-empty string, got {question!r}")
    answer = rec.value.get("answer")
    if not isinstance(answer, str) or "####" not in answer:
        raise rec.error("field 'answer' must be a worked solution ending in '#### <final answer>'")
    item = _item(rec, None, question.strip(), f"Question: {question}\nAnswer:", [f" {answer}"], 0)
    return replace(item, generation=GSM8K_GENERATION)


@dataclass(frozen=True)
class _Format:
    """How a format is read: records from a file, an item from a record (and its label, if any)."""

    read: Callable[[BenchmarkFile], Iterator[BenchmarkRecord]]
    parse: Callable[[BenchmarkRecord, int | None], BenchmarkItem]
    labels_file: bool = False  # the labels may come in a file of their own (PIQA, SIQA)


_FORMATS: dict[str, _Format] = {
    "arc": _Format(read_jsonl, _parse_arc),
    "openbookqa": _Format(read_jsonl, _parse_arc),
    "boolq": _Format(read_jsonl, _parse_boolq),
    "hellaswag": _Format(read_hellaswag, _parse_hellaswag),
    "mmlu": _Format(read_mmlu, _parse_mmlu),
    "mmlu_mc": _Format(read_mmlu, _parse_mmlu_mc),
    "commonsenseqa": _Format(read_jsonl, _parse_commonsenseqa),
    "piqa": _Format(read_jsonl, _parse_piqa, labels_file=True),
    "siqa": _Format(read_jsonl, _parse_siqa, labels_file=True),
    "winogrande": _Format(read_jsonl, _parse_winogrande),
    "triviaqa": _Format(read_jsonl, _parse_triviaqa),
    "gsm8k": _Format(read_jsonl, _parse_gsm8k),
}
# The one list of benchmark formats (the config schema's `format` enum is checked against it).
BENCHMARK_FORMATS = tuple(_FORMATS)


def _items(file: BenchmarkFile, fmt: _Format, labels_path: Path | None, limit: int | None) -> list[BenchmarkItem]:
    """The items of the first `limit` records of `file` (None: all of them), in file order."""
    records = islice(fmt.read(file), limit)
    labels_path = (labels_path or sibling_labels(file.path)) if fmt.labels_file else None
    if labels_path is None:
        return [fmt.parse(rec, None) for rec in records]
    records = list(records)
    labels = read_labels(file, labels_path, len(records), complete=limit is None)
    return [fmt.parse(rec, label) for rec, label in zip(records, labels)]


def _open_benchmark(name: str, spec: dict) -> tuple[BenchmarkFile, _Format, Path | None]:
    """The data file, format and labels file of benchmark `name` (its config entry `spec`), checked to exist."""
    key = f"config key 'benchmarks.{name}'"
    fmt = spec.get("format")
    if fmt not in _FORMATS:
        raise InputError(f"{key}: format {fmt!r} is not one of {', '.join(BENCHMARK_FORMATS)}")
    if not spec.get("path"):
        raise InputError(f"{key}: missing 'path'")
    path = Path(os.fspath(spec["path"]))
    if not path.exists():
        raise InputError(f"{key}: path not found ({path})")
    if path.is_dir() and fmt not in ("mmlu", "mmlu_mc"):
        raise InputError(f"{key}: 'path' must be a file for format {fmt} ({path})")
    labels = Path(os.fspath(spec["labels"])) if spec.get("labels") else None
    return BenchmarkFile(name, fmt, path), _FORMATS[fmt], labels


def load_benchmark(spec: dict) -> list[BenchmarkItem]:
    """Load one benchmark from local files.

    `spec`: {"name": str, "format": one of BENCHMARK_FORMATS, "path": file (or
    folder for mmlu), "labels": optional labels file (piqa/siqa; defaults to
    `<stem>-labels.lst` beside the data when present), "max_items": optional int
    (the first N items)}. Returns the items in file order. Raises InputError naming
    the file and line of a malformed record, or the spec key that is wrong.
    """
    if not isinstance(spec, dict):
        raise InputError(f"config key 'benchmarks': each entry must be a mapping, got {spec!r}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"config key 'benchmarks': entry {spec!r} has no 'name'")
    file, fmt, labels = _open_benchmark(name, spec)
    max_items = spec.get("max_items")
    if max_items is not None and (not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 0):
        raise InputError(f"config key 'benchmarks.{name}.max_items': must be a non-negative integer, got {max_items!r}")
    items = _items(file, fmt, labels, None)
    return items[:max_items] if max_items is not None else items


def fewshot_spec(name: str, spec: dict) -> dict | None:
    """The spec of benchmark `name`'s few-shot pool (its `fewshot` file, read as the same format), or None.

    Its name is `<name>.fewshot`, so that errors name the config key of the file.
    """
    if not spec.get("fewshot"):
        return None
    return {"name": f"{name}.fewshot", "format": spec.get("format"), "path": spec["fewshot"]}


def check_benchmark(name: str, spec: dict, max_records: int = 20) -> None:
    """Parse the first `max_records` records of benchmark `name` as its declared format, or fail.

    `spec`: its entry under config key `benchmarks` (format, path, labels,
    fewshot). The data file, the labels file (PIQA, SIQA) and the few-shot file
    are read with the same readers and parsers as `load_benchmark`, so a file
    that does not parse as its format (ARC data declared as `format: hellaswag`)
    fails at start-up, before any job. Raises InputError: "config key
    'benchmarks.<name>': <file> line <n>: <what is wrong> (declared format '<fmt>')".
    """
    file, fmt, labels = _open_benchmark(name, spec)
    _items(file, fmt, labels, max_records)
    pool = fewshot_spec(name, spec)
    if pool is not None:
        file, fmt, _ = _open_benchmark(pool["name"], pool)
        _items(file, fmt, None, max_records)


def _target(item: BenchmarkItem) -> str:
    """What a few-shot example shows after its query: the gold choice, or the first accepted answer."""
    return item.choices[item.gold]


def fewshot_query(item: BenchmarkItem, pool: list[BenchmarkItem], num_fewshot: int, seed: int) -> tuple[str, list[str]]:
    """The query of `item` preceded by `num_fewshot` examples from `pool`, and the examples' ids.

    The examples are drawn without replacement from the pool items other than
    `item` (by id), with a generator seeded by `seed` and the item's id, in the
    drawn order. Each example reads its query, one space and its target
    (stripped); examples and the query are joined by a blank line (lighteval's
    plain-text few-shot layout). 0 shots: the item's own query.
    """
    if num_fewshot == 0:
        return item.question, []
    if item.contexts is not None:
        raise InputError(f"config key 'evaluation.per_task.{item.benchmark}.num_fewshot': "
                         "partially scored tasks are zero-shot only")
    candidates = [other for other in pool if other.item_id != item.item_id and 0 <= other.gold < len(other.choices)]
    if len(candidates) < num_fewshot:
        raise InputError(f"config key 'evaluation.per_task.{item.benchmark}.num_fewshot': {num_fewshot} examples "
                         f"asked, the few-shot pool has {len(candidates)} (item {item.item_id})")
    shots = random.Random(f"{seed}:{item.item_id}").sample(candidates, num_fewshot)
    parts = [f"{shot.question} {_target(shot).strip()}" for shot in shots]
    return "\n\n".join([*parts, item.question]), [shot.item_id for shot in shots]


def write_eval_task(
    items: list[BenchmarkItem],
    path: str | os.PathLike,
    *,
    num_fewshot: int = 0,
    seed: int = 0,
    pool: list[BenchmarkItem] | None = None,
) -> None:
    """Write items as an evaluation task: one jsonl row per item.

    Multiple choice: {"id", "query", "choices", "gold"}. `query` is the item's
    question; each choice is a continuation of it and starts with one space
    (log-likelihood of `query + choice`). Items scored partially (WinoGrande)
    also carry ``contexts``, one per choice: choice i is then scored as the
    continuation of context i instead of `query`. Generative: {"id", "query",
    "golds", "metric", "stop", "max_new_tokens"} (see `Generation`). With
    `num_fewshot` > 0 the query starts with that many examples from `pool`
    (default: the items themselves; see `fewshot_query`) and the row lists
    their ids under ``fewshot_ids``. Unlabelled items (gold -1) cannot be
    evaluated and raise InputError.
    """
    from synthpedia.io import atomic_path  # io imports polars: kept out of the workflow layer's imports

    pool = items if pool is None else pool
    rows = []
    for item in items:
        if not 0 <= item.gold < len(item.choices):
            raise InputError(
                f"config key 'benchmarks.{item.benchmark}': item {item.item_id} has no gold answer; "
                "use a labelled split for evaluation"
            )
        query, shots = fewshot_query(item, pool, num_fewshot, seed)
        if item.generation is not None:
            gen = item.generation
            row = {"id": item.item_id, "query": query, "golds": list(item.choices), "metric": gen.metric,
                   "stop": list(gen.stop), "max_new_tokens": gen.max_new_tokens}
        else:
            choices = [" " + c if item.spaced else c for c in item.choices]
            row = {"id": item.item_id, "query": query, "choices": choices, "gold": item.gold}
        if item.contexts is not None:
            row["contexts"] = list(item.contexts)
        if shots:
            row["fewshot_ids"] = shots
        rows.append(json.dumps(row, ensure_ascii=False))
    with atomic_path(path) as tmp:
        tmp.write_text("".join(row + "\n" for row in rows), encoding="utf-8")


def eval_task_job(*, spec: dict, task: str, num_fewshot: int = 0, seed: int = 0) -> None:
    """The eval_task rule: benchmark `spec` (its config entry plus "name") -> the task jsonl `task`.

    `num_fewshot` examples per item (its `evaluation.per_task` setting), drawn
    with `seed` from the benchmark's `fewshot` file when it has one, else from
    its own items.
    """
    items = load_benchmark(spec)
    pool_spec = fewshot_spec(spec["name"], spec)
    pool = load_benchmark(pool_spec) if pool_spec is not None and num_fewshot else None
    write_eval_task(items, task, num_fewshot=num_fewshot, seed=seed, pool=pool)
