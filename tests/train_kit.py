"""Shared training fixtures: the tiny run's params, a made-up corpus, its BPE and datatrove token folders."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import yaml

from synthpedia.tokens import EOS_TOKEN
from synthpedia.train.params import schema_train_defaults

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
# The one set of defaults: the config schema's, as the config validation fills them.
DEFAULTS = schema_train_defaults(SCHEMA)

# A few seconds of training: big enough for the loss to fall clearly.
TINY = {
    **DEFAULTS,
    "layers": 2,
    "hidden": 64,
    "ffn": 172,
    "heads": 2,
    "kv_heads": 1,
    "seq_len": 64,
    "micro_batch": 4,
    "grad_accum": 2,
    "steps": 20,
    "warmup_steps": 4,
    "lr": 3e-3,
    "min_lr": 3e-4,
    "rope_theta": 50000.0,
}

# cosmo-1b as trained with nanotron (reference.md, "cosmo-1b training").
COSMO_1B = {
    **DEFAULTS,
    "layers": 24,
    "hidden": 2048,
    "ffn": 8192,
    "heads": 16,
    "kv_heads": 16,
    "seq_len": 2048,
    "tie_embeddings": False,
    "precision": "bf16",
    "micro_batch": 4,
    "grad_accum": 1,
    "dp": 160,
    "steps": 140000,
    "lr": 3e-4,
    "min_lr": 3e-5,
    "warmup_steps": 2000,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "adam_eps": 1e-8,
}

SUBJECTS = ["the cat", "a dog", "the teacher", "my friend", "the student", "a bird", "the farmer"]
VERBS = ["sees", "likes", "finds", "reads", "builds", "counts", "draws"]
OBJECTS = ["the book", "a tree", "the river", "a small house", "the garden", "ten apples", "the map"]
ENDS = ["today.", "in the morning.", "after school.", "near the park.", "every day."]


def make_docs(n: int, seed: int, prefix: str) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        sents = [
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDS)}".capitalize()
            for _ in range(rng.randint(3, 7))
        ]
        docs.append(f"{prefix}: " + " ".join(sents))
    return docs


def train_bpe(texts: list[str], path: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))
    return tok


def write_token_folder(tok, docs: list[str], folder: Path) -> None:
    """datatrove's token file format: uint16 tokens, uint64 document ends, 'tokenizer|bytes' metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    eos = tok.token_to_id(EOS_TOKEN)
    ids, ends = [], []
    for doc in docs:
        ids.extend(tok.encode(doc).ids + [eos])
        ends.append(len(ids))
    (folder / "00000_tokens.ds").write_bytes(np.asarray(ids, dtype="<u2").tobytes())
    (folder / "00000_tokens.ds.index").write_bytes(struct.pack(f"<{len(ends)}Q", *ends))
    (folder / "00000_tokens.ds.metadata").write_text(f"tokenizer.json|2\n{len(ids)}\n")




def make_corpus(root: Path) -> dict:
    """Two sources of 200 made-up documents each, a BPE over them and their token folders under `root`."""
    docs = {"stories": make_docs(200, 1, "Story"), "textbooks": make_docs(200, 2, "Lesson")}
    tok = train_bpe([d for v in docs.values() for d in v], root / "tokenizer.json")
    dirs = {}
    for source, texts in docs.items():
        write_token_folder(tok, texts, root / "tokens" / source)
        dirs[source] = str(root / "tokens" / source)
    return {"dirs": dirs, "tokenizer": str(root / "tokenizer.json"), "root": root}
