"""Rule web_cluster: embeddings -> UMAP (seeded) then HDBSCAN or DBSCAN -> labels, 2-D map, centroids.

`sources.web.clustering.algorithm` picks the density clustering on the UMAP projection:
hdbscan (the default: no radius to tune) or dbscan, the original's text-clustering choice
(eps 0.08, min_samples 50 on a 2-D cosine UMAP).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from ..errors import InputError
from ..ids import stable_hash
from ..io import write_parquet
from .embed import embeddings_array

log = logging.getLogger(__name__)

NOISE = -1  # HDBSCAN's label for documents in no cluster


def _umap_projection(embeddings: np.ndarray, params: Mapping, seed: int, dims: int) -> np.ndarray:
    """`embeddings` projected to `dims` dimensions by UMAP (cosine metric, seeded by `seed`)."""
    import umap

    n = embeddings.shape[0]
    reducer = umap.UMAP(
        n_neighbors=min(int(params["n_neighbors"]), n - 1),
        min_dist=float(params["min_dist"]),
        n_components=dims,
        metric="cosine",
        random_state=seed,
        # A seeded UMAP runs its numba loops on one thread whatever n_jobs says (so it fits any
        # thread budget); saying so silences its warning.
        n_jobs=1,
        init="spectral" if n > dims + 2 else "random",
    )
    return reducer.fit_transform(embeddings)


def cluster(
    embeddings: np.ndarray, params: Mapping, seed: int, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, coords2d, centroids): UMAP (seeded) then HDBSCAN or DBSCAN; the same seed gives the same result.

    `params` (config `sources.web.clustering`): n_neighbors, min_dist,
    n_components (UMAP, cosine metric), algorithm, and min_cluster_size,
    min_samples (HDBSCAN) or eps, min_samples (DBSCAN). `threads`: the job's
    threads, the most the clustering uses (a seeded UMAP uses one).
    labels[i] is document i's cluster (0..k-1, NOISE for noise); coords2d is
    the 2-D UMAP map (the projection itself when n_components is 2);
    centroids[c] is the L2-normalised mean embedding of cluster c, in the
    embedding space (new documents are assigned there).
    """
    n = embeddings.shape[0]
    if n < 5:
        raise InputError(f"web: {n} documents left after filtering: too few to cluster (need at least 5)")
    reduced = _umap_projection(embeddings, params, seed, int(params["n_components"]))
    coords2d = reduced if reduced.shape[1] == 2 else _umap_projection(embeddings, params, seed, 2)
    labels = np.asarray(density_labels(reduced, params, threads), dtype=np.int64)
    return labels, np.asarray(coords2d, dtype=np.float32), cluster_centroids(embeddings, labels)


def density_labels(points: np.ndarray, params: Mapping, threads: int) -> np.ndarray:
    """Cluster labels (0..k-1, NOISE) of `points` by params["algorithm"]: hdbscan or dbscan."""
    if params.get("algorithm", "hdbscan") == "dbscan":
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=float(params["eps"]), min_samples=int(params["min_samples"]), n_jobs=threads).fit_predict(
            points
        )
    import hdbscan

    return hdbscan.HDBSCAN(
        min_cluster_size=int(params["min_cluster_size"]),
        min_samples=int(params["min_samples"]),
        core_dist_n_jobs=threads,  # exact core distances: the thread count changes no label
    ).fit_predict(points)


def cluster_centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, dim) L2-normalised mean embedding of each cluster 0..k-1 (noise excluded)."""
    k = int(labels.max()) + 1 if labels.size else 0
    centroids = np.zeros((k, embeddings.shape[1]), dtype=np.float32)
    for c in range(k):
        mean = embeddings[labels == c].mean(axis=0)
        centroids[c] = mean / max(np.linalg.norm(mean), 1e-12)
    return centroids


def clusters_frame(doc_ids: Sequence[str], labels: np.ndarray, coords2d: np.ndarray) -> pl.DataFrame:
    """(doc_id, cluster, x, y) table for results/web/clusters.parquet."""
    return pl.DataFrame(
        {"doc_id": list(doc_ids), "cluster": labels, "x": coords2d[:, 0], "y": coords2d[:, 1]},
        schema={"doc_id": pl.String, "cluster": pl.Int64, "x": pl.Float32, "y": pl.Float32},
    )


def centroids_frame(centroids: np.ndarray) -> pl.DataFrame:
    """(cluster, centroid) table for results/web/centroids.parquet."""
    dim = centroids.shape[1] if centroids.ndim == 2 else 0
    return pl.DataFrame(
        {"cluster": np.arange(len(centroids), dtype=np.int64), "centroid": centroids.astype(np.float32)},
        schema={"cluster": pl.Int64, "centroid": pl.Array(pl.Float32, dim)},
    )


def cluster_sizes(labels: Sequence[int]) -> pl.DataFrame:
    """(cluster, size) for every label, noise (NOISE) included, sorted by cluster."""
    return (
        pl.DataFrame({"cluster": np.asarray(labels, dtype=np.int64)})
        .group_by("cluster")
        .agg(pl.len().cast(pl.Int64).alias("size"))
        .sort("cluster")
    )


def fit_sample_ids(doc_ids: Sequence[str], size: int | None, seed: int) -> set[str] | None:
    """The documents the clustering is fitted on: the `size` smallest hashes of (seed, doc_id),
    or None (all of them) when `size` is null or covers every document."""
    if size is None or len(doc_ids) <= size:
        return None
    keys = pl.DataFrame({"doc_id": list(doc_ids)}).with_columns(
        pl.col("doc_id").map_elements(lambda d: stable_hash("fit_sample", seed, d), return_dtype=pl.String).alias("_k")
    )
    return set(keys.sort("_k").head(size)["doc_id"].to_list())


def read_fit_sample(embeddings_paths: Sequence[str], size: int | None, seed: int) -> pl.DataFrame:
    """(doc_id, embedding) of the fit sample, in slice and row order, read slice by slice."""
    ids = [d for path in embeddings_paths for d in pl.read_parquet(path, columns=["doc_id"])["doc_id"].to_list()]
    chosen = fit_sample_ids(ids, size, seed)
    parts = []
    for path in embeddings_paths:
        table = pl.read_parquet(path)
        parts.append(table if chosen is None else table.filter(pl.col("doc_id").is_in(list(chosen))))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"doc_id": pl.String})


def web_cluster_job(
    *,
    embeddings_path: str | os.PathLike | Sequence[str | os.PathLike],
    spec: dict,
    seed: int,
    threads: int,
    out_clusters: str,
    out_centroids: str,
) -> None:
    """Rule web_cluster: the fit sample's embeddings -> results/web/clusters.parquet + centroids.parquet.

    `embeddings_path`: one embeddings table, or every web_embed slice in order; the fit sample (config
    `sources.web.fit_sample`, seeded by `seed`) is clustered, every document is assigned later
    (web_assign). `spec`: config section `sources.web` (clustering, fit_sample); `threads`: the
    job's threads.
    """
    paths = [embeddings_path] if isinstance(embeddings_path, (str, os.PathLike)) else list(embeddings_path)
    table = read_fit_sample(paths, spec["fit_sample"], seed)
    labels, coords2d, centroids = cluster(embeddings_array(table), spec["clustering"], seed, threads)
    log.info("%d clusters, %d noise documents, fitted on %d documents", len(centroids), int((labels == NOISE).sum()),
             table.height)
    write_parquet(clusters_frame(table["doc_id"].to_list(), labels, coords2d), out_clusters)
    write_parquet(centroids_frame(centroids), out_centroids)
