"""Training a small Llama on the tokenised mixture.

Two backends share one set of parameters (``DEFAULT_TRAIN_PARAMS``):

- ``torch``: :func:`train_torch` trains a transformers ``LlamaForCausalLM`` with
  plain PyTorch (CPU or GPU) and saves an HF checkpoint that lighteval loads.
- ``nanotron``: :func:`nanotron_config` writes nanotron's YAML config for
  cluster training (e.g. the cosmo-1b preset); nanotron itself is never
  imported here (installed beside lighteval it breaks lighteval's imports).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from synthpedia.errors import InputError
from synthpedia.io import atomic_path, stable_hash, write_json
from synthpedia.tokens import EOS_TOKEN
from synthpedia.tokens import load_tokenizer as load_tokenizer_file

# Nothing in training may reach the hub: the tokenizer and the data are local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

log = logging.getLogger(__name__)

LOSS_TABLE_COLUMNS = ("step", "loss", "lr", "tokens", "seconds")

# Sized for a 2-core laptop: ~5M parameters (with an 8k vocab), 200 steps of
# 8 x 256 tokens, about a minute with bf16 autocast.
DEFAULT_TRAIN_PARAMS: dict = {
    # architecture (Llama)
    "layers": 4,
    "hidden": 256,
    "ffn": 688,
    "heads": 4,
    "kv_heads": 4,
    "seq_len": 256,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "init_std": 0.02,
    "tie_embeddings": False,
    # optimisation
    "steps": 200,
    "micro_batch": 8,
    "grad_accum": 1,
    "lr": 1e-3,
    "min_lr": 1e-4,
    "warmup_steps": 20,
    "weight_decay": 0.01,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "adam_eps": 1e-8,
    "grad_clip": 1.0,
    # runtime
    "bf16": True,  # bf16 autocast (CPU or GPU); master weights stay fp32
    "device": "cpu",
    "threads": None,  # torch intra-op threads; None keeps torch's default
    # nanotron only (cluster)
    "dp": 1,
    "tp": 1,
    "pp": 1,
    "checkpoint_interval": 1000,
}


def train_params(params: dict | None) -> dict:
    """`params` over the defaults; an unknown key is an error naming it."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_TRAIN_PARAMS))
    if unknown:
        raise InputError(f"train params: unknown key(s) {unknown}; known: {sorted(DEFAULT_TRAIN_PARAMS)}")
    merged = {**DEFAULT_TRAIN_PARAMS, **params}
    for key in ("layers", "hidden", "ffn", "heads", "kv_heads", "seq_len", "steps", "micro_batch", "grad_accum"):
        if not isinstance(merged[key], int) or merged[key] < 1:
            raise InputError(f"train params: {key} must be a positive integer, got {merged[key]!r}")
    if merged["hidden"] % merged["heads"]:
        raise InputError(f"train params: hidden ({merged['hidden']}) is not divisible by heads ({merged['heads']})")
    if merged["heads"] % merged["kv_heads"]:
        raise InputError(f"train params: heads ({merged['heads']}) is not divisible by kv_heads ({merged['kv_heads']})")
    if merged["min_lr"] > merged["lr"]:
        raise InputError(f"train params: min_lr ({merged['min_lr']}) is above lr ({merged['lr']})")
    return merged


def lr_at(step: int, params: dict) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine to min_lr."""
    lr, min_lr, warmup, total = params["lr"], params["min_lr"], params["warmup_steps"], params["steps"]
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    decay_steps = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- data


def _token_size(folder: Path) -> int:
    """Bytes per token, from the datatrove metadata ("tokenizer|size") when present."""
    for meta in sorted(folder.rglob("*.ds.metadata")):
        first = meta.read_text().splitlines()[:1]
        if first and "|" in first[0]:
            try:
                return int(first[0].rsplit("|", 1)[1])
            except ValueError:
                raise InputError(f"train: bad token metadata line {first[0]!r} ({meta})") from None
    return 2


class MixtureSampler:
    """Seeded training windows drawn from several token folders with mixture weights.

    Each source is a ``DatatroveFolderDataset`` of non-overlapping windows of
    ``seq_len + 1`` tokens; every sample first draws a source by weight, then a
    window uniformly from it. Same seed, same folders -> same batches.
    """

    def __init__(self, token_dirs: dict, weights: dict, seq_len: int, seed: int):
        from datatrove.utils.dataset import DatatroveFolderDataset

        if not token_dirs:
            raise InputError("train: no token folders given")
        self.sources = sorted(token_dirs)
        missing = [s for s in self.sources if s not in weights]
        if missing:
            raise InputError(f"train: no mixture weight for source(s) {missing} (weights has {sorted(weights)})")
        extra = sorted(set(weights) - set(token_dirs))
        if extra:
            raise InputError(f"train: mixture weight for source(s) {extra} without a token folder")
        w = np.array([float(weights[s]) for s in self.sources])
        if (w < 0).any() or w.sum() <= 0:
            raise InputError(f"train: mixture weights must be >= 0 with a positive sum, got {dict(weights)}")
        # A source whose folder holds less than one window (e.g. every web topic was dropped, so
        # no web document was generated) is left out of the mixture with a warning; none at all is an error.
        sources, probs, self.datasets = [], [], []
        for source, weight in zip(self.sources, w):
            if weight <= 0:
                continue
            folder = Path(token_dirs[source])
            ds = None
            if any(folder.rglob("*.ds")):
                ds = DatatroveFolderDataset(
                    str(folder), seq_len=seq_len, token_size=_token_size(folder), recursive=True, shuffle=False
                )
            if ds is None or len(ds) == 0:
                log.warning("train: source %s has fewer than seq_len+1=%d tokens in %s: left out of the mixture",
                            source, seq_len + 1, folder)
                continue
            sources.append(source)
            probs.append(weight)
            self.datasets.append(ds)
        if not sources:
            raise InputError(
                f"train: every source has fewer than seq_len+1={seq_len + 1} tokens (or no .ds token files): {token_dirs}"
            )
        self.sources = sources
        self.probs = np.array(probs) / sum(probs)
        self.rng = np.random.default_rng(seed)

    def window_counts(self) -> dict:
        return {s: len(ds) for s, ds in zip(self.sources, self.datasets)}

    def batch(self, size: int):
        """`size` windows as a LongTensor [size, seq_len + 1], and the source name of each row."""
        import torch

        picks = self.rng.choice(len(self.sources), size=size, p=self.probs)
        rows = []
        for src in picks:
            ds = self.datasets[src]
            item = int(self.rng.integers(len(ds)))
            rows.append(ds[item]["input_ids"])
        return torch.stack(rows), [self.sources[i] for i in picks]


# --------------------------------------------------------------------------- model


def load_tokenizer(tokenizer_json: str):
    """A transformers fast tokenizer over the trained `tokenizer.json`, with eos/bos/pad = <|endoftext|>."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=load_tokenizer_file(tokenizer_json),  # checks the file and its eos token
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        model_max_length=None,
    )


def llama_config(params: dict, vocab_size: int, eos_id: int):
    """transformers ``LlamaConfig`` for `params` (untied embeddings unless asked)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=params["hidden"],
        intermediate_size=params["ffn"],
        num_hidden_layers=params["layers"],
        num_attention_heads=params["heads"],
        num_key_value_heads=params["kv_heads"],
        max_position_embeddings=params["seq_len"],
        rope_theta=float(params["rope_theta"]),
        rms_norm_eps=float(params["rms_norm_eps"]),
        initializer_range=float(params["init_std"]),
        tie_word_embeddings=bool(params["tie_embeddings"]),
        hidden_act="silu",
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        use_cache=True,
    )


def _save_checkpoint(model, tokenizer, out_dir: Path, meta: dict) -> None:
    """save_pretrained into a sibling temp dir, then swap it into place (a killed job leaves no half checkpoint)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(meta, tmp / "synthpedia_train.json")
        # mkdtemp/mkstemp create owner-only modes; a checkpoint is shared like any other output.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def train_torch(
    token_dirs: dict,
    weights: dict,
    tokenizer_json: str,
    out_dir: str,
    params: dict | None,
    seed: int,
) -> pl.DataFrame:
    """Train a Llama from scratch on the token folders and save an HF checkpoint.

    In: `token_dirs` {source: folder of datatrove ``*.ds`` files}, `weights`
    {source: mixture weight}, the `tokenizer_json` the tokens were made with,
    `params` (over ``DEFAULT_TRAIN_PARAMS``) and `seed` (weights init and data
    order: same inputs -> same loss curve on the same machine).
    Out: `out_dir` holds config.json, model.safetensors, the tokenizer files and
    ``synthpedia_train.json``; returns the loss table (one row per optimizer
    step: step, loss, lr, tokens seen so far, seconds since start).
    """
    import torch

    params = train_params(params)
    tokenizer = load_tokenizer(tokenizer_json)
    previous_threads = torch.get_num_threads()
    if params["threads"]:
        torch.set_num_threads(int(params["threads"]))
    try:
        # enable_grad: importing lighteval's transformers backend turns autograd off process-wide.
        with torch.enable_grad():
            return _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed)
    finally:
        torch.set_num_threads(previous_threads)


def _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed) -> pl.DataFrame:
    import torch
    from transformers import LlamaForCausalLM

    vocab_size = len(tokenizer)
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    device = torch.device(params["device"])

    sampler = MixtureSampler(token_dirs, weights, params["seq_len"], seed)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(params, vocab_size, eos_id)).to(device)
    model.train()

    # Weight decay on matrices only, not on norms (the usual Llama recipe).
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": params["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params["lr"],
        betas=(params["adam_beta1"], params["adam_beta2"]),
        eps=params["adam_eps"],
        foreach=False,  # the single-tensor path: identical results run to run
    )
    autocast_dtype = torch.bfloat16 if params["bf16"] else None
    tokens_per_micro = params["micro_batch"] * params["seq_len"]
    rows, tokens, start = [], 0, time.perf_counter()
    for step in range(params["steps"]):
        lr = lr_at(step, params)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(params["grad_accum"]):
            batch = sampler.batch(params["micro_batch"])[0].to(device)
            inputs, labels = batch[:, :-1], batch[:, 1:]
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                logits = model(input_ids=inputs).logits
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
            (loss / params["grad_accum"]).backward()
            step_loss += loss.item() / params["grad_accum"]
            tokens += tokens_per_micro
        if not math.isfinite(step_loss):
            raise RuntimeError(f"train: loss is {step_loss} at step {step + 1}; lower lr or turn bf16 off")
        if params["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["grad_clip"])
        optimizer.step()
        rows.append((step + 1, step_loss, lr, tokens, time.perf_counter() - start))
        if (step + 1) % 10 == 0 or step + 1 == params["steps"]:
            elapsed = rows[-1][4]
            log.info("step %d/%d loss %.4f lr %.2e %.0f tokens/s", step + 1, params["steps"], step_loss, lr,
                     tokens / max(elapsed, 1e-9))

    losses = pl.DataFrame(rows, schema=list(LOSS_TABLE_COLUMNS), orient="row")
    seconds = rows[-1][4]
    model.eval()
    meta = {
        "params": params,
        "seed": seed,
        "weights": {s: float(weights[s]) for s in sorted(weights)},
        "window_counts": sampler.window_counts(),
        "tokenizer_sha": stable_hash(Path(tokenizer_json).read_text()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
        "final_loss": rows[-1][1],
    }
    _save_checkpoint(model, tokenizer, Path(out_dir), meta)
    return losses


# --------------------------------------------------------------------------- nanotron


def _local_tokenizer_ids(tokenizer: str) -> dict:
    """vocab size and <|endoftext|> id of a local tokenizer.json (file or folder holding one); {} for a hub name."""
    from tokenizers import Tokenizer

    path = Path(tokenizer)
    path = path if path.is_file() else path / "tokenizer.json"
    if not path.is_file():
        return {}
    raw = Tokenizer.from_file(str(path))
    eos = raw.token_to_id(EOS_TOKEN)
    ids = {"vocab_size": raw.get_vocab_size()}
    if eos is not None:
        ids.update(bos_token_id=eos, eos_token_id=eos)
    return ids


def nanotron_config(params: dict | None, data: dict, out_dir: str) -> dict:
    """Write nanotron's training YAML for cluster runs; returns the config as a dict.

    In: `params` (the keys of :func:`train_torch` plus dp/tp/pp and
    checkpoint_interval), and `data`: ``token_dirs`` {source: folder of
    datatrove token files}, ``weights`` {source: mixture weight},
    ``tokenizer`` (hub name or local folder nanotron loads); optional
    ``vocab_size``, ``bos_token_id``, ``eos_token_id`` (read from a local
    tokenizer when not given; a hub name needs ``vocab_size``), ``project``,
    ``run``, ``seed`` (default 42), ``checkpoints_path`` (default
    ``<out_dir>/checkpoints``).
    Out: ``<out_dir>/nanotron.yaml`` (written atomically).
    """
    import yaml

    p = train_params(params)
    for key in ("token_dirs", "weights", "tokenizer"):
        if key not in data:
            raise InputError(f"nanotron config: data.{key} missing")
    sources = sorted(data["token_dirs"])
    missing = [s for s in sources if s not in data["weights"]]
    if missing:
        raise InputError(f"nanotron config: no mixture weight for source(s) {missing}")
    ids = {
        **_local_tokenizer_ids(str(data["tokenizer"])),
        **{k: data[k] for k in ("vocab_size", "bos_token_id", "eos_token_id") if data.get(k) is not None},
    }
    if not ids.get("vocab_size"):
        raise InputError(f"nanotron config: data.vocab_size missing (tokenizer {data['tokenizer']!r} is not local)")
    out_dir = Path(out_dir)
    seed = int(data.get("seed", 42))
    config = {
        "general": {
            "project": data.get("project", "synthpedia"),
            "run": data.get("run", "cosmo"),
            "seed": seed,
            "step": None,
            "consumed_train_samples": None,
            "benchmark_csv_path": None,
            "ignore_sanity_checks": True,
        },
        "checkpoints": {
            "checkpoints_path": str(data.get("checkpoints_path", out_dir / "checkpoints")),
            "checkpoint_interval": int(p["checkpoint_interval"]),
            "checkpoints_path_is_shared_file_system": False,
            "resume_checkpoint_path": None,
            "save_initial_state": False,
        },
        "parallelism": {
            "dp": int(p["dp"]),
            "tp": int(p["tp"]),
            "pp": int(p["pp"]),
            "pp_engine": "1f1b",
            "tp_mode": "REDUCE_SCATTER",
            "tp_linear_async_communication": True,
            "expert_parallel_size": 1,
        },
        "model": {
            "ddp_bucket_cap_mb": 25,
            "dtype": "bfloat16" if p["bf16"] else "float32",
            "init_method": {"std": float(p["init_std"])},
            "make_vocab_size_divisible_by": 1,
            "model_config": {
                "is_llama_config": True,
                "bos_token_id": int(ids.get("bos_token_id", 1)),  # nanotron's defaults: Mistral/Llama ids
                "eos_token_id": int(ids.get("eos_token_id", 2)),
                "pad_token_id": None,
                "hidden_act": "silu",
                "hidden_size": p["hidden"],
                "intermediate_size": p["ffn"],
                "num_hidden_layers": p["layers"],
                "num_attention_heads": p["heads"],
                "num_key_value_heads": p["kv_heads"],
                "max_position_embeddings": p["seq_len"],
                "initializer_range": float(p["init_std"]),
                "rms_norm_eps": float(p["rms_norm_eps"]),
                "rope_scaling": None,
                "rope_theta": float(p["rope_theta"]),
                "tie_word_embeddings": bool(p["tie_embeddings"]),
                "pretraining_tp": 1,
                "use_cache": True,
                "vocab_size": int(ids["vocab_size"]),
            },
        },
        "tokenizer": {
            "tokenizer_name_or_path": str(data["tokenizer"]),
            "tokenizer_revision": None,
            "tokenizer_max_length": None,
        },
        "tokens": {
            "sequence_length": p["seq_len"],
            "train_steps": p["steps"],
            "micro_batch_size": p["micro_batch"],
            "batch_accumulation_per_replica": p["grad_accum"],
            "val_check_interval": -1,
            "limit_val_batches": 0,
            "limit_test_batches": 0,
        },
        "optimizer": {
            "optimizer_factory": {
                "name": "adamW",
                "adam_beta1": float(p["adam_beta1"]),
                "adam_beta2": float(p["adam_beta2"]),
                "adam_eps": float(p["adam_eps"]),
                "torch_adam_is_fused": True,
            },
            "zero_stage": 0,
            "weight_decay": float(p["weight_decay"]),
            "clip_grad": float(p["grad_clip"]) if p["grad_clip"] else None,
            "accumulate_grad_in_fp32": True,
            "learning_rate_scheduler": {
                "learning_rate": float(p["lr"]),
                "lr_warmup_steps": int(p["warmup_steps"]),
                "lr_warmup_style": "linear",
                "lr_decay_style": "cosine",
                "lr_decay_steps": None,
                "lr_decay_starting_step": None,
                "min_decay_lr": float(p["min_lr"]),
            },
        },
        "data_stages": [
            {
                "name": "stable",
                "start_training_step": 1,
                "data": {
                    "seed": seed,
                    "num_loading_workers": 1,
                    "dataset": {
                        "dataset_folder": [str(data["token_dirs"][s]) for s in sources],
                        "dataset_weights": [float(data["weights"][s]) for s in sources],
                    },
                },
            }
        ],
        "logging": {"log_level": "info", "log_level_replica": "info", "iteration_step_info_interval": 1},
        "profiler": None,
        "lighteval": None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "nanotron.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def tokens_per_step(params: dict) -> int:
    """Global batch in tokens: micro_batch x grad_accum x dp x seq_len (cosmo-1b: about 1.3M)."""
    p = train_params(params)
    return p["micro_batch"] * p["grad_accum"] * p["dp"] * p["seq_len"]


__all__ = [
    "DEFAULT_TRAIN_PARAMS",
    "LOSS_TABLE_COLUMNS",
    "MixtureSampler",
    "lr_at",
    "load_tokenizer",
    "llama_config",
    "nanotron_config",
    "tokens_per_step",
    "train_params",
    "train_torch",
]


def train_job(
    token_dirs: dict,
    mixture: dict,
    tokenizer_json: str,
    checkpoint_dir: str,
    loss_csv: str,
    run: dict,
    seed: int,
    threads: int | None = None,
) -> pl.DataFrame:
    """The train rule: one run of config `train.runs.<run>` -> checkpoint folder + loss table.

    Sources absent from `mixture` weigh 1.0.
    """
    from synthpedia.io import write_csv

    if run["backend"] != "torch":
        raise InputError(f"config key 'train.runs': backend {run['backend']!r} cannot run in this job (torch only)")
    weights = {source: float(mixture.get(source, 1.0)) for source in token_dirs}
    params = {**run.get("params", {})}
    if threads is not None and params.get("threads") is None:
        params["threads"] = threads
    loss = train_torch(token_dirs, weights, tokenizer_json, checkpoint_dir, params, seed)
    write_csv(loss, loss_csv)
    return loss
