"""Tokenisation: the run's tokenizer, and datatrove token files per dataset shard.

The tokenizer is either a byte-level BPE trained on a bounded, seeded sample
of the dataset (`sample_documents`, `train_tokenizer_job`) or a pretrained
`tokenizer.json` (a local file or folder, or a hub id on a cluster:
`pretrained_tokenizer_job`). Its document separator (eos) is `<|endoftext|>`
for the trained BPE, and the pretrained tokenizer's own eos otherwise
(`tokenizer_eos`).

`tokenize_shards` turns one dataset shard (or one external parquet file) into
one folder of nanotron/datatrove token files (`000_<name>.ds`, `.ds.index`,
`.ds.metadata`) with the eos after every document; `merge_token_stats`
writes a source's `stats.json`, which lists its shard folders in order:
training reads them as one stream per source and weights sources (mixture
weights) by sampling from each at its own rate. Memory is bounded by one
shard in every job, and by the sample plus one shard when training the BPE.
"""

from __future__ import annotations

import hashlib
import heapq
import json
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
from synthpedia.io import atomic_path, fresh_folder, write_json
from synthpedia.pretrained import pretrained_location

log = logging.getLogger(__name__)

# Document separator of the trained BPE, also the model's eos: appended after every document.
EOS_TOKEN = "<|endoftext|>"
# A pretrained tokenizer without a tokenizer_config.json: the first of these in its vocabulary is its eos.
EOS_CANDIDATES = (EOS_TOKEN, "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>")
# Written beside a pretrained tokenizer.json in results/tokenizer/: its eos and where it came from.
TOKENIZER_CONFIG = "tokenizer_config.json"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_path: str | os.PathLike,
    min_frequency: int,
) -> None:
    """Train a byte-level BPE on `texts` and write its tokenizer.json to `out_path` (atomically).

    The vocabulary holds the 256 byte symbols, `<|endoftext|>` (id 0) and
    merges up to `vocab_size`, of pairs seen at least `min_frequency` times.
    Byte-level, no normaliser: any text encodes and decodes back exactly. Same
    texts in the same order give the same file. `texts` is consumed once, as
    an iterator: bound it before (see `sample_documents`).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if not isinstance(vocab_size, int) or vocab_size < 257:
        raise InputError(
            f"config tokenizer.vocab_size: must be an integer >= 257 (256 bytes + eos), got {vocab_size!r}"
        )
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


def sample_key(seed: int, document_id: str) -> int:
    """The seeded 64-bit key of one document: the sample keeps the documents with the smallest keys."""
    digest = hashlib.blake2b(f"{seed}\x00{document_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def sample_documents(paths: Sequence[str | os.PathLike], size: int, seed: int) -> tuple[list[str], int]:
    """A seeded sample of at most `size` documents of the shards `paths`, read one shard at a time.

    The documents with the `size` smallest keys `sample_key(seed, prompt_id)`
    (bottom-k sampling): which documents are picked depends on their ids and
    the seed only, not on sharding or shard order, and memory holds the sample
    plus one shard whatever the corpus size. Returns the sampled texts in
    prompt_id order and the number of documents seen.
    """
    if size < 1:
        raise InputError(f"config tokenizer.sample_documents: must be >= 1, got {size!r}")
    heap: list[tuple[int, str, str]] = []  # (-key, prompt_id, text): the root is the largest key kept
    seen = 0
    for path in paths:
        columns = set(pl.read_parquet_schema(path))
        if not {"prompt_id", "text"} <= columns:
            if pl.scan_parquet(path).select(pl.len()).collect().item() == 0:
                continue
            raise InputError(f"train_tokenizer: shard {path} lacks column(s) {sorted({'prompt_id', 'text'} - columns)}")
        ids = pl.read_parquet(path, columns=["prompt_id"])["prompt_id"].cast(pl.String).to_list()
        if None in ids:
            raise InputError(f"train_tokenizer: shard {path}: a document with a null prompt_id")
        seen += len(ids)
        # Keys first; the texts of this shard's candidates only (once the sample is full, few are).
        keys = [sample_key(seed, prompt_id) for prompt_id in ids]
        bound = -heap[0][0] if len(heap) >= size else None
        rows = [i for i, key in enumerate(keys) if bound is None or key < bound]
        if not rows:
            continue
        texts = pl.read_parquet(path, columns=["text"])["text"].gather(rows).to_list()
        for row, text in zip(rows, texts):
            if text is None:
                raise InputError(f"train_tokenizer: shard {path}, prompt_id {ids[row]}: text is null")
            key = keys[row]
            if len(heap) < size:
                heapq.heappush(heap, (-key, ids[row], text))
            elif key < -heap[0][0]:
                heapq.heapreplace(heap, (-key, ids[row], text))
        del texts
    return [text for _, _, text in sorted(heap, key=lambda item: item[1])], seen


def tokenizer_eos(tokenizer_json: str | os.PathLike) -> str:
    """The document separator of the tokenizer at `tokenizer_json`.

    The `eos_token` of a tokenizer_config.json beside it (a pretrained
    tokenizer's, or the one `pretrained_tokenizer_job` writes) if there is one,
    else the first of EOS_CANDIDATES in its vocabulary (`<|endoftext|>` for
    the trained BPE).
    """
    from tokenizers import Tokenizer

    path = Path(tokenizer_json)
    config = path.with_name(TOKENIZER_CONFIG)
    if config.is_file():
        eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
        if isinstance(eos, dict):  # transformers' AddedToken form
            eos = eos.get("content")
        if eos:
            return str(eos)
    tokenizer = Tokenizer.from_file(str(path))
    for candidate in EOS_CANDIDATES:
        if tokenizer.token_to_id(candidate) is not None:
            return candidate
    raise InputError(f"tokenizer: {path} has none of {list(EOS_CANDIDATES)} and no {TOKENIZER_CONFIG} naming its eos")


def load_tokenizer(tokenizer_json: str | os.PathLike):
    """Load a tokenizer.json FILE (a folder would be taken as a hub name by datatrove); check it has its eos."""
    from tokenizers import Tokenizer

    path = Path(tokenizer_json)
    if not path.is_file():
        raise InputError(f"tokenizer: {path} is not a tokenizer.json file")
    tokenizer = Tokenizer.from_file(str(path))
    eos = tokenizer_eos(path)
    if tokenizer.token_to_id(eos) is None:
        raise InputError(f"tokenizer: {path} has no {eos} token (the document separator)")
    return tokenizer


def token_size_for(vocab_size: int) -> int:
    """Bytes per token in datatrove's files: uint16, uint32 above 65,536 entries."""
    return 4 if vocab_size > 65536 else 2


def _read_texts(inputs: list[str], source: str | None, external: bool = False) -> tuple[pl.DataFrame, str | None]:
    """(prompt_id, source, text) of all shards, sorted by prompt_id so order does not depend on sharding.

    `external`: files from outside the workflow, which need a `text` column only; their rows keep
    file order (prompt_id is "<file index>:<row>").
    """
    parts = []
    wanted = ("text",) if external else ("prompt_id", "source", "text")
    for index, path in enumerate(inputs):
        columns = [c for c in wanted if c in pl.read_parquet_schema(path)]
        if len(columns) < len(wanted):
            if pl.scan_parquet(path).select(pl.len()).collect().item() == 0:
                continue  # an empty shard may come without columns
            missing = sorted(set(wanted) - set(columns))
            raise InputError(f"tokenize: {'file' if external else 'shard'} {path} lacks column(s) {missing}")
        df = pl.read_parquet(path, columns=columns)  # only what is needed: shards carry long prompts too
        if df.height == 0:
            continue
        if external:
            df = df.select(
                pl.format("{}:{}", pl.lit(f"{index:06d}"), pl.int_range(pl.len()).cast(pl.String).str.zfill(12))
                .alias("prompt_id"),
                pl.lit(source, dtype=pl.String).alias("source"),
                pl.col("text").cast(pl.String),
            )
        else:
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
    name: str | None = None,
    external: bool = False,
) -> dict:
    """Tokenise dataset shards (the rule: one shard) into one folder of datatrove token files.

    inputs: parquet shards with prompt_id, source, text (`source`, if given, is
        checked against every row); with `external`, parquet files with a
        `text` column only, read in file order.
    out_dir: replaced as a whole (built next to it, then renamed) by
        `000_<name>.ds` (uint16 tokens, uint32 if vocab > 65,536),
        `000_<name>.ds.index` (uint64 cumulative document ends),
        `000_<name>.ds.metadata` (tokenizer|token_size, token count),
        `<name>.ds.metadata` (total) and, unless `stats_path` is given,
        `stats.json`. More `.ds` files (001_, ...) only with max_tokens_per_file.
        `name` defaults to the source.
    workdir: scratch, emptied first (a killed job's leftovers go) and removed after.
    Every document is followed by the tokenizer's eos (`tokenizer_eos`).
    Documents are sorted by prompt_id, then shuffled by datatrove's
    DocumentTokenizer with `seed` if `shuffle`; its merger then writes the
    final file(s). The same documents and seed give the same bytes, however
    they are spread over the inputs; each document's tokens do not depend on
    which shard holds it.

    Returns the stats written to stats.json: source, documents, tokens (eos
    included), files, token_size, vocab_size, eos_token, tokenizer_sha256,
    shuffle, seed, config_hash, version.
    """
    inputs = [str(p) for p in inputs]
    tokenizer = load_tokenizer(tokenizer_json)
    eos = tokenizer_eos(tokenizer_json)
    frame, source = _read_texts(inputs, source, external)
    name = name or source or "tokens"
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):  # a killed attempt's half-built folder
        shutil.rmtree(stale, ignore_errors=True)
    run_dir = fresh_folder(workdir)
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
                    eos_token=eos,
                    save_filename=name,
                    # document order: shuffled here, seeded (the merger only interleaves files)
                    shuffle_documents=shuffle,
                    seed=seed,
                    # encode_batch's Encodings take ~100 bytes a token: 1k documents at a time keep
                    # that to tens of MB (datatrove's 10k took ~0.4 GB on 730-token documents).
                    batch_size=1000,
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
            "token_size": token_size_for(vocab_size),
            "vocab_size": vocab_size,
            "eos_token": eos,
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


def merge_token_stats(
    shard_stats: Sequence[str | os.PathLike],
    folders: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    name: str,
    config_hash: str | None = None,
) -> dict:
    """One source's stats.json from its shards' stats (same order as `folders`, its shard token folders).

    Sums documents and tokens, keeps the per-shard figures, and lists the
    folders in order under `folders`: training reads the source as these
    folders' `.ds` files one after the other. Shards made with another
    tokenizer than the first raise.
    """
    if len(shard_stats) != len(folders):
        raise ValueError("merge_token_stats: one stats file per folder")
    shards = [json.loads(Path(p).read_text(encoding="utf-8")) for p in shard_stats]
    for path, stats in zip(shard_stats, shards):
        if shards and (stats["tokenizer_sha256"], stats["token_size"]) != (
            shards[0]["tokenizer_sha256"], shards[0]["token_size"]
        ):
            raise InputError(f"tokenize: {path} was made with another tokenizer than {shard_stats[0]}")
    first = shards[0] if shards else {}
    merged = {
        "source": name,
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "folders": [str(f) for f in folders],
        "shards": [
            {"folder": str(f), "documents": s["documents"], "tokens": s["tokens"], "files": s["files"]}
            for f, s in zip(folders, shards)
        ],
        **{k: first.get(k) for k in ("token_size", "vocab_size", "eos_token", "tokenizer_sha256", "shuffle", "seed")},
        "config_hash": config_hash,
        "version": __version__,
    }
    write_json(merged, out_path)
    return merged


def _metadata_tokenizer(folder: Path) -> tuple[str | None, int | None]:
    """(tokenizer name or path, token size) of the first datatrove `.ds.metadata` with a "name|size" line."""
    for meta in sorted(folder.rglob("*.ds.metadata")):
        first = meta.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        if first and "|" in first[0]:
            name, size = first[0].rsplit("|", 1)
            try:
                return name, int(size)
            except ValueError:
                raise InputError(f"tokens: bad metadata line {first[0]!r} ({meta})") from None
    return None, None


def check_token_folder(
    folder: str | os.PathLike,
    tokenizer_json: str | os.PathLike,
    key: str,
    name: str | None = None,
    pretrained: str | None = None,
    out_path: str | os.PathLike | None = None,
    config_hash: str | None = None,
) -> dict:
    """Check a datatrove token folder made outside the workflow against the run's tokenizer; its stats.

    What datatrove's files allow: the token size in its metadata matches the
    vocabulary's; the tokenizer named there, when it is a local tokenizer.json
    or the configured `pretrained` id, is the run's tokenizer (a tokenizer
    file with other bytes raises); no token id reaches past the vocabulary and
    documents end with the run's eos (first document of every file, with an
    index). `key` names the config key in errors, `name` the mixture entry. The stats (as
    `merge_token_stats`, the folder as its one folder) go to `out_path`.
    """
    folder = Path(folder)
    files = sorted(folder.rglob("*.ds"))
    if not files:
        raise InputError(f"config key '{key}': no datatrove .ds token files under {folder}")
    tokenizer = load_tokenizer(tokenizer_json)
    vocab_size = tokenizer.get_vocab_size()
    eos = tokenizer_eos(tokenizer_json)
    eos_id = tokenizer.token_to_id(eos)
    name, size = _metadata_tokenizer(folder)
    want = token_size_for(vocab_size)
    if size is not None and size != want:
        raise InputError(f"config key '{key}': {folder} holds {size}-byte tokens, but the run's tokenizer "
                         f"({vocab_size} entries) makes {want}-byte tokens")
    ours = Path(tokenizer_json).read_bytes()
    if name and Path(name).is_file():
        if Path(name).read_bytes() != ours:
            raise InputError(f"config key '{key}': {folder} was tokenised with {name}, not the run's tokenizer")
    elif name and pretrained and name != pretrained:
        raise InputError(f"config key '{key}': {folder} was tokenised with {name!r}, not {pretrained!r}")
    elif name:
        log.warning("%s: %s names tokenizer %r, which cannot be compared here", key, folder, name)
    tokens = documents = 0
    dtype = "<u4" if want == 4 else "<u2"
    for path in files:
        data = np.memmap(path, dtype=dtype, mode="r")
        tokens += len(data)
        head = np.asarray(data[: 1 << 20])
        if len(head) and int(head.max()) >= vocab_size:
            raise InputError(f"config key '{key}': {path} holds token id {int(head.max())}, past the run's "
                             f"vocabulary ({vocab_size} entries)")
        index = Path(f"{path}.index")
        if index.is_file():
            ends = np.fromfile(index, dtype="<u8")
            documents += len(ends)
            if len(ends) and int(data[int(ends[0]) - 1]) != eos_id:
                raise InputError(f"config key '{key}': {path}: the first document does not end with the run's "
                                 f"eos {eos!r} (id {eos_id})")
    stats = {
        "source": name,
        "documents": documents,
        "tokens": tokens,
        "folders": [str(folder)],
        "token_size": want,
        "vocab_size": vocab_size,
        "eos_token": eos,
        "tokenizer_sha256": hashlib.sha256(ours).hexdigest(),
        "external": True,
        "config_hash": config_hash,
        "version": __version__,
    }
    if out_path is not None:
        write_json(stats, out_path)
    return stats


def read_token_documents(folder: str | os.PathLike, tokenizer_json: str | os.PathLike) -> list[str]:
    """Decode a token folder back to its documents (in file order), each without its trailing eos.

    Raises ValueError if a document does not end with the tokenizer's eos.
    """
    return [text for text in _token_documents(folder, tokenizer_json, decode=True)]


def read_token_ids(folder: str | os.PathLike, tokenizer_json: str | os.PathLike) -> list[list[int]]:
    """The token ids of every document of a token folder (in file order), each with its trailing eos."""
    return list(_token_documents(folder, tokenizer_json, decode=False))


def _token_documents(folder, tokenizer_json, decode: bool):
    tokenizer = load_tokenizer(tokenizer_json)
    eos_token = tokenizer_eos(tokenizer_json)
    eos = tokenizer.token_to_id(eos_token)
    dtype = "<u4" if tokenizer.get_vocab_size() > 65536 else "<u2"
    for path in sorted(Path(folder).glob("*.ds")):
        tokens = np.fromfile(path, dtype=dtype)
        start = 0
        for i, end in enumerate(np.fromfile(f"{path}.index", dtype="<u8").tolist()):
            ids = tokens[start:end].tolist()
            if not ids or ids[-1] != eos:
                raise ValueError(f"{path}: document {i} does not end with {eos_token}")
            yield tokenizer.decode(ids[:-1], skip_special_tokens=False) if decode else ids
            start = end


def train_tokenizer_job(*, dataset_paths: Sequence[str], out_path: str, params: dict, seed: int = 0) -> None:
    """The train_tokenizer rule: a seeded sample of the dataset -> one byte-level BPE `tokenizer.json`.

    `params` is the config's `tokenizer` section (vocab_size, min_frequency,
    sample_documents). The sample (`sample_documents`) is read shard by shard
    and trained on in prompt_id order, so the file depends on the documents
    and `seed` only, not on sharding. Beside `out_path`: tokenizer_config.json
    naming the eos, `<|endoftext|>`.
    """
    size = params.get("sample_documents") or 100_000
    texts, seen = sample_documents(dataset_paths, size, seed)
    log.info("train_tokenizer: %d of %d documents sampled (seed %d, at most %d), %d characters",
             len(texts), seen, seed, size, sum(len(t) for t in texts))
    train_tokenizer(texts, params["vocab_size"], out_path, min_frequency=params["min_frequency"])
    # Beside it, as for a pretrained tokenizer: the eos every later stage reads (tokenizer_eos).
    write_json({"eos_token": EOS_TOKEN, "pretrained": None}, Path(out_path).with_name(TOKENIZER_CONFIG))


def pretrained_tokenizer_job(*, pretrained: str, out_path: str, offline: bool) -> None:
    """The pretrained_tokenizer rule: `pretrained` (file, folder or hub id) -> results/tokenizer/.

    Writes `out_path` (tokenizer.json, the pretrained file's bytes) and,
    beside it, tokenizer_config.json with the tokenizer's eos (from its own
    tokenizer_config.json when it has one) and where it came from. A hub id
    is downloaded unless `offline`.
    """
    kind, path = pretrained_location(pretrained)
    config_path = None
    if kind == "hub":
        if offline:
            raise InputError(f"config key 'tokenizer.pretrained': {pretrained!r} is not a local path, and offline "
                             "is true (a hub id needs offline: false)")
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(pretrained, "tokenizer.json"))
        try:
            config_path = Path(hf_hub_download(pretrained, TOKENIZER_CONFIG))
        except Exception as err:  # noqa: BLE001 - optional file: the vocabulary decides the eos then
            log.warning("pretrained tokenizer %s: no %s (%s)", pretrained, TOKENIZER_CONFIG, err)
    else:
        config_path = path.with_name(TOKENIZER_CONFIG)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".pretrained.") as tmp:
        staged = Path(tmp) / "tokenizer.json"
        shutil.copyfile(path, staged)
        if config_path is not None and config_path.is_file():
            shutil.copyfile(config_path, Path(tmp) / TOKENIZER_CONFIG)
        eos = tokenizer_eos(staged)
        load_tokenizer(staged)  # the eos is in its vocabulary
        write_json({"eos_token": eos, "pretrained": pretrained}, out.with_name(TOKENIZER_CONFIG))
        with atomic_path(out) as final:
            shutil.copyfile(staged, final)
    log.info("pretrained tokenizer %s: %s, eos %s", pretrained, path, eos)


def tokenize_job(
    *,
    dataset_paths: Sequence[str],
    tokenizer_path: str,
    out_dir: str,
    stats_path: str,
    workdir: str,
    source: str,
    seed: int,
    name: str | None = None,
    external: bool = False,
) -> None:
    """The tokenize rules: one dataset shard (or external parquet file) -> one folder of token files.

    The stats (see `tokenize_shards`) go to `stats_path`; `seed` shuffles the documents.
    """
    tokenize_shards(list(dataset_paths), out_dir, tokenizer_path, workdir, source=source, seed=seed,
                    stats_path=stats_path, name=name, external=external)
