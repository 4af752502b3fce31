"""The model side of training: tokenizer, Llama config, and a checkpoint written all at once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from synthpedia.io import write_json
from synthpedia.tokens import load_tokenizer as load_tokenizer_file
from synthpedia.tokens import tokenizer_eos


def load_tokenizer(tokenizer_json: str):
    """A transformers fast tokenizer over the run's `tokenizer.json`, eos/bos/pad = its document separator.

    The separator is <|endoftext|> for the trained BPE, a pretrained tokenizer's own eos otherwise.
    """
    from transformers import PreTrainedTokenizerFast

    eos = tokenizer_eos(tokenizer_json)
    return PreTrainedTokenizerFast(
        tokenizer_object=load_tokenizer_file(tokenizer_json),  # checks the file and its eos token
        eos_token=eos,
        bos_token=eos,
        pad_token=eos,
        unk_token=eos,
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


def _share_like_outputs(folder: Path) -> None:
    """Give `folder` and its files the modes the umask gives any output (mkdtemp makes them owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


def save_checkpoint(model, tokenizer, out_dir: str | os.PathLike, meta: dict) -> None:
    """Write an HF checkpoint of `model` and `tokenizer` with `meta` as ``synthpedia_train.json``.

    save_pretrained goes into a sibling temp folder that is then swapped into
    `out_dir`: a killed job leaves no half checkpoint, and a rerun replaces
    the old one whole.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(meta, tmp / "synthpedia_train.json")
        _share_like_outputs(tmp)
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
