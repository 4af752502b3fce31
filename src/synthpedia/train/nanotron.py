"""nanotron's training YAML for cluster runs (e.g. the cosmo-1b preset).

nanotron itself is never imported here: installed beside lighteval it breaks
lighteval's imports, so this module only writes the config nanotron reads.
"""

from __future__ import annotations

from pathlib import Path

from synthpedia.errors import InputError
from synthpedia.io import atomic_path
from synthpedia.tokens import tokenizer_eos
from synthpedia.train.params import check_train_params


def _local_tokenizer_ids(tokenizer: str) -> dict:
    """vocab size and eos id (tokens.tokenizer_eos) of a local tokenizer.json (file or folder holding one); {} for a hub name."""
    from tokenizers import Tokenizer

    path = Path(tokenizer)
    path = path if path.is_file() else path / "tokenizer.json"
    if not path.is_file():
        return {}
    raw = Tokenizer.from_file(str(path))
    eos = raw.token_to_id(tokenizer_eos(path))
    ids = {"vocab_size": raw.get_vocab_size()}
    if eos is not None:
        ids.update(bos_token_id=eos, eos_token_id=eos)
    return ids


def _model_section(p: dict, ids: dict) -> dict:
    """nanotron's `model` section: a Llama of `p`'s shape over the tokenizer `ids`."""
    # The config is written where the run is planned, not on the GPUs it runs on: "auto" takes
    # bf16, which every GPU nanotron trains on supports.
    dtype = "float32" if p["precision"] == "fp32" else "bfloat16"
    return {
        "ddp_bucket_cap_mb": 25,
        "dtype": dtype,
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
    }


def _optimizer_section(p: dict) -> dict:
    """nanotron's `optimizer` section: AdamW, linear warmup then cosine decay to min_lr."""
    return {
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
    }


def _data_stage(data: dict, seed: int) -> dict:
    """The one data stage: every source's token folder at its mixture weight (sources sorted)."""
    sources = sorted(data["token_dirs"])
    missing = [s for s in sources if s not in data["weights"]]
    if missing:
        raise InputError(f"nanotron config: no mixture weight for source(s) {missing}")
    return {
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


def _tokenizer_ids(data: dict) -> dict:
    """vocab_size and bos/eos ids: those given in `data` over those of a local tokenizer."""
    ids = {
        **_local_tokenizer_ids(str(data["tokenizer"])),
        **{k: data[k] for k in ("vocab_size", "bos_token_id", "eos_token_id") if data.get(k) is not None},
    }
    if not ids.get("vocab_size"):
        raise InputError(f"nanotron config: data.vocab_size missing (tokenizer {data['tokenizer']!r} is not local)")
    return ids


def nanotron_config(params: dict, data: dict, out_dir: str) -> dict:
    """Write nanotron's training YAML for cluster runs; returns the config as a dict.

    In: `params`, a run's complete params (as the config schema fills them;
    dp/tp/pp and checkpoint_interval are read here only), and `data`:
    ``token_dirs`` {source: folder of datatrove token files}, ``weights``
    {source: mixture weight}, ``tokenizer`` (hub name or local folder
    nanotron loads); optional ``vocab_size``, ``bos_token_id``,
    ``eos_token_id`` (read from a local tokenizer when not given; a hub name
    needs ``vocab_size``), ``project``, ``run``, ``seed`` (default 42),
    ``checkpoints_path`` (default ``<out_dir>/checkpoints``).
    Out: ``<out_dir>/nanotron.yaml`` (written atomically).
    """
    import yaml

    p = check_train_params(params)
    for key in ("token_dirs", "weights", "tokenizer"):
        if key not in data:
            raise InputError(f"nanotron config: data.{key} missing")
    out_dir = Path(out_dir)
    seed = int(data.get("seed", 42))
    stage = _data_stage(data, seed)
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
        "model": _model_section(p, _tokenizer_ids(data)),
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
        "optimizer": _optimizer_section(p),
        "data_stages": [stage],
        "logging": {"log_level": "info", "log_level_replica": "info", "iteration_step_info_interval": 1},
        "profiler": None,
        "lighteval": None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "nanotron.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    return config
