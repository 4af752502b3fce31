"""Training parameters: the checks the config schema cannot express, and the schedule they imply.

Every parameter, with its type, range and default, is declared once in the
config schema (``definitions.train_run.properties.params``); the config
validation fills the defaults. This module imports only the standard library:
the light config validation calls :func:`check_train_params` before any job
starts, and must not pay for torch to do so.
"""

from __future__ import annotations

import math

from synthpedia.errors import InputError

# What `precision: auto` resolves to, and what an explicit setting may name.
PRECISIONS = ("fp32", "bf16")

# Keys read by the derived checks below; the schema fills them, a hand-made dict may lack them.
_CHECKED_KEYS = ("hidden", "heads", "kv_heads", "lr", "min_lr")


def check_train_params(params: dict) -> dict:
    """Check the relations between train parameters that a JSON schema cannot state.

    In: a run's `params`, complete (the config schema's defaults filled in).
    Out: the same dict, unchanged. Raises InputError naming the key at fault:
    hidden not divisible by heads, heads not divisible by kv_heads, min_lr
    above lr, or a key the checks need missing.
    """
    missing = [key for key in _CHECKED_KEYS if key not in params]
    if missing:
        raise InputError(f"train params: missing key(s) {missing} (the config schema's defaults fill them)")
    if params["hidden"] % params["heads"]:
        raise InputError(f"train params: hidden ({params['hidden']}) is not divisible by heads ({params['heads']})")
    if params["heads"] % params["kv_heads"]:
        raise InputError(f"train params: heads ({params['heads']}) is not divisible by kv_heads ({params['kv_heads']})")
    if params["min_lr"] > params["lr"]:
        raise InputError(f"train params: min_lr ({params['min_lr']}) is above lr ({params['lr']})")
    return params


def schema_train_defaults(schema: dict) -> dict:
    """The default of every train parameter, read from a loaded config schema (a dict).

    For code that builds a run outside the workflow (tests, benchmarks): the
    workflow gets the same values from the config validation.
    """
    properties = schema["definitions"]["train_run"]["properties"]["params"]["properties"]
    return {name: spec["default"] for name, spec in properties.items()}


def lr_at(step: int, params: dict) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine to min_lr."""
    lr, min_lr, warmup, total = params["lr"], params["min_lr"], params["warmup_steps"], params["steps"]
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    decay_steps = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def grad_accum_for(params: dict, processes: int) -> int:
    """Micro-batches per process and optimizer step for a torch run over `processes` data-parallel processes.

    With ``batch_tokens`` set: batch_tokens / (micro_batch x seq_len x
    processes), which must be a whole number (InputError otherwise); else
    the run's ``grad_accum``.
    """
    batch_tokens = params.get("batch_tokens")
    if not batch_tokens:
        return int(params["grad_accum"])
    per_pass = params["micro_batch"] * params["seq_len"] * processes
    if batch_tokens % per_pass:
        raise InputError(
            f"train params: batch_tokens ({batch_tokens}) is not a multiple of micro_batch x seq_len x processes "
            f"({params['micro_batch']} x {params['seq_len']} x {processes} = {per_pass})"
        )
    return batch_tokens // per_pass


def tokens_per_step(params: dict) -> int:
    """Global batch in tokens: micro_batch x grad_accum x dp x seq_len (cosmo-1b: about 1.3M)."""
    return params["micro_batch"] * params["grad_accum"] * params["dp"] * params["seq_len"]
