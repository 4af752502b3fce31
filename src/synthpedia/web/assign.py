"""Rules web_assign and web_assigned: every document -> its nearest kept cluster -> web seed rows.

web_assign runs once per slice of the filtered documents (config `sources.web.embed_shards`,
the slices web_embed embedded), web_assigned concatenates the slices, in order, into the web
source's seed table without holding it whole. A topic with several styles (styles_per_topic:
all) makes one seed per style of each of its documents.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import InputError
from ..ids import stable_hash
from ..io import write_parquet
from ..prompts import cut_text
from .cluster import NOISE
from .embed import embeddings_array
from .topics import STYLE_SEPARATOR, TOPIC_STYLES

log = logging.getLogger(__name__)

# results/web/assigned.parquet: the web source's seed table
WEB_SEED_COLUMNS = ("seed_id", "source", "url", "extract", "topic", "cluster", "style")


def nearest_clusters(embeddings: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster index, cosine similarity) of each embedding's nearest centroid (NOISE when there is none)."""
    if len(centroids) == 0 or len(embeddings) == 0:
        return np.full(len(embeddings), NOISE, dtype=np.int64), np.zeros(len(embeddings), dtype=np.float32)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    sims = unit @ centroids.T
    nearest = sims.argmax(axis=1)
    return nearest.astype(np.int64), sims[np.arange(len(unit)), nearest].astype(np.float32)


def web_seed_id(doc_id: str, style_index: int = 0, style: str = "") -> str:
    """The seed id of the web seed made from document `doc_id` (its topic's first style, or
    style number `style_index`, named `style`, of a topic with several)."""
    return stable_hash("web", doc_id) if style_index == 0 else stable_hash("web", doc_id, style)


def assign_web_seeds(
    docs: pl.DataFrame,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    topics: pl.DataFrame,
    extract_chars: int,
) -> pl.DataFrame:
    """Web seed rows (WEB_SEED_COLUMNS) for documents whose nearest cluster was kept.

    Every document (clustered, noise, or new: no re-clustering needed) goes to
    its nearest centroid by cosine similarity; documents whose nearest cluster
    was dropped (`topics`: the web_topics table) are left out. The extract is
    the text cut to `extract_chars` (config `sources.web.extract_chars`).
    Rows keep the order of `docs`.
    """
    if len(embeddings) != docs.height:
        raise InputError(f"web: {docs.height} documents but {len(embeddings)} embeddings")
    nearest, _ = nearest_clusters(embeddings, centroids)
    kept = {int(r["cluster"]): r for r in topics.filter(pl.col("kept")).iter_rows(named=True)}
    rows = []
    for row, c in zip(docs.iter_rows(named=True), nearest.tolist()):
        info = kept.get(c)
        if info is None:
            continue
        extract = cut_text(row["text"], extract_chars)
        for i, style in enumerate(info["style"].split(STYLE_SEPARATOR)):
            rows.append(
                {
                    "seed_id": web_seed_id(row["doc_id"], i, style),
                    "source": "web",
                    "url": row["url"],
                    "extract": extract,
                    "topic": info["topic"],
                    "cluster": c,
                    "style": style,
                }
            )
    schema = {c: pl.String for c in WEB_SEED_COLUMNS} | {"cluster": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def load_web_seeds(path: str | os.PathLike) -> pl.DataFrame:
    """The assigned web seed table (output of rule web_assign), checked for its columns and styles."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"seeds/web: assigned web seeds not found: {path} (run the web topic steps first)")
    df = pl.read_parquet(path)
    missing = [c for c in WEB_SEED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"seeds/web: {path} lacks columns {missing}")
    bad = sorted(set(df["style"].drop_nulls()) - set(TOPIC_STYLES))
    if bad or df["style"].null_count():
        raise InputError(f"seeds/web: {path}: unknown styles {bad or ['null']} (known: {TOPIC_STYLES})")
    return df.select(WEB_SEED_COLUMNS)


def _embeddings_in_order(docs: pl.DataFrame, embeddings: pl.DataFrame, where: str | os.PathLike) -> np.ndarray:
    """The embedding of each document of `docs`, in its row order; InputError naming `where` for a missing one."""
    order = docs.select("doc_id").join(embeddings.with_row_index("_i"), on="doc_id", how="left", maintain_order="left")
    if order["_i"].null_count():
        missing = order.filter(pl.col("_i").is_null())["doc_id"].head(3).to_list()
        raise InputError(f"web: {where} has no embedding for documents {missing}")
    return embeddings_array(embeddings)[order["_i"].to_numpy()]


def web_assign_job(
    *,
    docs_path: str,
    embeddings_path: str,
    centroids_path: str,
    topics_path: str,
    spec: dict,
    out_seeds: str,
    part: int = 0,
    parts: int = 1,
) -> None:
    """Rule web_assign, slice `part` of `parts`: its documents (+ their embeddings) -> web seed rows.

    `docs_path`: results/web/filtered.parquet, of which only the slice is read (doc_slice);
    `embeddings_path`: the slice's embeddings (rule web_embed); documents never clustered go to
    the existing clusters. `topics_path`: results/web/topics.parquet (rule web_topics); `spec`:
    config section `sources.web` (extract_chars).
    """
    from .embed import doc_slice

    docs = doc_slice(docs_path, part, parts)
    vectors = _embeddings_in_order(docs, pl.read_parquet(embeddings_path), embeddings_path)
    topics = pl.read_parquet(topics_path)
    centroids = embeddings_array(pl.read_parquet(centroids_path).sort("cluster"), "centroid")
    seeds = assign_web_seeds(docs, vectors, centroids, topics, spec["extract_chars"])
    log.info("part %d of %d: %d seeds from %d documents", part, parts, seeds.height, docs.height)
    write_parquet(seeds, out_seeds)


def web_assigned_job(*, parts: list[str], out_seeds: str) -> None:
    """Rule web_assigned: the slices' seed rows, in slice order -> results/web/assigned.parquet.

    Streams one slice at a time into the output (written whole or not at all).
    """
    import pyarrow.parquet as pq

    from ..io import atomic_path

    schema = pl.DataFrame(schema={c: pl.String for c in WEB_SEED_COLUMNS} | {"cluster": pl.Int64}).to_arrow().schema
    rows = 0
    with atomic_path(out_seeds) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for path in parts:
            table = pl.read_parquet(path).select(WEB_SEED_COLUMNS).to_arrow().cast(schema)
            writer.write_table(table)
            rows += table.num_rows
    log.info("%d web seeds from %d parts", rows, len(parts))
