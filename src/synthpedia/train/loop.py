"""The torch backend: train a Llama from scratch on the token mixture, save an HF checkpoint."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import polars as pl

from synthpedia.errors import InputError
from synthpedia.io import stable_hash
from synthpedia.runtime import set_torch_threads
from synthpedia.tables import TABLES, write_table
from synthpedia.train.data import MixtureSampler
from synthpedia.train.launch import join_process_group, processes_for, train_with_torchrun
from synthpedia.train.model import llama_config, load_tokenizer, save_checkpoint
from synthpedia.train.params import check_train_params, grad_accum_for, lr_at
from synthpedia.train.precision import choose_precision
from synthpedia.train.resume import clear_partial_states, latest_state, remove_states, save_state

log = logging.getLogger(__name__)


def train_torch(
    token_dirs: dict,
    weights: dict,
    tokenizer_json: str,
    out_dir: str,
    params: dict,
    *,
    seed: int,
    threads: int | None = None,
    state_dir: str | None = None,
) -> pl.DataFrame:
    """Train a Llama from scratch on the token folders and save an HF checkpoint.

    In: `token_dirs` {source: folder of datatrove ``*.ds`` files}, `weights`
    {source: mixture weight}, the `tokenizer_json` the tokens were made with,
    `params` (a run's complete params, as the config schema fills them),
    `seed` (weights init and data order: same inputs -> same loss curve on
    the same machine), `threads`, torch's intra-op threads while training
    (None keeps the process's setting), and `state_dir`, where resume states
    are written every ``checkpoint_interval`` steps and read back (None: no
    resume). Run under torchrun (``WORLD_SIZE`` > 1), each process trains its
    share of every global batch with DistributedDataParallel.
    Out: `out_dir` holds config.json, model.safetensors, the tokenizer files and
    ``synthpedia_train.json`` (params, the precision and threads used, ...);
    returns the loss table (one row per optimizer step: step, loss, lr, tokens
    seen so far, seconds since start). The states are removed once the
    checkpoint is written.
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
            return _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed, state_dir)
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


# Params that change how a run is carried out, not what it computes: a state made under other
# values of these is resumed from (e.g. after moving from 1 process to 2 at the same global batch).
_RUNTIME_PARAMS = ("device", "processes", "log_interval", "checkpoint_interval", "grad_accum", "dp", "tp", "pp")


def _fingerprint(params, seed, weights, tokenizer_sha, global_windows) -> str:
    """What a resume state must match: the params that decide the numbers, seed, mixture, tokenizer, batch."""
    kept = {k: v for k, v in params.items() if k not in _RUNTIME_PARAMS}
    weights = {s: float(weights[s]) for s in sorted(weights)}
    return stable_hash(json.dumps([kept, seed, weights, tokenizer_sha, global_windows], sort_keys=True))


def _progress(step, total, loss, lr, tokens_here, seconds_here, seconds, first) -> str:
    """One progress line: steps, loss, lr, tokens/s since this process started (at step `first`), elapsed, ETA."""
    speed = tokens_here / seconds_here if seconds_here > 0 else 0.0
    eta = (total - step) * seconds_here / max(step - first, 1)
    return (f"step {step}/{total} ({100 * step / total:.0f}%) loss {loss:.4f} lr {lr:.2e} "
            f"{speed:,.0f} tokens/s elapsed {_hms(seconds)} ETA {_hms(eta)}")


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _train_loop(params, tokenizer, token_dirs, weights, tokenizer_json, out_dir, seed, state_dir) -> pl.DataFrame:
    """The optimisation loop of :func:`train_torch`, inside its thread and autograd settings."""
    import torch
    from transformers import LlamaForCausalLM

    vocab_size = len(tokenizer)
    eos_id = tokenizer.eos_token_id  # the tokens' document separator (model.load_tokenizer)
    group = join_process_group(params["device"])
    device = group.device
    precision = choose_precision(params["precision"], str(device))
    threads = torch.get_num_threads()
    grad_accum = grad_accum_for(params, group.world)
    micro = params["micro_batch"]
    global_windows = micro * grad_accum * group.world
    log.info("train: process %d of %d, %d intra-op thread(s) on %s; %d window(s) of %d tokens per step "
             "(%d per micro-batch x %d micro-batches x %d process(es))", group.rank, group.world, threads, device,
             global_windows, params["seq_len"], micro, grad_accum, group.world)

    sampler = MixtureSampler(token_dirs, weights, params["seq_len"], seed)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(params, vocab_size, eos_id)).to(device)
    model.train()
    optimizer = _optimizer(model, params)
    tokenizer_sha = stable_hash(Path(tokenizer_json).read_text())
    fingerprint = _fingerprint(params, seed, weights, tokenizer_sha, global_windows)
    if state_dir is not None and group.rank == 0:
        clear_partial_states(state_dir)
    group.barrier()
    state = latest_state(state_dir, fingerprint, device)
    rows, tokens, seconds_before, first = [], 0, 0.0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rows, tokens, seconds_before, first = [tuple(r) for r in state["rows"]], state["tokens"], state["seconds"], state["steps"]
    trained = group.wrap(model)
    # Master weights stay fp32 either way; bf16 only changes the matmuls autocast covers.
    autocast_dtype = torch.bfloat16 if precision == "bf16" else None
    tokens_per_step = global_windows * params["seq_len"]
    total, interval = params["steps"], params["checkpoint_interval"]
    start = time.perf_counter()
    for step in range(first, total):
        lr = lr_at(step, params)
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for i in range(grad_accum):
            row = (group.rank * grad_accum + i) * micro
            batch = sampler.step_batch(step, global_windows, slice(row, row + micro))[0]
            # gradients are averaged over the processes once, on the last micro-batch
            with group.no_sync(trained, last=i == grad_accum - 1):
                step_loss += _micro_step(trained, batch, device, autocast_dtype, grad_accum) / grad_accum
        step_loss = group.mean(step_loss, device)
        tokens += tokens_per_step
        if not math.isfinite(step_loss):
            raise RuntimeError(f"train: loss is {step_loss} at step {step + 1}; lower lr or set precision: fp32")
        if params["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["grad_clip"])
        optimizer.step()
        here = time.perf_counter() - start
        rows.append((step + 1, step_loss, lr, tokens, seconds_before + here))
        if group.rank == 0 and ((step + 1) % params["log_interval"] == 0 or step + 1 == total):
            log.info(_progress(step + 1, total, step_loss, lr, (step + 1 - first) * tokens_per_step, here,
                               seconds_before + here, first))
        if state_dir is not None and (step + 1) % interval == 0 and step + 1 < total:
            if group.rank == 0:
                save_state(state_dir, {
                    "steps": step + 1, "tokens": tokens, "rows": rows, "seconds": seconds_before + here,
                    "fingerprint": fingerprint, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                })
            group.barrier()

    losses = pl.DataFrame(rows, schema=list(TABLES["loss"]), orient="row")
    seconds = rows[-1][4]
    model.eval()
    meta = {
        "params": params,
        "precision": precision,
        "threads": threads,
        "processes": group.world,
        "grad_accum": grad_accum,
        "resumed_at_step": first,
        "seed": seed,
        "weights": {s: float(weights[s]) for s in sorted(weights)},
        "window_counts": sampler.window_counts(),
        "tokenizer_sha": tokenizer_sha,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
        "final_loss": rows[-1][1],
    }
    if group.rank == 0:
        save_checkpoint(model, tokenizer, Path(out_dir), meta)
        remove_states(state_dir)
    group.barrier()
    group.leave()
    return losses


def train_job(
    *,
    token_dirs: dict, tokenizer_json: str, mixture: dict, run: dict, seed: int,  # what is trained
    checkpoint_dir: str, loss_csv: str, state_dir: str | None = None, log_file: str | None = None,  # where to
    threads: int, config_hash: str,
) -> pl.DataFrame:
    """The train rule: one run of config `train.runs.<run>` -> checkpoint folder + loss table.

    In: the token folders per source, the tokenizer file, the config's
    `mixture` (sources absent from it weigh 1.0), the run's config section
    (its params complete), the config `seed`, the output paths, the job's
    `threads`, the `config_hash` stamped on the loss table, the run's
    `state_dir` (resume states; a rerun after a kill continues from the last
    one) and the job's `log_file` (where torchrun workers log).
    Over more than one process (the ``processes`` param, or one per GPU the
    job sees on cuda) the run is started with torchrun.
    Out: the checkpoint folder and the loss table (CSV, through the tables
    writer); returns the stamped table.
    """
    if run["backend"] != "torch":
        raise InputError(f"config key 'train.runs': backend {run['backend']!r} cannot run in this job (torch only)")
    weights = {source: float(mixture.get(source, 1.0)) for source in token_dirs}
    params = check_train_params(run["params"])
    processes = processes_for(params)
    grad_accum_for(params, processes)  # an uneven global batch fails here, before any process starts
    args = {"token_dirs": token_dirs, "weights": weights, "tokenizer_json": tokenizer_json,
            "out_dir": checkpoint_dir, "params": params, "seed": seed, "state_dir": state_dir}
    if processes > 1:
        rows = train_with_torchrun(processes, threads, log_file, **args)
        loss = pl.DataFrame(rows, schema=list(TABLES["loss"]), orient="row")
    else:
        loss = train_torch(**args, threads=threads)
    return write_table(loss, "loss", config_hash, loss_csv)
