"""One prompt shard in, its generations, failure records and accounting out, through the ledger."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict
from typing import Iterable, Sequence

import polars as pl

from ..errors import InputError
from ..io import write_json, write_parquet
from ..tables import FAILED_COLUMNS, GENERATION_COLUMNS, GENERATION_INT_COLUMNS, PROMPT_COLUMNS
from .backend import Backend, Request, make_backend
from .ledger import GenerationLedger, make_request

log = logging.getLogger(__name__)

PROGRESS_EVERY = 10  # completions between two progress lines in the job's log


# Sentence ends: . ! ? (closing quotes or brackets may follow) then whitespace. A period after a
# title or an initial ("Dr. Lee", "J. Smith") ends no sentence.
_SENTENCE_END = re.compile(
    r"(?<!\b[A-Z])(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bMrs)(?<!\bProf)[.!?]+[\"')\]\u201d]*\s+"
)
TEXT_START_ONLY = "^"  # an opener written "^Sure" is stripped at the start of the text only


def _opener_length(line: str, openers: Sequence[str]) -> int:
    """Length of the opener that `line` starts with (case-insensitive, whole words); 0 if none."""
    lowered = line.lower().replace("\u2019", "'")  # a curly apostrophe: "We’re thrilled"
    for opener in openers:
        if lowered.startswith(opener.lower().replace("\u2019", "'")):
            after = line[len(opener) : len(opener) + 1]
            if not (opener[-1].isalnum() and (after.isalnum() or after == "_")):
                return len(opener)
    return 0


def _strip_line(line: str, openers: Sequence[str]) -> str:
    """`line` without its leading stock-opener sentences (its indentation kept); "" if nothing is left."""
    body = line.lstrip()
    indent = line[: len(line) - len(body)]
    while body and (length := _opener_length(body, openers)):
        end = _SENTENCE_END.search(body, length)
        body = body[end.end() :] if end else ""
    return indent + body if body.strip() else ""


def strip_stock_openers(text: str, openers: Iterable[str]) -> str:
    """`text` without the stock-opener sentences ("Hello there!", "Welcome to ...") that open its lines.

    A line (leading whitespace aside) that starts with an opener, matched case-insensitively as
    whole words ("Hello" matches "Hello," and "hello there", not "Helium"), loses that sentence: up
    to the first ".", "!" or "?" followed by a space, or to the end of the line; the rest of the
    line is checked again and kept. Lines left empty are dropped with the blank line that set them
    apart; other lines, paragraph breaks and openers met inside a line are kept. An opener written
    with a leading "^" ("^Sure") counts only at the start of the text (a reply's preamble), since
    such words often open real sentences inside it ("Of course, heat also ..."). The original
    stripped its openers at the start of any line; a line that begins with markup ("## Welcome")
    is a title and stays.
    """
    openers = list(openers)
    anywhere = [o for o in openers if not o.startswith(TEXT_START_ONLY)]
    at_start = [o.removeprefix(TEXT_START_ONLY) for o in openers]
    kept: list[str] = []
    started = False  # a line with text has been kept
    after_drop = False  # the last line with text was dropped
    for line in text.strip().split("\n"):
        if not line.strip():
            # A dropped line takes its blank neighbour with it; the text's own blank lines stay.
            if not (after_drop and (not kept or not kept[-1].strip())):
                kept.append(line)
            continue
        cleaned = _strip_line(line, anywhere if started else at_start)
        after_drop = not cleaned
        if cleaned:
            kept.append(cleaned)
            started = True
    return "\n".join(kept).strip()


def generate_shard(
    prompts: pl.DataFrame,
    backend: Backend,
    ledger: GenerationLedger,
    seed: int,
    min_completion_tokens: int,
    stock_openers: Sequence[str],
    answer_schema: dict | None,
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Generate every prompt not yet in the ledger; return (generations, failed, stats).

    `prompts`: a prompt shard (PROMPT_COLUMNS); `seed`: the config's seed. Every prompt ends as
    exactly one row: in generations (GENERATION_COLUMNS), or in failed (FAILED_COLUMNS) with its
    reason (`too_short`, `empty_after_cleaning`, or `request_error` for a request the backend
    refused). `answer_schema`: the JSON schema answers are held to (the source's registry
    record; None for free text). Raises InputError for a shard that lacks prompt columns.
    """
    missing = [c for c in PROMPT_COLUMNS if c not in prompts.columns]
    if missing:
        raise InputError(f"generate: prompt shard lacks columns {missing}")
    requests = [make_request(p, backend.model, backend.sampling, seed, answer_schema) for p in prompts["prompt"]]
    done = ledger.records()
    pending = {req.key: req for req in requests if req.key not in done}
    log.info("%d prompts, %d already in the ledger, %d to send",
             prompts.height, prompts.height - len(pending), len(pending))
    wall, sent_tokens = _send(backend, list(pending.values()), ledger, done)

    # Columns every row of the shard shares.
    shared = {"model": backend.model, "backend": backend.name, "sampling": json.dumps(backend.sampling, sort_keys=True),
              "gen_seed": seed}
    rows, failed = [], []
    for req, prompt_row in zip(requests, prompts.iter_rows(named=True)):
        row = _row(prompt_row, req.key, done[req.key], shared, stock_openers)
        reason = _failure(done[req.key], row["text"], min_completion_tokens)
        if reason:
            failed.append({**row, "reason": reason})
        else:
            rows.append(row)

    gens = _frame(rows, GENERATION_COLUMNS)
    fails = _frame(failed, FAILED_COLUMNS)
    reasons = fails["reason"].str.extract(r"^([a-z_]+)").value_counts() if fails.height else None
    unique_keys = {req.key for req in requests}
    stats = {
        "prompts": prompts.height,
        "completions": gens.height,
        "failed": fails.height,
        "failed_by_reason": {r: int(c) for r, c in reasons.iter_rows()} if reasons is not None else {},
        "sent": len(pending),
        "resumed": prompts.height - len(pending),
        "retried": int(backend.retried),
        "prompt_tokens": int(sum(done[k]["prompt_tokens"] for k in unique_keys)),
        "completion_tokens": int(sum(done[k]["completion_tokens"] for k in unique_keys)),
        "sent_completion_tokens": sent_tokens,
        "wall_seconds": wall,
        "tokens_per_second": sent_tokens / wall if wall > 0 else 0.0,
        "tokens_per_second_per_gpu": sent_tokens / wall / backend.gpus if wall > 0 and backend.gpus else None,
        "gpus": backend.gpus,
        "gpu_seconds": wall * backend.gpus,
        "model": backend.model,
        "backend": backend.name,
    }
    return gens, fails, stats


def _send(
    backend: Backend, requests: list[Request], ledger: GenerationLedger, done: dict[str, dict]
) -> tuple[float, int]:
    """Send `requests`; append each completion to the ledger and to `done` (key -> record) as it arrives.

    Returns (wall seconds, completion tokens received). The ledger is synced however this ends.
    """
    start = time.perf_counter()
    sent_tokens = 0
    try:
        for n, completion in enumerate(backend.generate(requests), 1):
            ledger.append(completion)
            done[completion.key] = asdict(completion)
            sent_tokens += completion.completion_tokens
            if n % PROGRESS_EVERY == 0 or n == len(requests):
                elapsed = time.perf_counter() - start
                log.info("%d/%d sent, %.1f completion tokens/s", n, len(requests), sent_tokens / max(elapsed, 1e-9))
    finally:
        ledger.sync()
    return time.perf_counter() - start, sent_tokens


def _row(prompt_row: dict, key: str, record: dict, shared: dict, openers: Sequence[str]) -> dict:
    """The output row of one prompt: its prompt columns, its request key, the columns all rows
    share (model, backend, sampling, gen_seed) and its ledger record's answer."""
    return {
        **{c: prompt_row[c] for c in PROMPT_COLUMNS},
        "request_key": key,
        **shared,
        "completion": record["completion"],
        "text": strip_stock_openers(record["completion"], openers),
        "prompt_tokens": record["prompt_tokens"],
        "completion_tokens": record["completion_tokens"],
        "finish_reason": record["finish_reason"],
        "seconds": record["seconds"],
    }


def _failure(record: dict, text: str, min_completion_tokens: int) -> str:
    """Why a ledger record with cleaned `text` is a failure row; "" when it is a generation."""
    if record.get("error"):
        return f"request_error: {record['error']}"
    if record["completion_tokens"] < min_completion_tokens:
        return f"too_short: {record['completion_tokens']} < {min_completion_tokens} tokens"
    if not text:
        return "empty_after_cleaning"
    return ""


def _frame(rows: list[dict], columns: Sequence[str]) -> pl.DataFrame:
    """`rows` as a frame of `columns`, typed (integers, seconds as floats, the rest strings)."""
    schema = {
        c: pl.Int64 if c in GENERATION_INT_COLUMNS else pl.Float64 if c == "seconds" else pl.String for c in columns
    }
    return pl.DataFrame(rows, schema=schema)


def generate_job(
    *,
    prompts_path: str,
    generations_path: str,
    failed_path: str,
    stats_path: str,
    ledger_path: str,
    generation: dict,
    seed: int,
    answer_schema: dict | None,
    threads: int,
    gpus: int,
) -> dict:
    """Rule generate: one prompt shard in, generations + failed + stats out (atomic writes).

    `generation`: the validated config section `generation` (all of it: the backend's runtime
    settings too); `seed`: config key `seed`; `answer_schema`: the source's (see generate_shard); `threads` and `gpus`: the job's. The ledger at
    `ledger_path` is kept between runs: a rerun sends only the requests it lacks. Returns the stats.
    """
    prompts = pl.read_parquet(prompts_path)
    backend = make_backend(generation, threads=threads, gpus=gpus)
    try:
        gens, fails, stats = generate_shard(
            prompts,
            backend,
            GenerationLedger(ledger_path),
            seed,
            generation["min_completion_tokens"],
            generation["stock_openers"],
            answer_schema,
        )
    finally:
        backend.close()
    write_parquet(gens, generations_path)
    write_parquet(fails, failed_path)
    write_json({"source_shard": prompts_path, **stats}, stats_path)
    log.info("done: %s", json.dumps(stats))
    return stats
