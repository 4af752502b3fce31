"""Generation overhead and parallel CPU decoding, on the bundled model, in one run.

    python benchmarks/generation.py [--prompts 8] [--max-tokens 64] [--threads 2] [--repeats 2]

On the same seeded prompts (same sampling, same per-request seeds):
1. the generation job's code path (generate_shard: request keys, the ledger, the output frames)
   against calling the same backend's `generate` directly; target: at most 10% overhead;
2. llamacpp with N worker processes (threads/N threads each) against one stream with all
   threads, as completion tokens/s (the texts may differ slightly with the thread count, so
   tokens/s is compared, not seconds).
Each measure is repeated, alternating the two sides, and the best of each side is kept. On a
busy machine the A/B difference of (1) is mostly noise, so (1) is also measured inside one run:
the time generate_shard spends outside the backend's `generate`, over the time inside it.
The load average is printed: llama.cpp with several threads per stream suffers badly when other
processes take its cores (its threads wait for each other at every step).
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
SEED = 42


def prompts_frame(n: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        prompt = f"Write a short textbook paragraph for high school students about {TOPICS[i % len(TOPICS)]}."
        rows.append({c: f"{c}-{i}" for c in PROMPT_COLUMNS} | {"prompt": prompt, "prompt_id": f"p{i:03d}"})
    return pl.DataFrame(rows)


def generation_section(max_tokens: int, workers: int) -> dict:
    """The embedded default config's generation section (the bundled model on CPU), with the
    benchmark's max_tokens and llama.cpp workers."""
    with open(ROOT / "config.yaml", encoding="utf-8") as fh:
        generation = validate_config(yaml.safe_load(fh), base_dir=ROOT)["generation"]
    return {
        **generation,
        "sampling": {**generation["sampling"], "max_tokens": max_tokens},
        "llamacpp": {**generation["llamacpp"], "workers": workers},
    }


def requests_for(prompts: pl.DataFrame, backend) -> list[Request]:
    return [make_request(p, backend.model, backend.sampling, SEED) for p in prompts["prompt"]]


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


def direct(backend, requests) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = sum(c.completion_tokens for c in backend.generate(requests))
    return time.perf_counter() - start, tokens


def through_job(backend, prompts) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, _, stats = generate_shard(prompts, backend, GenerationLedger(Path(tmp) / "l.jsonl"), SEED, 0, ["Hello"])
        return time.perf_counter() - start, stats["sent_completion_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the parallel side")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    prompts = prompts_frame(args.prompts)
    print(f"{args.prompts} prompts, max_tokens {args.max_tokens}, {args.threads} threads, "
          f"best of {args.repeats}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    single = make_backend(generation_section(args.max_tokens, workers=1), threads=args.threads)
    parallel = make_backend(generation_section(args.max_tokens, workers=args.workers), threads=args.threads)
    requests = requests_for(prompts, single)
    direct(single, requests[:1])  # load the model and warm the caches before timing

    # 1. The job's code path against the backend alone (the default: parallel workers).
    d_times, j_times = [], []
    for _ in range(args.repeats):
        d_times.append(direct(parallel, requests))
        j_times.append(through_job(parallel, prompts))
    (d_sec, d_tok), (j_sec, j_tok) = min(d_times), min(j_times)
    if d_tok != j_tok:
        print(f"note: token counts differ ({d_tok} direct, {j_tok} through the job)")
    overhead = (j_sec - d_sec) / d_sec * 100
    timed = TimedBackend(parallel)
    in_run, _ = through_job(timed, prompts)
    outside = in_run - timed.inside
    print(f"backend directly:      {d_sec:7.2f} s  {d_tok} tokens  {d_tok / d_sec:6.1f} tok/s")
    print(f"generate_shard+ledger: {j_sec:7.2f} s  {j_tok} tokens  {j_tok / j_sec:6.1f} tok/s")
    print(f"overhead of the job's code path, A/B: {overhead:+.1f}% (target <= 10%; noisy on a busy machine)")
    print(f"inside one run: {outside * 1000:.1f} ms outside the backend over {timed.inside:.2f} s inside: "
          f"{outside / timed.inside * 100:.2f}% overhead")

    # 2. N worker processes against one stream with all threads.
    s_rates, p_rates = [], []
    for _ in range(args.repeats):
        sec, tok = direct(single, requests)
        s_rates.append(tok / sec)
        sec, tok = direct(parallel, requests)
        p_rates.append(tok / sec)
    s_best, p_best = max(s_rates), max(p_rates)
    print(f"one stream, {args.threads} threads:          {s_best:6.1f} tok/s")
    print(f"{args.workers} workers x {max(1, args.threads // args.workers)} thread(s):          {p_best:6.1f} tok/s")
    print(f"parallel / single: {p_best / s_best:.2f}x")
    single.close()


if __name__ == "__main__":
    main()
