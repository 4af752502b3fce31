"""Tokenisation: a byte-level BPE trained on the corpus, and datatrove token files per source.

`train_tokenizer` writes a `tokenizer.json`; `tokenize_shards` turns one
source's dataset shards into one folder of nanotron/datatrove token files
(`000_<name>.ds`, `.ds.index`, `.ds.metadata`) with `<|endoftext|>` after
every document. One folder per source lets the training stage weight sources
(mixture weights) by sampling from each folder at its own rate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import polars as pl
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.tokens import DocumentTokenizer, DocumentTokenizerMerger

from synthpedia import __version__
from synthpedia.dedup import ScratchDocumentReader
from synthpedia.errors import InputError
from synthpedia.io import atomic_path, read_parquets, write_json

log = logging.getLogger(__name__)

# Document separator, also the model's eos: appended after every document.
EOS_TOKEN = "<|endoftext|>"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_path: str | os.PathLike,
    min_frequency: int,
    max_documents: int | None = None,
    seed: int = 0,
) -> None:
    """Train a byte-level BPE on `texts` and write its tokenizer.json to `out_path` (atomically).

    The vocabulary holds the 256 byte symbols, `<|endoftext|>` (id 0) and
    merges up to `vocab_size`, of pairs seen at least `min_frequency` times.
    Byte-level, no normaliser: any text encodes and decodes back exactly. Same
    texts in the same order give the same file. With `max_documents`, a seeded
    sample of that many texts (kept in input order) is used for training.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not isinstance(vocab_size, int) or vocab_size < 257:
        raise InputError(
            f"config tokenizer.vocab_size: must be an integer >= 257 (256 bytes + eos), got {vocab_size!r}"
        )
    if max_documents is not None:
        texts = list(texts)
        if len(texts) > max_documents:
            pick = np.sort(np.random.default_rng(seed).choice(len(texts), size=max_documents, replace=False))
            texts = [texts[i] for i in pick]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator((t for t in texts if t), trainer=trainer)
    with atomic_path(out_path) as tmp:
        tokenizer.save(str(tmp))


def load_tokenizer(tokenizer_json: str | os.PathLike):
    """Load a tokenizer.json FILE (a folder would be taken as a hub name by datatrove); check it has the eos."""
    from tokenizers import Tokenizer

    path = Path(tokenizer_json)
    if not path.is_file():
        raise InputError(f"tokenizer: {path} is not a tokenizer.json file")
    tokenizer = Tokenizer.from_file(str(path))
    if tokenizer.token_to_id(EOS_TOKEN) is None:
        raise InputError(f"tokenizer: {path} has no {EOS_TOKEN} token (the document separator)")
    return tokenizer


def _read_texts(inputs: list[str], source: str | None) -> tuple[pl.DataFrame, str | None]:
    """(prompt_id, source, text) of all shards, sorted by prompt_id so order does not depend on sharding."""
    parts = []
    for path in inputs:
        columns = [c for c in ("prompt_id", "source", "text") if c in pl.read_parquet_schema(path)]
        df = pl.read_parquet(path, columns=columns)  # only what is needed: shards carry long prompts too
        if df.height == 0:
            continue
        if len(columns) < 3:
            missing = sorted({"prompt_id", "source", "text"} - set(columns))
            raise InputError(f"tokenize: shard {path} lacks column(s) {missing}")
        df = df.select(pl.col("prompt_id", "source", "text").cast(pl.String))
        for column in ("prompt_id", "text"):
            bad = df.with_row_index("row").filter(pl.col(column).is_null())
            if bad.height:
                raise InputError(f"tokenize: shard {path}, row {bad['row'][0]}: {column} is null")
        if source is not None:
            other = df.filter(pl.col("source") != source)
            if other.height:
                raise InputError(
                    f"tokenize: shard {path}, prompt_id {other['prompt_id'][0]} is from source "
                    f"{other['source'][0]!r}, not {source!r}"
                )
        parts.append(df)
    schema = {"prompt_id": pl.String, "source": pl.String, "text": pl.String}
    frame = pl.concat(parts).sort("prompt_id") if parts else pl.DataFrame(schema=schema)
    if source is None:
        sources = frame["source"].unique().sort().to_list()
        source = sources[0] if len(sources) == 1 else None
    return frame, source


def tokenize_shards(
    inputs: list[str],
    out_dir: str | os.PathLike,
    tokenizer_json: str | os.PathLike,
    workdir: str | os.PathLike,
    source: str | None = None,
    shuffle: bool = True,
    seed: int = 0,
    max_tokens_per_file: int | None = None,
    stats_path: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """Tokenise one source's dataset shards into one folder of datatrove token files.

    inputs: parquet shards with prompt_id, source, text (call once per source:
        `source`, if given, is checked against every row and names the files).
    out_dir: replaced as a whole (built next to it, then renamed) by
        `000_<name>.ds` (uint16 tokens, uint32 if vocab > 65,536),
        `000_<name>.ds.index` (uint64 cumulative document ends),
        `000_<name>.ds.metadata` (tokenizer|token_size, token count),
        `<name>.ds.metadata` (total) and, unless `stats_path` is given,
        `stats.json`. More `.ds` files (001_, ...) only with max_tokens_per_file.
    Every document is followed by `<|endoftext|>`. Documents are sorted by
    prompt_id, then shuffled by datatrove's DocumentTokenizer with `seed` if
    `shuffle`; its merger then writes the final file(s). The same documents and
    seed give the same bytes, however they are spread over shards.

    Returns the stats written to stats.json: source, documents, tokens (eos
    included), files, token_size, vocab_size, tokenizer_sha256, shuffle, seed,
    config_hash, version.
    """
    inputs = [str(p) for p in inputs]
    tokenizer = load_tokenizer(tokenizer_json)
    frame, source = _read_texts(inputs, source)
    name = source or "tokens"
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="tokenize-", dir=workdir))
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (run_dir / "docs").mkdir()
        frame.select("text").write_parquet(run_dir / "docs" / "00000.parquet")

        def execute(pipeline, stage):
            # One in-process task: tokenizers already runs encode_batch on the job's threads, and
            # workers=1 avoids forkserver re-importing an unguarded entry script. Fresh
            # logging dir, skip_completed off: a rerun must really rerun.
            LocalPipelineExecutor(
                pipeline=pipeline, tasks=1, workers=1, logging_dir=str(run_dir / "logs" / stage), skip_completed=False
            ).run()

        execute(
            [
                ScratchDocumentReader(str(run_dir / "docs")),
                DocumentTokenizer(
                    output_folder=str(run_dir / "unshuffled"),
                    tokenizer_name_or_path=str(Path(tokenizer_json).resolve()),
                    eos_token=EOS_TOKEN,
                    save_filename=name,
                    # document order: shuffled here, seeded (the merger only interleaves files)
                    shuffle_documents=shuffle,
                    seed=seed,
                ),
            ],
            "1_tokenize",
        )
        execute(
            [
                DocumentTokenizerMerger(
                    input_folder=str(run_dir / "unshuffled"),
                    output_folder=str(staged),
                    save_filename=name,
                    shuffle=False,  # one input file: nothing to interleave
                    max_tokens_per_file=max_tokens_per_file or int(100e9),
                    progress=False,
                )
            ],
            "2_merge",
        )
        files = sorted(p.name for p in staged.glob("*.ds"))
        ends = [np.fromfile(staged / f"{f}.index", dtype="<u8") for f in files]
        vocab_size = tokenizer.get_vocab_size()
        stats = {
            "source": source,
            "documents": int(sum(len(e) for e in ends)),
            "tokens": int(sum(int(e[-1]) for e in ends if len(e))),
            "files": files,
            "token_size": 4 if vocab_size > 65536 else 2,
            "vocab_size": vocab_size,
            "eos_token": EOS_TOKEN,
            "tokenizer_sha256": hashlib.sha256(Path(tokenizer_json).read_bytes()).hexdigest(),
            "shuffle": bool(shuffle),
            "seed": seed,
            "config_hash": config_hash,
            "version": __version__,
        }
        if stats["documents"] != frame.height:
            raise RuntimeError(f"tokenize: {frame.height} documents in but {stats['documents']} in {out}")
        if stats_path is None:
            write_json(stats, staged / "stats.json")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    if stats_path is not None:
        write_json(stats, stats_path)
    return stats


def read_token_documents(folder: str | os.PathLike, tokenizer_json: str | os.PathLike) -> list[str]:
    """Decode a token folder back to its documents (in file order), each without its trailing eos.

    Raises ValueError if a document does not end with `<|endoftext|>`.
    """
    tokenizer = load_tokenizer(tokenizer_json)
    eos = tokenizer.token_to_id(EOS_TOKEN)
    dtype = "<u4" if tokenizer.get_vocab_size() > 65536 else "<u2"
    texts = []
    for path in sorted(Path(folder).glob("*.ds")):
        tokens = np.fromfile(path, dtype=dtype)
        start = 0
        for i, end in enumerate(np.fromfile(f"{path}.index", dtype="<u8").tolist()):
            ids = tokens[start:end].tolist()
            if not ids or ids[-1] != eos:
                raise ValueError(f"{path}: document {i} does not end with {EOS_TOKEN}")
            texts.append(tokenizer.decode(ids[:-1], skip_special_tokens=False))
            start = end
    return texts


def train_tokenizer_job(*, dataset_paths: Sequence[str], out_path: str, params: dict) -> None:
    """The train_tokenizer rule: the whole dataset -> one byte-level BPE `tokenizer.json` (no hub download).

    `params` is the config's `tokenizer` section (vocab_size, min_frequency).
    Documents are read in prompt_id order, so the file does not depend on sharding.
    """
    texts = read_parquets(dataset_paths)
    corpus = texts.sort("prompt_id")["text"].to_list() if texts.height else []
    train_tokenizer(corpus, params["vocab_size"], out_path, min_frequency=params["min_frequency"])


def tokenize_job(
    *,
    dataset_paths: Sequence[str],
    tokenizer_path: str,
    out_dir: str,
    stats_path: str,
    workdir: str,
    source: str,
    seed: int,
) -> None:
    """The tokenize rule: one source's dataset shards -> one folder of datatrove/nanotron token files.

    The stats (see `tokenize_shards`) go to `stats_path`; `seed` shuffles the documents.
    """
    tokenize_shards(list(dataset_paths), out_dir, tokenizer_path, workdir, source=source, seed=seed,
                    stats_path=stats_path)
