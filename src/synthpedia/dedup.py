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
from pathlib import Path
from typing import Sequence

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

from synthpedia.errors import InputError
from synthpedia.io import write_csv, write_parquet
from synthpedia.tables import DEDUP_REMOVED_COLUMNS, TABLES, write_table

log = logging.getLogger(__name__)

# The MinHash settings: the keys of the `dedup:` config block (defaults in the config schema).
MINHASH_KEYS = ("ngram", "buckets", "hashes_per_bucket", "seed", "hash_bits")

_REQUIRED_COLUMNS = ("prompt_id", "source", "text")

# Parallel workers cost ~10 s of process start-up here (a child interpreter and three
# forkserver pools importing datatrove) while one worker signs roughly 500-1000 long
# documents/s: below this many documents per worker, extra workers only slow a run down.
DOCS_PER_WORKER = 10_000


def minhash_settings(settings: dict) -> dict:
    """The MinHash settings of the `dedup:` config block, as the schema validated and filled them in.

    Raises InputError when a key is missing or unknown (a block that did not come
    through the config validation).
    """
    if sorted(settings) != sorted(MINHASH_KEYS):
        raise InputError(f"config key 'dedup': expected the keys {list(MINHASH_KEYS)}, got {sorted(settings)}")
    return {key: settings[key] for key in MINHASH_KEYS}


# ---------------------------------------------------------------------------
# datatrove pieces (module level, so worker processes can unpickle them)
# ---------------------------------------------------------------------------


def _minhash_config(settings: dict) -> MinhashConfig:
    """datatrove's MinhashConfig from the MinHash settings."""
    # sha1: datatrove's default xxhash path passes str, which xxhash 4.1 refuses.
    return MinhashConfig(
        n_grams=settings["ngram"],
        num_buckets=settings["buckets"],
        hashes_per_bucket=settings["hashes_per_bucket"],
        seed=settings["seed"],
        hash_config=HashConfig(hash_fc="sha1", precision=settings["hash_bits"]),
    )


class WhitespaceWordTokenizer(WordTokenizer):
    """Words = whitespace-separated runs: ~10x faster than datatrove's default spaCy tokenizer, and needs no model."""

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


class _ScratchStep(PipelineStep):
    """A pipeline step that reads or writes one file per rank in a scratch folder."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def rank_file(self, rank: int, suffix: str) -> str:
        """The folder's file of rank `rank`: {rank:05d}{suffix}."""
        return os.path.join(self.folder, f"{rank:05d}{suffix}")


class ScratchDocumentReader(_ScratchStep):
    """Reads {rank:05d}.parquet of its folder (one column, text, already in (source, prompt_id) order)."""

    name, type = "synthpedia sorted documents", "📖 - READER"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        texts = pl.read_parquet(self.rank_file(rank, ".parquet"))["text"]
        for idx, text in enumerate(texts):
            self.stat_update("documents")
            yield Document(text=text, id=f"{rank}/{idx}", metadata={"idx": idx})


class KeptIndexWriter(_ScratchStep):
    """Writes the in-rank index of every document the filter let through, one per line."""

    name, type = "synthpedia kept index", "💽 - WRITER"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        os.makedirs(self.folder, exist_ok=True)
        with open(self.rank_file(rank, ".txt"), "w") as f:
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


def _run_minhash_stages(run_dir: str, settings: dict, tasks: int) -> None:
    """Run datatrove's four MinHash stages on run_dir/docs/*.parquet (`tasks` files, one per rank).

    The filter stage writes run_dir/kept/{rank}.txt. `tasks` workers run at once
    (1: all in this process, nothing forked).
    """
    run = Path(run_dir)
    config = _minhash_config(settings)
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


def _run_stages_in_child(run_dir: str, settings: dict, tasks: int) -> None:
    """Run the stages in a fresh interpreter whose __main__ is this (guarded) module.

    datatrove starts parallel workers with forkserver, which re-imports the
    caller's __main__: an unguarded entry script (e.g. a Snakemake `script:`)
    would run again in every worker. `python -m synthpedia.dedup` is a main
    module that is safe to re-import, whoever calls us.
    """
    spec = Path(run_dir) / "spec.json"
    spec.write_text(json.dumps({"run_dir": run_dir, "settings": settings, "tasks": tasks}))
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

    table: pl.DataFrame  # report table "dedup", without the provenance columns
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


def _minhash_keep(index: pl.DataFrame, settings: dict, workers: int, workdir: str, keep_workdir: bool) -> dict:
    """{removed row: kept row} of `index` (rows in (source, prompt_id) order), from datatrove's MinHash stages.

    One task per worker, at most one per DOCS_PER_WORKER documents; contiguous
    slices keep the global order: (rank, idx) order == (source, prompt_id) order,
    so the result does not depend on the number of tasks.
    """
    n = index.height
    Path(workdir).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="minhash-", dir=workdir))
    tasks = max(1, min(workers, n // DOCS_PER_WORKER))
    bounds = np.linspace(0, n, tasks + 1).astype(int).tolist()
    (run_dir / "docs").mkdir()
    for rank in range(tasks):
        index.slice(bounds[rank], bounds[rank + 1] - bounds[rank]).select("text").write_parquet(
            run_dir / "docs" / f"{rank:05d}.parquet"
        )
    if tasks > 1:
        _run_stages_in_child(str(run_dir), settings, tasks)
    else:
        _run_minhash_stages(str(run_dir), settings, tasks)

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
    return removed_of


def near_duplicates(
    index: pl.DataFrame, settings: dict, workers: int, workdir: str, keep_workdir: bool = False
) -> tuple[pl.Series, DedupResult]:
    """Find near-duplicates among `index` rows (columns source, prompt_id, text, sorted by (source, prompt_id)).

    `settings`: the MinHash settings (see `minhash_settings`); `workers`: the most
    datatrove workers to run at once. Returns a boolean Series (True = keep,
    aligned with `index`) and the tables. Scratch files go to a fresh folder
    under `workdir`, removed on success unless `keep_workdir`.
    """
    settings = minhash_settings(settings)
    removed_of = _minhash_keep(index, settings, workers, workdir, keep_workdir) if index.height else {}
    keep = pl.Series("keep", [i not in removed_of for i in range(index.height)], dtype=pl.Boolean)
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
            pl.len().alias("documents_in"),
            (~pl.col("keep")).sum().alias("removed"),
            pl.col("keep").sum().alias("kept"),
        )
        .sort("source")
        .select([pl.col(c).cast(t) for c, t in TABLES["dedup"].items()])
    )
    return keep, DedupResult(table=table, removed=removed)


def dedup_shards(
    inputs: list[str],
    outputs: list[str],
    settings: dict,
    workers: int,
    workdir: str,
    removed_path: str | None = None,
    keep_workdir: bool = False,
) -> pl.DataFrame:
    """Remove near-duplicates across all `inputs` shards (all sources together).

    inputs: parquet shards with at least prompt_id (unique), source, text; any
        other columns are kept untouched.
    outputs: one path per input (same order); each gets its input's rows and
        columns, in the same row order, minus the removed duplicates (atomic write).
    settings: the `dedup:` config block, validated (see `minhash_settings`).
    workers: the most datatrove workers at once (at most one per DOCS_PER_WORKER
        documents); with more than one, the stages run in a child interpreter
        (`python -m synthpedia.dedup`), so an entry script without a __main__
        guard is safe.
    workdir: scratch folder; each call works in a fresh subfolder of it.
    removed_path: if given, also write one row per removed document
        (DEDUP_REMOVED_COLUMNS) there, as parquet, or CSV if it ends in .csv.

    Returns the per-source table (report table "dedup", without the provenance
    columns). Of each cluster of near-duplicates the first document in
    (source, prompt_id) order is kept.
    """
    settings = minhash_settings(settings)  # a bad config fails before any reading
    inputs, outputs = [str(p) for p in inputs], [str(p) for p in outputs]
    if len(inputs) != len(outputs):
        raise InputError(f"dedup: {len(inputs)} input shards but {len(outputs)} outputs")
    frames, index = _read_index(inputs)
    keep, result = near_duplicates(index, settings, workers, workdir, keep_workdir=keep_workdir)

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


def dedup_job(
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
    tables: Sequence[str],
    removed: str,
    settings: dict,
    workdir: str,
    config_hash: str,
    workers: int,
) -> None:
    """The dedup rule: MinHash near-duplicate removal across all sources (datatrove).

    In: the clean shards `inputs`, the `dedup:` config block `settings`, the job's
    threads as `workers`. Out: the dataset shards `outputs`, report table "dedup"
    at each path of `tables` (.csv or .parquet, stamped with `config_hash`), and
    the removed documents at `removed` (parquet, DEDUP_REMOVED_COLUMNS).
    """
    table = dedup_shards(list(inputs), list(outputs), settings, workers, workdir, removed_path=removed)
    log.info("dedup:\n%s", table)
    write_table(table, "dedup", config_hash, *tables)


def _main(argv: list[str]) -> None:
    """The child interpreter's entry (see `_run_stages_in_child`): argv[0] is its spec.json."""
    spec = json.loads(Path(argv[0]).read_text())
    _run_minhash_stages(spec["run_dir"], spec["settings"], spec["tasks"])


if __name__ == "__main__":
    _main(sys.argv[1:])
