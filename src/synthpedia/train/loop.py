"""The torch backend: train a Llama from scratch on the token mixture, save an HF checkpoint."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import polars as pl

from synthpedia.errors import InputError
from synthpedia.io import stable_hash
from synthpedia.runtime import set_torch_threads
from synthpedia.tables import TABLES, write_table
from synthpedia.tokens import EOS_TOKEN
from synthpedia.train.data import MixtureSampler
from synthpedia.train.model import llama_config, load_tokenizer, save_checkpoint
from synthpedia.train.params import check_train_params, lr_at
from synthpedia.train.precision import choose_precision

log = logging.getLogger(__name__)


def train_torch(
    token_dirs: dict,
    weights: dict,
    tokenizer_json: str,
    out_dir: str,
    params: dict,
    seed: int,
    threads: int | None = None,
) -> pl.DataFrame:
    """Train a Llama from scratch on the token folders and save an HF checkpoint.

    In: `token_dirs` {source: folder of datatrove ``*.ds`` files}, `weights`
    {source: mixture weight}, the `tokenizer_json` the tokens were made with,
    `params` (a run's complete params, as the config schema fills them),
    `seed` (weights init and data order: same inputs -> same loss curve on
    the same machine) and `threads`, torch's intra-op threads while training
    (None keeps the process's setting).
    Out: `out_dir` holds config.json, model.safetensors, the tokenizer files and
    ``synthpedia_train.json`` (params, the precision and threads used, ...);
    returns the loss table (one row per optimizer step: step, loss, lr, tokens
    seen so far, seconds since start).
    """
    import torch

    check_train_params(params)
    tokenizer = load_tokenizer(tokenizer_json)
    previous_threads = torch.get_num_threads()
    if threads:
        set_torch_threads(int(threads))
    try:
        # enable_grad: importing lighteval's transformers backend turns autograd off process-wide.
        with torch.enable_grad():
            return _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed)
    finally:
        torch.set_num_threads(previous_threads)


def _optimizer(model, params: dict):
    """AdamW with weight decay on matrices only, not on norms (the usual Llama recipe)."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": params["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params["lr"],
        betas=(params["adam_beta1"], params["adam_beta2"]),
        eps=params["adam_eps"],
        foreach=False,  # the single-tensor path: identical results run to run
    )


def _micro_step(model, batch, device, autocast_dtype, grad_accum: int) -> float:
    """Forward and backward of one micro-batch of windows; returns its loss (a float)."""
    import torch

    batch = batch.to(device)
    inputs, labels = batch[:, :-1], batch[:, 1:]
    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
    (loss / grad_accum).backward()
    return loss.item()


def _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed) -> pl.DataFrame:
    """The optimisation loop of :func:`train_torch`, inside its thread and autograd settings."""
    import torch
    from transformers import LlamaForCausalLM

    vocab_size = len(tokenizer)
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    device = torch.device(params["device"])
    precision = choose_precision(params["precision"], str(device))
    threads = torch.get_num_threads()
    log.info("train: %d intra-op thread(s) on %s", threads, device)

    sampler = MixtureSampler(token_dirs, weights, params["seq_len"], seed)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(params, vocab_size, eos_id)).to(device)
    model.train()
    optimizer = _optimizer(model, params)
    # Master weights stay fp32 either way; bf16 only changes the matmuls autocast covers.
    autocast_dtype = torch.bfloat16 if precision == "bf16" else None
    tokens_per_micro = params["micro_batch"] * params["seq_len"]
    rows, tokens, start = [], 0, time.perf_counter()
    for step in range(params["steps"]):
        lr = lr_at(step, params)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(params["grad_accum"]):
            batch = sampler.batch(params["micro_batch"])[0]
            step_loss += _micro_step(model, batch, device, autocast_dtype, params["grad_accum"]) / params["grad_accum"]
            tokens += tokens_per_micro
        if not math.isfinite(step_loss):
            raise RuntimeError(f"train: loss is {step_loss} at step {step + 1}; lower lr or set precision: fp32")
        if params["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["grad_clip"])
        optimizer.step()
        rows.append((step + 1, step_loss, lr, tokens, time.perf_counter() - start))
        if (step + 1) % 10 == 0 or step + 1 == params["steps"]:
            elapsed = rows[-1][4]
            log.info("step %d/%d loss %.4f lr %.2e %.0f tokens/s", step + 1, params["steps"], step_loss, lr,
                     tokens / max(elapsed, 1e-9))

    losses = pl.DataFrame(rows, schema=list(TABLES["loss"]), orient="row")
    seconds = rows[-1][4]
    model.eval()
    meta = {
        "params": params,
        "precision": precision,
        "threads": threads,
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
    save_checkpoint(model, tokenizer, Path(out_dir), meta)
    return losses


def train_job(
    *,
    token_dirs: dict,
    tokenizer_json: str,
    mixture: dict,
    run: dict,
    seed: int,
    checkpoint_dir: str,
    loss_csv: str,
    threads: int,
    config_hash: str,
) -> pl.DataFrame:
    """The train rule: one run of config `train.runs.<run>` -> checkpoint folder + loss table.

    In: the token folders per source, the tokenizer file, the config's
    `mixture` (sources absent from it weigh 1.0), the run's config section
    (its params complete), the config `seed`, the output paths, the job's
    `threads` and the `config_hash` stamped on the loss table.
    Out: the checkpoint folder and the loss table (CSV, through the tables
    writer); returns the stamped table.
    """
    if run["backend"] != "torch":
        raise InputError(f"config key 'train.runs': backend {run['backend']!r} cannot run in this job (torch only)")
    weights = {source: float(mixture.get(source, 1.0)) for source in token_dirs}
    loss = train_torch(token_dirs, weights, tokenizer_json, checkpoint_dir, run["params"], seed, threads=threads)
    return write_table(loss, "loss", config_hash, loss_csv)
