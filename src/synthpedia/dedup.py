"""Near-duplicate removal across all sources with datatrove's MinHash, as four kinds of jobs.

datatrove's four MinHash stages, each its own Snakemake job, so that no job
holds more than one shard (or one bucket's sorted signature streams):

1. `dedup_signatures_job`, one per clean shard: the shard's signatures, one
   sorted file per bucket, and the shard's prompt ids in signature order;
2. `dedup_buckets_job`, one per bucket: datatrove merges that bucket's sorted
   files of every shard and writes the pairs of documents whose band matches;
3. `dedup_clusters_job`, one: the pairs -> clusters (union-find over the
   duplicates only) -> one `.remove` file per shard and the removed-rows table;
4. `dedup_filter_job`, one per clean shard: datatrove's filter drops the
   shard's removed rows; the dataset shard keeps the rest, columns and order.

A shard's datatrove rank is its position in the list of all clean shards
(sources sorted, then shards); inside a shard, documents go to datatrove
sorted by prompt_id.

Which copy of a cluster is kept: the FIRST in (source, prompt_id) order; the
others are removed and name it in `duplicate_of`. datatrove's own clustering
keeps the root of a union-by-size forest, which is deterministic but not a
rule a user can state, so the cluster job rewrites its `.remove` files from
its cluster ids (`save_cluster_id=True`) and the filter stage drops exactly
those. The result does not depend on how documents are spread over shards.

Documents with fewer words than `ngram` have no shingles, hence no signature:
they are never treated as duplicates (datatrove's behaviour).

Scratch: every job writes only into its own output folder, which it empties
first, and the workflow declares those folders temp(): a killed job leaves
nothing that a rerun would read, and a finished run leaves no scratch.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from datatrove.data import Document
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
from synthpedia.io import fresh_folder, write_parquet
from synthpedia.tables import DEDUP_REMOVED_COLUMNS, TABLES, write_table

log = logging.getLogger(__name__)

# The MinHash settings: the keys of the `dedup:` config block (defaults in the config schema).
MINHASH_KEYS = ("ngram", "buckets", "hashes_per_bucket", "seed", "hash_bits")

_REQUIRED_COLUMNS = ("prompt_id", "source", "text")

# In a signature folder: the shard's prompt ids in the order datatrove numbered its documents.
IDS_FILE = "ids.parquet"
# A signature folder's own datatrove rank: each job signs one shard; the bucket job renames by global rank.
OWN_RANK = 0


def minhash_settings(settings: dict) -> dict:
    """The MinHash settings of the `dedup:` config block, as the schema validated and filled them in.

    Raises InputError when a key is missing or unknown (a block that did not come
    through the config validation).
    """
    if sorted(settings) != sorted(MINHASH_KEYS):
        raise InputError(f"config key 'dedup': expected the keys {list(MINHASH_KEYS)}, got {sorted(settings)}")
    return {key: settings[key] for key in MINHASH_KEYS}


# ---------------------------------------------------------------------------
# datatrove pieces
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


# Kept for synthpedia.tokens, which reads its scratch documents the same way.
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


def _run_step(step, *args, **kwargs) -> list:
    """Run one datatrove step in this process; the documents it yields (steps that write return none)."""
    out = step.run(*args, **kwargs)
    return list(out) if out is not None else []



def _read_shard(path: str) -> pl.DataFrame:
    """A clean shard, checked: prompt_id (unique), source and text present and not null."""
    try:
        df = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"dedup: cannot read parquet shard {path}: {exc}") from exc
    if df.height == 0:
        return df
    missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"dedup: shard {path} lacks column(s) {missing}")
    for column in _REQUIRED_COLUMNS:
        bad = df.with_row_index("_row").filter(pl.col(column).is_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(f"dedup: shard {path}, row {row['_row']} (prompt_id={row['prompt_id']}): {column} is null")
    dup = df.filter(pl.col("prompt_id").is_duplicated())
    if dup.height:
        raise InputError(f"dedup: prompt_id {dup['prompt_id'].sort()[0]} appears more than once (in {path})")
    return df


def _signature_order(df: pl.DataFrame) -> pl.DataFrame:
    """(_row, source, prompt_id, text) of a shard sorted by (source, prompt_id): datatrove's document i is row i."""
    if df.height == 0:
        return pl.DataFrame(schema={"_row": pl.Int64, **{c: pl.String for c in _REQUIRED_COLUMNS}})
    return df.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), *(pl.col(c).cast(pl.String) for c in _REQUIRED_COLUMNS)
    ).sort("source", "prompt_id")


def _documents(texts: Iterable[str]):
    for idx, text in enumerate(texts):
        yield Document(text=text, id=str(idx), metadata={"idx": idx})


def dedup_signatures_job(*, shard: str, settings: dict, out_dir: str) -> None:
    """Stage 1, one clean shard: its MinHash signatures (datatrove) and prompt ids, in `out_dir`.

    Writes out_dir/bucket_<NNN>/00000.minhash.sig (one sorted file per bucket) and
    out_dir/ids.parquet (source, prompt_id of datatrove's document i, in row i). Memory: one shard.
    """
    settings = minhash_settings(settings)
    order = _signature_order(_read_shard(shard))
    folder = fresh_folder(out_dir)
    step = MinhashDedupSignature(output_folder=str(folder), config=_minhash_config(settings),
                                 language=WhitespaceWordTokenizer())
    _run_step(step, _documents(order["text"]), rank=OWN_RANK)
    write_parquet(order.select("source", "prompt_id"), str(folder / IDS_FILE))
    log.info("dedup signatures: %d documents of %s", order.height, shard)


def _link(target: str | os.PathLike, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.abspath(target), link)


def dedup_buckets_job(*, signatures: Sequence[str], bucket: int, settings: dict, out_dir: str) -> None:
    """Stage 2, one bucket: datatrove's bucket stage over that bucket's signature file of every shard.

    `signatures`: the signature folders of every clean shard, in rank order. Writes
    out_dir/{bucket:05d}_00.dups: (rank, doc, rank, doc) pairs whose band matches. Memory: one
    buffered reader per shard.
    """
    settings = minhash_settings(settings)
    config = _minhash_config(settings)
    folder = fresh_folder(out_dir)
    # datatrove numbers the files of a bucket folder in name order: the links make that the shard's rank.
    links = folder / ".signatures"
    for rank, sig_dir in enumerate(signatures):
        name = f"bucket_{bucket:03d}/{OWN_RANK:05d}.minhash.sig"
        _link(Path(sig_dir) / name, links / f"bucket_{bucket:03d}" / f"{rank:05d}.minhash.sig")
    step = MinhashDedupBuckets(input_folder=str(links), output_folder=str(folder), config=config)
    _run_step(step, None, rank=bucket, world_size=config.num_buckets)
    shutil.rmtree(links)


def _cluster_members(clusters_dir: Path, ranks: int) -> dict[int, list[tuple[int, int]]]:
    """{datatrove cluster id: [(rank, doc), ...]} from the `.clusters` files (save_cluster_id)."""
    members: dict[int, list[tuple[int, int]]] = {}
    for rank in range(ranks):
        path = clusters_dir / f"{rank:06d}.clusters"
        if path.exists():  # absent when no document of this rank has a duplicate
            for doc, cluster in np.fromfile(path, dtype="<u4").reshape(-1, 2).tolist():
                members.setdefault(cluster, []).append((rank, doc))
    return members


def dedup_clusters_job(*, buckets: Sequence[str], signatures: Sequence[str], settings: dict, out_dir: str,
                       removed: str, config_hash: str) -> None:
    """Stage 3: every bucket's pairs -> clusters -> out_dir/{rank:06d}.remove of every shard + `removed`.

    `buckets`: the bucket jobs' folders; `signatures`: each clean shard's signature folder, in rank order.
    Of each cluster the first in (source, prompt_id) order is kept. `removed`: one row per
    removed document (report table "dedup_removed", stamped with `config_hash`; sorted by source,
    prompt_id). Memory: the
    duplicates only (datatrove's union-find holds documents with a match).
    """
    settings = minhash_settings(settings)
    config = _minhash_config(settings)
    folder = fresh_folder(out_dir)
    links, found = folder / ".pairs", folder / ".clusters"
    for bucket_dir in buckets:
        for pairs in sorted(Path(bucket_dir).glob("*.dups")):
            _link(pairs, links / pairs.name)
    links.mkdir(exist_ok=True)
    step = MinhashDedupCluster(input_folder=str(links), output_folder=str(found), config=config, save_cluster_id=True)
    _run_step(step, None, world_size=1)
    members = _cluster_members(found, len(signatures))

    # Name every member (source, prompt_id): only the shards that have one are read, one at a time.
    ids: dict[tuple[int, int], tuple[str, str]] = {}
    wanted: dict[int, list[int]] = {}
    for docs in members.values():
        for rank, doc in docs:
            wanted.setdefault(rank, []).append(doc)
    for rank, docs in wanted.items():
        named = pl.read_parquet(Path(signatures[rank]) / IDS_FILE)
        sources, prompt_ids = named["source"], named["prompt_id"]
        ids.update({(rank, doc): (sources[doc], prompt_ids[doc]) for doc in docs})
    rows, remove = [], {rank: [] for rank in range(len(signatures))}
    for docs in members.values():
        docs = sorted(docs, key=ids.__getitem__)
        kept = ids[docs[0]]
        for rank, doc in docs[1:]:
            remove[rank].append(doc)
            rows.append((*ids[(rank, doc)], kept[1], kept[0]))
    for rank, docs in remove.items():
        # an empty file (not a missing one) means "remove nothing", without a warning
        (folder / f"{rank:06d}.remove").write_bytes(struct.pack(f"<{len(docs)}I", *sorted(docs)))
    shutil.rmtree(links)
    shutil.rmtree(found, ignore_errors=True)  # datatrove creates it only when there are duplicates
    table = pl.DataFrame(
        [{"source": s, "prompt_id": p, "duplicate_of": k, "duplicate_of_source": ks} for s, p, k, ks in rows],
        schema={c: pl.String for c in DEDUP_REMOVED_COLUMNS},
    )
    write_table(table.sort("source", "prompt_id").select(DEDUP_REMOVED_COLUMNS), "dedup_removed", config_hash, removed)
    log.info("dedup clusters: %d clusters, %d documents removed", len(members), table.height)


def dedup_filter_job(*, shard: str, rank: int, clusters: str, out_shard: str) -> None:
    """Stage 4, one clean shard: datatrove's filter drops the rows its `.remove` file names.

    `rank`: the shard's position among all clean shards; `clusters`: the cluster job's folder.
    Writes `out_shard`: the shard's rows and columns, in their order, minus the removed ones.
    """
    df = _read_shard(shard)
    order = _signature_order(df)
    step = MinhashDedupFilter(input_folder=clusters)
    kept_docs = _run_step(step, _documents(order["text"]), rank=rank)
    kept = np.zeros(df.height, dtype=bool)
    kept[order["_row"].to_numpy()[[doc.metadata["idx"] for doc in kept_docs]]] = True
    write_parquet(df.filter(pl.Series(kept, dtype=pl.Boolean)) if df.height else df, out_shard)
    log.info("dedup filter: %s: %d in, %d kept", shard, df.height, int(kept.sum()))


def _source_counts(path: str) -> dict[str, int]:
    """Rows per source of one shard (its source column only is read)."""
    if "source" not in pl.read_parquet_schema(path):
        return {}
    counts = pl.read_parquet(path, columns=["source"])["source"].value_counts()
    return dict(zip(counts["source"].to_list(), counts["count"].to_list()))


def dedup_counts(clean: Sequence[str], dataset: Sequence[str]) -> pl.DataFrame:
    """Report table "dedup" (without provenance): documents in, removed, kept per source.

    `clean` and `dataset`: each shard before and after the filter, in the same order; one shard
    is read at a time, its source column only.
    """
    n_in: dict[str, int] = {}
    n_kept: dict[str, int] = {}
    for before, after in zip(clean, dataset, strict=True):
        for source, n in _source_counts(before).items():
            n_in[source] = n_in.get(source, 0) + n
        for source, n in _source_counts(after).items():
            n_kept[source] = n_kept.get(source, 0) + n
    rows = [(s, n, n - n_kept.get(s, 0), n_kept.get(s, 0)) for s, n in sorted(n_in.items())]
    return pl.DataFrame(rows, schema=TABLES["dedup"], orient="row")


def dedup_job(
    *,
    clean: Sequence[str],
    dataset: Sequence[str],
    tables: Sequence[str],
    config_hash: str,
) -> None:
    """The dedup rule: report table "dedup" (per source: documents in, removed, kept).

    In: every clean shard and its dataset shard, in the same order. Out: the table at each
    path of `tables` (.csv or .parquet), stamped with `config_hash`.
    """
    table = dedup_counts(clean, dataset)
    log.info("dedup:\n%s", table)
    write_table(table, "dedup", config_hash, *tables)


# ---------------------------------------------------------------------------
# the four stages in one call (tests, benchmarks, library use)
# ---------------------------------------------------------------------------


def dedup_shards(
    inputs: Sequence[str],
    outputs: Sequence[str],
    settings: dict,
    workdir: str,
    removed_path: str | None = None,
    config_hash: str = "",
) -> pl.DataFrame:
    """Remove near-duplicates across all `inputs` shards: the four stage jobs, one after the other.

    inputs: parquet shards with at least prompt_id (unique), source, text; other columns are kept.
    outputs: one path per input (same order): its rows minus the removed ones (atomic write).
    settings: the `dedup:` config block, validated (see `minhash_settings`).
    workdir: scratch folder for the stages' folders, removed at the end.
    removed_path: if given, one row per removed document (DEDUP_REMOVED_COLUMNS) as parquet.
    Returns the per-source table (report table "dedup", without the provenance columns).
    """
    settings = minhash_settings(settings)  # a bad config fails before any reading
    inputs, outputs = [str(p) for p in inputs], [str(p) for p in outputs]
    if len(inputs) != len(outputs):
        raise InputError(f"dedup: {len(inputs)} input shards but {len(outputs)} outputs")
    work = Path(workdir) / "dedup"
    try:
        signatures = [str(work / "signatures" / f"{rank:05d}") for rank in range(len(inputs))]
        for shard, out_dir in zip(inputs, signatures):
            dedup_signatures_job(shard=shard, settings=settings, out_dir=out_dir)
        buckets = [str(work / "buckets" / f"{b:03d}") for b in range(settings["buckets"])]
        for bucket, out_dir in enumerate(buckets):
            dedup_buckets_job(signatures=signatures, bucket=bucket, settings=settings, out_dir=out_dir)
        removed = str(work / "removed.parquet")
        dedup_clusters_job(buckets=buckets, signatures=signatures, settings=settings, out_dir=str(work / "clusters"),
                           removed=removed, config_hash=config_hash)
        for rank, (shard, out) in enumerate(zip(inputs, outputs)):
            dedup_filter_job(shard=shard, rank=rank, clusters=str(work / "clusters"), out_shard=out)
        if removed_path is not None:
            write_parquet(pl.read_parquet(removed), removed_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dedup_counts(inputs, outputs)
