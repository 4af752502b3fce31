"""Benchmark files as records: each format's reader, and errors that name the key, file and line.

Standard library only: the config check at start-up reads the first records of
every benchmark file through these readers.
"""

from __future__ import annotations

import bz2
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from synthpedia.errors import InputError


class BenchmarkFile:
    """One benchmark file being read: builds errors that name the config key, the file, the line and the format."""

    def __init__(self, benchmark: str, fmt: str, path: Path):
        self.benchmark = benchmark
        self.fmt = fmt
        self.path = path
        self.stem = path.name.split(".")[0]

    def error(self, line: int | None, problem: str) -> InputError:
        where = f"{self.path} line {line}" if line is not None else str(self.path)
        key = f"config key 'benchmarks.{self.benchmark}'"
        return InputError(f"{key}: {where}: {problem} (declared format '{self.fmt}')")

    def default_id(self, line: int) -> str:
        return f"{self.stem}:{line}"


class BenchmarkRecord(NamedTuple):
    """One raw record: a JSON object, a CSV row or a HellaSwag text block, and the line it starts on."""

    file: BenchmarkFile
    line: int
    value: Any

    def error(self, problem: str, offset: int = 0) -> InputError:
        """An error at this record's line (+ `offset`)."""
        return self.file.error(self.line + offset, problem)


# --- readers: file -> records ---------------------------------------------------------------


def open_text(path: Path, newline: str = ""):
    """A text stream of `path` (bz2-compressed when its suffix says so, read with universal newlines)."""
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline=newline)


def read_jsonl(file: BenchmarkFile) -> Iterator[BenchmarkRecord]:
    """One record (a JSON object) per non-blank line."""
    with open_text(file.path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise file.error(number, f"not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise file.error(number, "expected a JSON object")
            yield BenchmarkRecord(file, number, obj)


def read_hellaswag(file: BenchmarkFile) -> Iterator[BenchmarkRecord]:
    """Hugging Face jsonl, or the text form (.bz2 / .txt): one record (6 stripped lines) per item.

    In the text form, blank lines at the end of the file are ignored; any other
    line counts, and a last item short of 6 lines is an error.
    """
    if not file.path.name.endswith((".bz2", ".txt")):
        yield from read_jsonl(file)
        return
    block: list[str] = []
    blanks: list[str] = []
    total = 0
    # lines end at "\n" only (a stray "\r" stays inside its line, as in the released files' reader)
    with open_text(file.path, newline="\n") as f:
        for text in f:
            if not text.strip():
                blanks.append(text)  # part of an item only if a non-blank line follows
                continue
            for line in (*blanks, text):
                block.append(line.strip())
                total += 1
                if len(block) == 6:
                    yield BenchmarkRecord(file, total - 5, block)
                    block = []
            blanks = []
    if block:
        raise file.error(total, f"{total} lines is not a multiple of 6 (6 lines per item)")


def read_csv(file: BenchmarkFile) -> Iterator[BenchmarkRecord]:
    """One record (a list of cells) per non-blank CSV row, at the line the row starts on."""
    with open(file.path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        start = 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if row and any(cell.strip() for cell in row):
                    yield BenchmarkRecord(file, line, row)
        except csv.Error as exc:
            raise file.error(reader.line_num, f"bad CSV ({exc})") from None


def read_mmlu(file: BenchmarkFile) -> Iterator[BenchmarkRecord]:
    """The rows of one CSV file, or of every .csv file below a folder (in name order)."""
    if not file.path.is_dir():
        yield from read_csv(file)
        return
    paths = sorted(p for p in file.path.rglob("*.csv") if p.is_file())
    if not paths:
        raise file.error(None, "folder has no .csv files")
    for path in paths:
        yield from read_csv(BenchmarkFile(file.benchmark, file.fmt, path))


def read_labels(file: BenchmarkFile, labels_path: Path, count: int, complete: bool) -> list[int]:
    """Integer labels, one per non-blank line, for the first `count` records of `file`.

    `complete`: the records are the whole file, so the labels must number exactly
    `count`; otherwise only the first `count` labels are read (and must exist).
    """
    labels = BenchmarkFile(file.benchmark, file.fmt, labels_path)
    if not labels_path.is_file():
        raise labels.error(None, "labels file not found")
    values = []
    with open(labels_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not complete and len(values) == count:
                break
            if not line.strip():
                continue
            try:
                values.append(int(line.strip()))
            except ValueError:
                raise labels.error(number, f"label must be an integer, got {line.strip()!r}") from None
    if len(values) != count:
        raise labels.error(None, f"has {len(values)} labels for {count} records in {file.path}")
    return values


def sibling_labels(path: Path) -> Path | None:
    """PIQA/SIQA ship `valid.jsonl` with `valid-labels.lst`: use it when no labels path is given."""
    candidate = path.with_name(path.name.split(".")[0] + "-labels.lst")
    return candidate if candidate.is_file() else None
