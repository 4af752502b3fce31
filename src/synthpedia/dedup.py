"""Near-duplicate removal across all sources with datatrove's MinHash.

`dedup_shards` reads every dataset shard, runs datatrove's four MinHash stages
(signatures, buckets, clusters, filter) in a scratch folder, and writes each
shard back without its near-duplicates, plus a per-source table.

Which copy of a cluster is kept: documents are fed to datatrove sorted by
(source, prompt_id), and of each cluster of near-duplicates the FIRST document
in that order is kept; the others are removed and name it in `duplicate_of`.
datatrove's own clustering keeps the root of a union-by-size forest, which is
deterministic but not a rule a user can state, so after its cluster stage we
rewrite its `.remove` files from its cluster ids (`save_cluster_id=True`) and
its filter stage then drops exactly those. The result does not depend on how
documents are spread over shards or on the number of workers.

Documents with fewer words than `ngram` have no shingles, hence no signature:
they are never treated as duplicates (datatrove's behaviour).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from synthpedia import __version__
from synthpedia.errors import InputError
from synthpedia.io import write_csv, write_parquet
from synthpedia.tables import DEDUP_TABLE_COLUMNS

log = logging.getLogger(__name__)

# Config keys under `dedup:` and their defaults. Defaults follow Cosmopedia's run
# (reference.md): 5-grams, 14 bands x 8 hashes (Jaccard threshold ~0.72),
# 32-bit hashes, seed 1.
DEDUP_DEFAULTS = {
    "ngram": 5,
    "buckets": 14,
    "hashes_per_bucket": 8,
    "seed": 1,
    "hash_bits": 32,
    "workers": 1,
}

# Detail of what was removed (results/dataset/removed.parquet or similar):
# one row per removed document and the kept document of its cluster.
DEDUP_REMOVED_COLUMNS = ("prompt_id", "source", "duplicate_of", "duplicate_of_source")

_REQUIRED_COLUMNS = ("prompt_id", "source", "text")

# Parallel workers cost ~10 s of process start-up here (a child interpreter and three
# forkserver pools importing datatrove) while one worker signs roughly 500-1000 long
# documents/s: below this many documents per worker, extra workers only slow a run down.
DOCS_PER_WORKER = 10_000


def dedup_params(params: dict | None) -> dict:
    """Validate the `dedup:` config block and fill in defaults; a bad key raises InputError naming it."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEDUP_DEFAULTS))
    if unknown:
        raise InputError(f"config dedup: unknown key(s) {unknown}; known: {sorted(DEDUP_DEFAULTS)}")
    merged = {**DEDUP_DEFAULTS, **params}
    for key in DEDUP_DEFAULTS:
        value = merged[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"config dedup.{key}: expected an integer, got {value!r}")
    for key in ("ngram", "buckets", "hashes_per_bucket", "workers"):
        if merged[key] < 1:
            raise InputError(f"config dedup.{key}: must be >= 1, got {merged[key]}")
    if merged["hash_bits"] not in (32, 64):
        raise InputError(f"config dedup.hash_bits: must be 32 or 64, got {merged['hash_bits']}")
    return merged


# ---------------------------------------------------------------------------
# datatrove pieces (module level, so worker processes can unpickle them)
# ---------------------------------------------------------------------------


def _minhash_config(params: dict) -> MinhashConfig:
    # sha1: datatrove's default xxhash path passes str, which xxhash 4.1 refuses.
    return MinhashConfig(
        n_grams=params["ngram"],
        num_buckets=params["buckets"],
        hashes_per_bucket=params["hashes_per_bucket"],
        seed=params["seed"],
        hash_config=HashConfig(hash_fc="sha1", precision=params["hash_bits"]),
    )


class WhitespaceWordTokenizer(WordTokenizer):
    """Words = whitespace-separated runs: ~10x faster than spaCy and needs no model (pitfalls.md)."""

    def __init__(self):
        super().__init__("whitespace")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for sent in self.sent_tokenize(text):
            start = text.index(sent, start)
            spans.append((start, start + len(sent)))
            start += len(sent)
        return spans


class ScratchDocumentReader(PipelineStep):
    """Reads docs/{rank:05d}.parquet (one column, text, already in (source, prompt_id) order)."""

    name = "synthpedia sorted documents"
    type = "📖 - READER"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        texts = pl.read_parquet(os.path.join(self.folder, f"{rank:05d}.parquet"))["text"]
        for idx, text in enumerate(texts):
            self.stat_update("documents")
            yield Document(text=text, id=f"{rank}/{idx}", metadata={"idx": idx})


class KeptIndexWriter(PipelineStep):
    """Writes the in-rank index of every document the filter let through, one per line."""

    name = "synthpedia kept index"
    type = "💽 - WRITER"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, f"{rank:05d}.txt"), "w") as f:
            for doc in data:
                self.stat_update("kept")
                f.write(f"{doc.metadata['idx']}\n")
        yield from ()  # a generator, like every other step


def _cluster_removals(clusters_dir: Path, tasks: int) -> dict[tuple[int, int], tuple[int, int]]:
    """{removed (rank, idx): kept (rank, idx)} from datatrove's cluster ids: the first of each cluster is kept."""
    members: dict[int, list[tuple[int, int]]] = {}
    for rank in range(tasks):
        path = clusters_dir / f"{rank:06d}.clusters"
        if path.exists():  # absent when no document of this rank has a duplicate
            for idx, cluster in np.fromfile(path, dtype="<u4").reshape(-1, 2).tolist():
                members.setdefault(cluster, []).append((rank, idx))
    pairs = {}
    for docs in members.values():
        docs.sort()
        pairs.update({doc: docs[0] for doc in docs[1:]})
    return pairs


def _rewrite_removals(clusters_dir: Path, tasks: int) -> None:
    """Replace datatrove's `.remove` files with the removals of our keep-the-first rule."""
    removed = _cluster_removals(clusters_dir, tasks)
    clusters_dir.mkdir(parents=True, exist_ok=True)  # datatrove creates it only when there are duplicates
    for rank in range(tasks):
        idxs = sorted(idx for (r, idx) in removed if r == rank)
        # an empty file (not a missing one) means "remove nothing", without a warning
        (clusters_dir / f"{rank:06d}.remove").write_bytes(struct.pack(f"<{len(idxs)}I", *idxs))


def _run_minhash_stages(run_dir: str, params: dict, tasks: int) -> None:
    """Run datatrove's four MinHash stages on run_dir/docs/*.parquet (`tasks` files, one per rank).

    The filter stage writes run_dir/kept/{rank}.txt. `tasks` workers run at once
    (1: all in this process, nothing forked).
    """
    run = Path(run_dir)
    config = _minhash_config(params)
    docs, sigs, buckets, clusters = (str(run / d) for d in ("docs", "signatures", "buckets", "clusters"))

    def execute(pipeline, n_tasks, stage):
        # A fresh logging dir per call: with skip_completed a reused one silently skips tasks.
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=n_tasks,
            workers=min(tasks, n_tasks),
            logging_dir=str(run / "logs" / stage),
            skip_completed=False,
        ).run()

    execute(
        [
            ScratchDocumentReader(docs),
            MinhashDedupSignature(output_folder=sigs, config=config, language=WhitespaceWordTokenizer()),
        ],
        tasks,
        "1_signatures",
    )
    execute(
        [MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config)], config.num_buckets, "2_buckets"
    )
    execute(
        [MinhashDedupCluster(input_folder=buckets, output_folder=clusters, config=config, save_cluster_id=True)],
        1,
        "3_clusters",
    )
    _rewrite_removals(Path(clusters), tasks)
    execute(
        [ScratchDocumentReader(docs), MinhashDedupFilter(input_folder=clusters), KeptIndexWriter(str(run / "kept"))],
        tasks,
        "4_filter",
    )


def _run_stages_in_child(run_dir: str, params: dict, tasks: int) -> None:
    """Run the stages in a fresh interpreter whose __main__ is this (guarded) module.

    datatrove starts parallel workers with forkserver, which re-imports the
    caller's __main__: an unguarded entry script (e.g. a Snakemake `script:`)
    would run again in every worker. `python -m synthpedia.dedup` is a main
    module that is safe to re-import, whoever calls us.
    """
    spec = Path(run_dir) / "spec.json"
    spec.write_text(json.dumps({"run_dir": run_dir, "params": params, "tasks": tasks}))
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:  # the child's datatrove log goes where ours goes (the rule's log, after logs.log_to)
        sys.stderr.flush()
        sink = sys.stderr if sys.stderr.fileno() >= 0 else None
    except (AttributeError, OSError, ValueError):  # e.g. pytest's capture has no file descriptor
        sink = None
    done = subprocess.run([sys.executable, "-m", "synthpedia.dedup", str(spec)], env=env, stdout=sink, stderr=sink)
    if done.returncode != 0:
        raise RuntimeError(f"dedup: MinHash stages failed (exit {done.returncode}); datatrove logs in {run_dir}/logs")


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@dataclass
class DedupResult:
    """What `near_duplicates` found: the per-source table and one row per removed document."""

    table: pl.DataFrame  # DEDUP_TABLE_COLUMNS
    removed: pl.DataFrame  # DEDUP_REMOVED_COLUMNS


def _read_index(inputs: list[str]) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """Read every shard; return the shards and one (shard, row, source, prompt_id, text) frame in keep order."""
    frames, parts = [], []
    for shard, path in enumerate(inputs):
        try:
            df = pl.read_parquet(path)
        except Exception as exc:  # polars raises several types for unreadable files
            raise InputError(f"dedup: cannot read parquet shard {path}: {exc}") from exc
        frames.append(df)
        if df.height == 0:
            continue
        missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(f"dedup: shard {path} lacks column(s) {missing}")
        part = df.select(
            pl.lit(shard, dtype=pl.Int64).alias("_shard"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
            *(pl.col(c).cast(pl.String) for c in _REQUIRED_COLUMNS),
        )
        for column in _REQUIRED_COLUMNS:
            bad = part.filter(pl.col(column).is_null())
            if bad.height:
                row = bad.row(0, named=True)
                raise InputError(
                    f"dedup: shard {path}, row {row['_row']} (prompt_id={row['prompt_id']}): {column} is null"
                )
        parts.append(part)
    schema = {"_shard": pl.Int64, "_row": pl.Int64, **{c: pl.String for c in _REQUIRED_COLUMNS}}
    index = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    dup = index.filter(pl.col("prompt_id").is_duplicated()).sort("prompt_id", "_shard", "_row")
    if dup.height:
        first = dup.row(0, named=True)
        where = sorted({inputs[s] for s in dup.filter(pl.col("prompt_id") == first["prompt_id"])["_shard"]})
        raise InputError(f"dedup: prompt_id {first['prompt_id']} appears more than once (in {', '.join(where)})")
    return frames, index.sort("source", "prompt_id")


def near_duplicates(
    index: pl.DataFrame, params: dict, workdir: str, config_hash: str, keep_workdir: bool = False
) -> tuple[pl.Series, DedupResult]:
    """Find near-duplicates among `index` rows (columns source, prompt_id, text, sorted by (source, prompt_id)).

    Returns a boolean Series (True = keep, aligned with `index`) and the tables.
    Scratch files go to a fresh folder under `workdir`, removed on success
    unless `keep_workdir`.
    """
    params = dedup_params(params)
    n = index.height
    removed_of: dict[int, int] = {}
    if n:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="minhash-", dir=workdir))
        # one task per worker; contiguous slices keep the global order:
        # (rank, idx) order == (source, prompt_id) order, so the result does not depend on `tasks`
        tasks = max(1, min(params["workers"], n // DOCS_PER_WORKER))
        bounds = np.linspace(0, n, tasks + 1).astype(int).tolist()
        (run_dir / "docs").mkdir()
        for rank in range(tasks):
            index.slice(bounds[rank], bounds[rank + 1] - bounds[rank]).select("text").write_parquet(
                run_dir / "docs" / f"{rank:05d}.parquet"
            )
        if tasks > 1:
            _run_stages_in_child(str(run_dir), params, tasks)
        else:
            _run_minhash_stages(str(run_dir), params, tasks)

        # what datatrove's filter stage let through
        kept = np.zeros(n, dtype=bool)
        for rank in range(tasks):
            path = run_dir / "kept" / f"{rank:05d}.txt"
            idxs = [int(x) for x in path.read_text().split()] if path.exists() else []
            kept[[bounds[rank] + i for i in idxs]] = True
        # which kept document each removed one duplicates (from our cluster rule)
        removed_pairs = _cluster_removals(run_dir / "clusters", tasks)
        removed_of = {bounds[r] + i: bounds[kr] + ki for (r, i), (kr, ki) in removed_pairs.items()}
        if set(np.flatnonzero(~kept).tolist()) != set(removed_of):
            raise RuntimeError(f"dedup: datatrove's filter disagrees with the cluster files in {run_dir}")
        if not keep_workdir:
            shutil.rmtree(run_dir, ignore_errors=True)

    keep = pl.Series("keep", [i not in removed_of for i in range(n)], dtype=pl.Boolean)
    rows = sorted(removed_of)
    kept_rows = [removed_of[i] for i in rows]
    removed = pl.DataFrame(
        {
            "prompt_id": index["prompt_id"].gather(rows) if rows else [],
            "source": index["source"].gather(rows) if rows else [],
            "duplicate_of": index["prompt_id"].gather(kept_rows) if rows else [],
            "duplicate_of_source": index["source"].gather(kept_rows) if rows else [],
        },
        schema={c: pl.String for c in DEDUP_REMOVED_COLUMNS},
    )
    table = (
        index.select("source")
        .with_columns(keep)
        .group_by("source")
        .agg(
            pl.len().cast(pl.Int64).alias("documents_in"),
            (~pl.col("keep")).sum().cast(pl.Int64).alias("removed"),
            pl.col("keep").sum().cast(pl.Int64).alias("kept"),
        )
        .sort("source")
        .with_columns(pl.lit(config_hash).alias("config_hash"), pl.lit(__version__).alias("version"))
        .select(DEDUP_TABLE_COLUMNS)
    )
    return keep, DedupResult(table=table, removed=removed)


def dedup_shards(
    inputs: list[str],
    outputs: list[str],
    params: dict,
    workdir: str,
    config_hash: str,
    removed_path: str | None = None,
    keep_workdir: bool = False,
) -> pl.DataFrame:
    """Remove near-duplicates across all `inputs` shards (all sources together).

    inputs: parquet shards with at least prompt_id (unique), source, text; any
        other columns are kept untouched.
    outputs: one path per input (same order); each gets its input's rows and
        columns, in the same row order, minus the removed duplicates (atomic write).
    params: the `dedup:` config block (see DEDUP_DEFAULTS); `workers` is an upper
        bound (at most one per DOCS_PER_WORKER documents); with more than one, the
        stages run in a child interpreter (`python -m synthpedia.dedup`), so an
        entry script without a __main__ guard is safe.
    workdir: scratch folder; each call works in a fresh subfolder of it.
    removed_path: if given, also write one row per removed document
        (DEDUP_REMOVED_COLUMNS) there, as parquet, or CSV if it ends in .csv.

    Returns the per-source table (DEDUP_TABLE_COLUMNS). Of each cluster of
    near-duplicates the first document in (source, prompt_id) order is kept.
    """
    params = dedup_params(params)  # a bad config fails before any reading
    inputs, outputs = [str(p) for p in inputs], [str(p) for p in outputs]
    if len(inputs) != len(outputs):
        raise InputError(f"dedup: {len(inputs)} input shards but {len(outputs)} outputs")
    frames, index = _read_index(inputs)
    keep, result = near_duplicates(index, params, workdir, config_hash, keep_workdir=keep_workdir)

    kept_rows = index.select("_shard", "_row").filter(keep)
    for shard, (df, out) in enumerate(zip(frames, outputs)):
        if df.height:
            mask = np.zeros(df.height, dtype=bool)
            mask[kept_rows.filter(pl.col("_shard") == shard)["_row"].to_numpy()] = True
            df = df.filter(pl.Series(mask))
        write_parquet(df, out)
    if removed_path is not None:
        (write_csv if str(removed_path).endswith(".csv") else write_parquet)(result.removed, removed_path)
    return result.table


def _main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[0]).read_text())
    _run_minhash_stages(spec["run_dir"], spec["params"], spec["tasks"])


def dedup_job(
    inputs: Sequence[str],
    outputs: Sequence[str],
    table_path: str,
    removed_path: str,
    params: dict,
    workdir: str,
    config_hash: str,
    workers: int = 1,
) -> None:
    """MinHash near-duplicate removal across all sources (datatrove)."""
    table = dedup_shards(list(inputs), list(outputs), {**params, "workers": workers}, workdir, config_hash,
                         removed_path=removed_path)
    log.info("dedup:\n%s", table)
    write_csv(table, table_path)


if __name__ == "__main__":
    _main(sys.argv[1:])
