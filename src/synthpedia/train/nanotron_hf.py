"""A nanotron Llama checkpoint as a transformers folder, for evaluation with lighteval.

Reads nanotron's checkpoint layout directly (torch and safetensors only, no
nanotron import): ``<step>/model_config.json`` and one safetensors file per
tensor under ``<step>/model/``, at the tensor's dotted name turned into
folders, the file named ``model_<leaf>[_pp-rank-0-of-1_tp-rank-0-of-1].safetensors``
holding the tensor as ``data``. Checkpoints written with tp = pp = 1 (the
layout the pinned nanotron commit saves; a larger tp or pp leaves several
shards per tensor and is refused). nanotron bundles q, k and v in one
``qkv_proj`` and gate and up in one ``gate_up_proj``; with
``rope_interleaved`` its q and k rows pair even and odd dimensions, which
transformers' rotary embedding expects as halves: they are permuted back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from synthpedia.errors import InputError


def _nanotron_tensor(model_dir: Path, name: str):
    """The tensor `name` (nanotron's dotted state-dict name) of the checkpoint's model folder."""
    from safetensors.torch import load_file

    *folders, leaf = name.split(".")
    folder = model_dir.joinpath(*folders)
    files = sorted(folder.glob(f"model_{leaf}*.safetensors"))
    if len(files) != 1:
        raise InputError(f"nanotron checkpoint: {len(files)} files for {name} in {folder} (only tp = pp = 1 converts)")
    return load_file(files[0])["data"]


def _halves_from_pairs(weight, head_dim: int):
    """Rows of each head reordered from interleaved pairs (GPT-J rotary) to halves (transformers' rotary)."""
    import torch

    heads = [w.view(head_dim // 2, 2, -1).transpose(0, 1).reshape(head_dim, -1) for w in weight.split(head_dim)]
    return torch.cat(heads)


def _hf_state_dict(model_dir: Path, cfg: dict) -> dict:
    """transformers' Llama state dict from the nanotron tensors of a checkpoint."""
    hidden, heads, kv_heads = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = hidden // heads
    interleaved = bool(cfg.get("rope_interleaved", False))
    embed = _nanotron_tensor(model_dir, "model.token_position_embeddings.pp_block.token_embedding.weight")
    state = {
        "model.embed_tokens.weight": embed,
        "model.norm.weight": _nanotron_tensor(model_dir, "model.final_layer_norm.pp_block.weight"),
    }
    if not cfg.get("tie_word_embeddings", False):
        state["lm_head.weight"] = _nanotron_tensor(model_dir, "model.lm_head.pp_block.weight")
    for i in range(cfg["num_hidden_layers"]):
        nt, hf = f"model.decoder.{i}.pp_block", f"model.layers.{i}"
        qkv = _nanotron_tensor(model_dir, f"{nt}.attn.qkv_proj.weight")
        q, k, v = qkv.split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim])
        if interleaved:
            q, k = _halves_from_pairs(q, head_dim), _halves_from_pairs(k, head_dim)
        gate, up = _nanotron_tensor(model_dir, f"{nt}.mlp.gate_up_proj.weight").chunk(2)
        state.update({
            f"{hf}.self_attn.q_proj.weight": q,
            f"{hf}.self_attn.k_proj.weight": k,
            f"{hf}.self_attn.v_proj.weight": v,
            f"{hf}.self_attn.o_proj.weight": _nanotron_tensor(model_dir, f"{nt}.attn.o_proj.weight"),
            f"{hf}.mlp.gate_proj.weight": gate,
            f"{hf}.mlp.up_proj.weight": up,
            f"{hf}.mlp.down_proj.weight": _nanotron_tensor(model_dir, f"{nt}.mlp.down_proj.weight"),
            f"{hf}.input_layernorm.weight": _nanotron_tensor(model_dir, f"{nt}.input_layernorm.weight"),
            f"{hf}.post_attention_layernorm.weight": _nanotron_tensor(
                model_dir, f"{nt}.post_attention_layernorm.weight"
            ),
        })
    return {name: t.contiguous() for name, t in state.items()}


def latest_nanotron_step(checkpoints: str | os.PathLike) -> Path:
    """The folder of the last checkpoint nanotron saved under `checkpoints` (its ``latest.txt`` names the step)."""
    checkpoints = Path(checkpoints)
    latest = checkpoints / "latest.txt"
    if not latest.is_file():
        raise InputError(f"nanotron checkpoint: no latest.txt in {checkpoints} (did training save a checkpoint?)")
    return checkpoints / latest.read_text().strip()


def nanotron_to_hf(step_dir: str | os.PathLike, tokenizer: str, out_dir: str | os.PathLike) -> None:
    """Write the nanotron checkpoint `step_dir` as a transformers Llama folder `out_dir` (fp32 weights).

    `tokenizer` is the tokenizer the run trained with (a tokenizer.json file,
    a local folder or a hub id, as in the nanotron YAML); it is saved beside the weights so that
    ``AutoTokenizer`` and lighteval load the folder alone. The folder is
    written whole or not at all (see ``save_checkpoint``).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from synthpedia.train.model import load_tokenizer, save_checkpoint

    step_dir = Path(step_dir)
    cfg = json.loads((step_dir / "model_config.json").read_text())
    hf_config = LlamaConfig(
        **{key: cfg[key] for key in (
            "bos_token_id", "eos_token_id", "hidden_act", "hidden_size", "initializer_range", "intermediate_size",
            "max_position_embeddings", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
            "pad_token_id", "pretraining_tp", "rms_norm_eps", "rope_scaling", "rope_theta", "tie_word_embeddings",
            "use_cache", "vocab_size",
        ) if key in cfg}
    )
    model = LlamaForCausalLM(hf_config)
    state = {name: t.float() for name, t in _hf_state_dict(step_dir / "model", cfg).items()}
    with torch.no_grad():
        result = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if hf_config.tie_word_embeddings else set()
    if set(result.missing_keys) - tied or result.unexpected_keys:
        raise InputError(f"nanotron checkpoint {step_dir}: tensors missing {result.missing_keys[:3]}, "
                         f"unexpected {result.unexpected_keys[:3]}")
    model.eval()
    meta = {"converted_from": str(step_dir), "backend": "nanotron", "tokenizer": tokenizer}
    # a tokenizer.json file (the corpus-trained BPE) or what AutoTokenizer loads (a folder, a hub id)
    tok = load_tokenizer(tokenizer) if Path(tokenizer).is_file() else AutoTokenizer.from_pretrained(tokenizer)
    save_checkpoint(model, tok, Path(out_dir), meta)
