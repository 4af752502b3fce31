"""Generation overhead and the ways to decode on CPU, on the bundled model, in one run.

    python benchmarks/generation.py [--prompts 16] [--max-tokens 160] [--threads 2] [--repeats 2]
                                    [--sequences 4,16] [--skip-overhead]

On the same seeded prompts (same sampling, same per-request seeds), prompts of one template that
share a long opening, as a shard's prompts do:
1. the generation job's code path (generate_shard: request keys, the ledger, the output frames)
   against calling the same backend's `generate` directly; target: at most 10% overhead;
2. the llamacpp backend's ways to use the job's threads, as completion tokens/s and per core:
   - one stream with all threads (llama-cpp-python keeps the prefix a prompt shares with the
     one before in its cache, always);
   - the same, with llama-cpp-python's LlamaRAMCache (prompt states saved and restored);
   - worker processes with one thread each (config `generation.llamacpp.workers`);
   - N sequences decoded together in one context, with and without keeping each slot's cached
     prompt prefix (config `parallel_sequences` and `reuse_prefix`).
   Worker processes load the model at each `generate` call, as a job does once per shard.
Each measure is repeated, taking the options in turn in each round, and the best of each is kept.
On a busy machine the A/B difference of (1) is mostly noise, so (1) is also measured inside one
run: the time generate_shard spends outside the backend's `generate`, over the time inside it.
The load average is printed before and after: llama.cpp with several threads per stream suffers
badly when other processes take its cores (its threads wait for each other at every step).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import polars as pl  # noqa: E402
import yaml  # noqa: E402

from synthpedia.config import validate_config  # noqa: E402
from synthpedia.generate import Backend, GenerationLedger, Request, generate_shard, make_backend  # noqa: E402
from synthpedia.generate.ledger import make_request  # noqa: E402
from synthpedia.tables import PROMPT_COLUMNS  # noqa: E402

TOPICS = ["photosynthesis", "the water cycle", "fractions", "volcanoes", "the Roman Empire", "magnets",
          "how bees make honey", "the solar system", "compound interest", "why the sky is blue",
          "plate tectonics", "the human heart"]
# The shared opening: a course, the chapters already written, what the chapter must be (about 110 tokens).
OPENING = (
    'Write a long and very detailed chapter for a textbook based on the university course "Foundations of '
    'Science", written for high school students. The chapters already written are: "Measuring the world", '
    '"Energy and matter", "Living things". Do not repeat their content; build on it.\n'
    "Be rigorous: cover each concept in depth before moving on. Be engaging: write in a lively, clear voice. "
    "Be applied: give concrete examples, numbers and a short exercise.\n"
    "Now write the chapter about "
)
SEED = 42


def prompts_frame(n: int, first_part: int = 1) -> pl.DataFrame:
    """`n` different prompts: a topic and a part number, parts counted from `first_part`.

    Each round of measures takes new parts: a cache kept from the round before then holds the
    shared opening only, as it does within a shard, never a whole prompt about to be asked again.
    """
    rows = []
    for i in range(n):
        prompt = f"{OPENING}{TOPICS[i % len(TOPICS)]}, part {first_part + i // len(TOPICS)}."
        rows.append({c: f"{c}-{i}" for c in PROMPT_COLUMNS} | {"prompt": prompt, "prompt_id": f"p{i:03d}"})
    return pl.DataFrame(rows)


def generation_section(max_tokens: int, **llamacpp) -> dict:
    """The embedded default config's generation section (the bundled model on CPU), with the
    benchmark's max_tokens and `llamacpp` settings."""
    with open(ROOT / "config.yaml", encoding="utf-8") as fh:
        generation = validate_config(yaml.safe_load(fh), base_dir=ROOT)["generation"]
    return {
        **generation,
        "sampling": {**generation["sampling"], "max_tokens": max_tokens},
        "llamacpp": {**generation["llamacpp"], **llamacpp},
    }


def requests_for(prompts: pl.DataFrame, backend) -> list[Request]:
    return [make_request(p, backend.model, backend.sampling, SEED, None) for p in prompts["prompt"]]


class TimedBackend(Backend):
    """Delegates to a backend and adds up the time spent inside its `generate`."""

    def __init__(self, inner: Backend):
        super().__init__(inner.model, inner.sampling)
        self.inner, self.name, self.inside = inner, inner.name, 0.0

    def generate(self, requests):
        stream = self.inner.generate(requests)
        while True:
            start = time.perf_counter()
            try:
                item = next(stream)
            except StopIteration:
                self.inside += time.perf_counter() - start
                return
            self.inside += time.perf_counter() - start
            yield item


def direct(backend, requests) -> tuple[float, int, dict[str, str]]:
    """(seconds, completion tokens, key -> text) of answering `requests` with `backend` alone."""
    start = time.perf_counter()
    texts, tokens = {}, 0
    for completion in backend.generate(requests):
        texts[completion.key] = completion.completion
        tokens += completion.completion_tokens
    return time.perf_counter() - start, tokens, texts


def through_job(backend, prompts) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, _, stats = generate_shard(prompts, backend, GenerationLedger(Path(tmp) / "l.jsonl"), SEED, 0, ["Hello"], None)
        return time.perf_counter() - start, stats["sent_completion_tokens"]


def job_overhead(backend, prompts, requests, repeats: int) -> None:
    """Part 1: the job's code path against the backend alone, A/B and inside one run."""
    d_times, j_times = [], []
    for _ in range(repeats):
        d_times.append(direct(backend, requests)[:2])
        j_times.append(through_job(backend, prompts))
    (d_sec, d_tok), (j_sec, j_tok) = min(d_times), min(j_times)
    if d_tok != j_tok:
        print(f"note: token counts differ ({d_tok} direct, {j_tok} through the job)")
    overhead = (j_sec - d_sec) / d_sec * 100
    timed = TimedBackend(backend)
    in_run, _ = through_job(timed, prompts)
    outside = in_run - timed.inside
    print(f"backend directly:      {d_sec:7.2f} s  {d_tok} tokens  {d_tok / d_sec:6.1f} tok/s")
    print(f"generate_shard+ledger: {j_sec:7.2f} s  {j_tok} tokens  {j_tok / j_sec:6.1f} tok/s")
    print(f"overhead of the job's code path, A/B: {overhead:+.1f}% (target <= 10%; noisy on a busy machine)")
    print(f"inside one run: {outside * 1000:.1f} ms outside the backend over {timed.inside:.2f} s inside: "
          f"{outside / timed.inside * 100:.2f}% overhead")


def decoding_options(threads: int, sequences: list[int]) -> list[tuple[str, dict, bool]]:
    """(label, generation.llamacpp settings, with LlamaRAMCache) of every way measured; the second is
    the reference (worker processes, one thread each: one per thread of the job)."""
    one = {"workers": 1, "parallel_sequences": 1}
    options = [
        (f"1. one stream, {threads} threads", one, False),
        (f"2. {threads} workers x 1 thread", {"workers": threads, "parallel_sequences": 1}, False),
    ]
    for n in sequences:
        options.append((f"3. {n} sequences batched, {threads} threads",
                        {"workers": 1, "parallel_sequences": n, "reuse_prefix": False}, False))
    for n in sequences:
        options.append((f"4. {n} batched + cached prefix", {"workers": 1, "parallel_sequences": n, "reuse_prefix": True},
                        False))
    options.append(("4. one stream + LlamaRAMCache", one, True))
    for n in sequences:
        if n % threads == 0 and n // threads > 1:  # the same sequences in all, spread over one worker per thread
            options.append((f"5. {threads} workers x {n // threads} batched + prefix",
                            {"workers": threads, "parallel_sequences": n // threads, "reuse_prefix": True}, False))
    return options


def make_option(max_tokens: int, threads: int, settings: dict, ram_cache: bool):
    """The llamacpp backend of one option, its model loaded (and its prompt cache set)."""
    backend = make_backend(generation_section(max_tokens, **settings), threads=threads)
    if ram_cache:  # one stream only: the cache belongs to its Llama
        from llama_cpp import LlamaRAMCache

        backend.llm.set_cache(LlamaRAMCache())
    return backend


def compare_decoding(args, prompts) -> None:
    """Part 2: every option on the same requests, in turns; prints the table."""
    sequences = [int(n) for n in args.sequences.split(",") if n]
    options = decoding_options(args.threads, sequences)
    backends = [make_option(args.max_tokens, args.threads, settings, cache) for _, settings, cache in options]
    warm = requests_for(prompts_frame(1, first_part=0), backends[0])
    # Load the model, start the context, warm the caches. Worker processes load the model again
    # at each call: the start-up shows what each of their runs below pays before decoding.
    start_up = [direct(backend, warm)[0] for backend in backends]
    best: dict[int, tuple[float, int]] = {}
    same = [0] * len(options)  # answers equal to option 2's, over all rounds
    parts = -(-args.prompts // len(TOPICS))
    for round_ in range(args.repeats):
        requests = requests_for(prompts_frame(args.prompts, first_part=1 + round_ * parts), backends[0])
        texts = []
        for i, backend in enumerate(backends):
            seconds, tokens, answers = direct(backend, requests)
            texts.append(answers)
            print(f"  round {round_ + 1}, {options[i][0]}: {tokens / seconds:.1f} tok/s "
                  f"(load {os.getloadavg()[0]:.2f})")
            if i not in best or tokens / seconds > best[i][1] / best[i][0]:
                best[i] = (seconds, tokens)
        for i, answers in enumerate(texts):
            same[i] += sum(answers[k] == texts[1][k] for k in answers)
    for backend in backends:
        backend.close()
    reference = best[1][1] / best[1][0]
    header = (f"{'option':38s} {'tokens':>6s} {'seconds':>8s} {'tok/s':>7s} {'tok/s/core':>10s} {'vs 2':>6s}  "
              f"{'same texts as 2':>15s}  {'1st call s':>10s}")
    print(header)
    print("-" * len(header))
    for i, (label, _, _) in enumerate(options):
        seconds, tokens = best[i]
        rate = tokens / seconds
        print(f"{label:38s} {tokens:6d} {seconds:8.2f} {rate:7.1f} {rate / args.threads:10.1f} "
              f"{rate / reference:5.2f}x  {f'{same[i]}/{args.prompts * args.repeats}':>15s}  {start_up[i]:10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=2, help="the job's threads (cores) for every option")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sequences", default="4,16", help="batched sequences to measure, comma-separated")
    ap.add_argument("--skip-overhead", action="store_true", help="measure only the decoding options")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    prompts = prompts_frame(args.prompts)
    print(f"{args.prompts} prompts sharing a {len(OPENING)}-character opening, max_tokens {args.max_tokens}, "
          f"{args.threads} threads, best of {args.repeats}; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    if not args.skip_overhead:
        default = make_backend(generation_section(args.max_tokens), threads=args.threads)
        job_overhead(default, prompts, requests_for(prompts, default), args.repeats)
        default.close()
    compare_decoding(args, prompts)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
