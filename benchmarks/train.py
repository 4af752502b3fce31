"""Training speed in fp32 and in bf16 autocast, on the default run's shape, in one run.

    python benchmarks/train.py [--steps 3] [--warmup 1] [--threads 1] [--vocab 4096]

Trains config.yaml's run (the schema's defaults: 4 layers, 256 wide, 8 windows of 256 tokens
per step, config.yaml's 4k vocabulary) through the training job's own code path
(`train_torch`) on random tokens, once with `precision: fp32` and once with `precision: bf16`,
and prints the tokens/s of each over the steps after the warm-up, their ratio, and the
precision `precision: auto` picks on this machine. bf16 autocast pays only where the hardware
computes bf16 natively; elsewhere torch emulates it and a step is many times slower.
The load average is printed too: other processes on the cores skew both numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from synthpedia.tokens import EOS_TOKEN  # noqa: E402
from synthpedia.train import choose_precision, schema_train_defaults, train_torch  # noqa: E402

SEED = 42


def write_tokenizer(vocab_size: int, path: Path) -> None:
    """A word-level tokenizer.json with `vocab_size` entries, <|endoftext|> first (only its size matters here)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {EOS_TOKEN: 0, **{f"w{i}": i for i in range(1, vocab_size)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=EOS_TOKEN))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(path))


def write_random_tokens(folder: Path, vocab_size: int, tokens: int) -> None:
    """One datatrove token file of seeded random ids, as one document (the sampler reads windows of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.random.default_rng(SEED).integers(0, vocab_size, size=tokens, dtype=np.uint16)
    (folder / "000_bench.ds").write_bytes(ids.astype("<u2").tobytes())
    (folder / "000_bench.ds.index").write_bytes(np.asarray([tokens], dtype="<u8").tobytes())
    (folder / "000_bench.ds.metadata").write_text(f"tokenizer.json|2\n{tokens}\n")


def tokens_per_second(losses, warmup: int) -> float:
    """Tokens/s over the steps after the first `warmup` ones, from the loss table's running totals."""
    tokens, seconds = losses["tokens"].to_list(), losses["seconds"].to_list()
    if warmup == 0:
        return tokens[-1] / seconds[-1]
    return (tokens[-1] - tokens[warmup - 1]) / (seconds[-1] - seconds[warmup - 1])


def measure(precision: str, params: dict, data: dict, out: Path, args) -> tuple[float, dict]:
    """Train `warmup + steps` steps in `precision`; returns tokens/s after the warm-up and the checkpoint's meta."""
    run = {**params, "precision": precision, "steps": args.warmup + args.steps, "warmup_steps": 0}
    losses = train_torch(data["dirs"], {"bench": 1.0}, data["tokenizer"], str(out / precision), run, SEED,
                         threads=args.threads)
    meta = json.loads((out / precision / "synthpedia_train.json").read_text())
    return tokens_per_second(losses, args.warmup), meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="measured steps per precision")
    parser.add_argument("--warmup", type=int, default=1, help="steps run first and not measured")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary size (config.yaml's tokenizer)")
    args = parser.parse_args()

    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    params = schema_train_defaults(schema)
    step_tokens = params["micro_batch"] * params["grad_accum"] * params["seq_len"]
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    print(f"shape: {params['layers']} layers, {params['hidden']} wide, {params['micro_batch']} x "
          f"{params['seq_len']} tokens per step, vocab {args.vocab}, {args.threads} thread(s), "
          f"{args.warmup} warm-up + {args.steps} measured steps")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        write_tokenizer(args.vocab, tmp / "tokenizer.json")
        write_random_tokens(tmp / "tokens", args.vocab, tokens=(args.warmup + args.steps + 4) * step_tokens * 2)
        data = {"dirs": {"bench": str(tmp / "tokens")}, "tokenizer": str(tmp / "tokenizer.json")}
        speed = {}
        for precision in ("fp32", "bf16"):
            speed[precision], meta = measure(precision, params, data, tmp / "runs", args)
            print(f"{precision}: {speed[precision]:,.0f} tokens/s ({meta['threads']} thread(s), "
                  f"{meta['parameters']:,} parameters)")
    print(f"fp32 / bf16: {speed['fp32'] / speed['bf16']:.2f}x")
    print(f"precision auto picks here: {choose_precision('auto', 'cpu')}")


if __name__ == "__main__":
    main()
