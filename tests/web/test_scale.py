"""Web topics at scale: slices embedded and assigned one job each, a seeded fit sample, several
styles per topic, DBSCAN beside HDBSCAN, and the default remove list."""

from __future__ import annotations

import numpy as np
import polars as pl

from synthpedia.registry import load_schema
from synthpedia.web.assign import web_assign_job, web_assigned_job, web_seed_id
from synthpedia.web.cluster import NOISE, density_labels, fit_sample_ids, read_fit_sample
from synthpedia.web.embed import doc_slice, slice_bounds
from synthpedia.web.topics import matches_any, topic_styles, topic_table

WEB = load_schema()["properties"]["sources"]["properties"]["web"]["properties"]
AXES = np.eye(4, dtype=np.float32)


def corpus(tmp_path, n=40):
    """n documents near four axes, their embeddings in three slices, two clusters' centroids and topics."""
    docs = pl.DataFrame({"doc_id": [f"d{i:03d}" for i in range(n)], "url": [f"https://x.example/{i}" for i in range(n)],
                         "text": [f"Page {i} about one thing or another. " * 8 for i in range(n)]})
    docs.write_parquet(tmp_path / "filtered.parquet")
    vectors = AXES[np.arange(n) % 4] + 0.01
    parts = []
    for part in range(3):
        start, stop = slice_bounds(n, part, 3)
        path = tmp_path / f"emb{part}.parquet"
        pl.DataFrame({"doc_id": docs["doc_id"][start:stop], "embedding": vectors[start:stop]}).write_parquet(path)
        parts.append(path)
    pl.DataFrame({"cluster": [0, 1, 2], "centroid": AXES[:3]}).write_parquet(tmp_path / "centroids.parquet")
    topics = pl.DataFrame({"cluster": [0, 1, 2], "topic": ["Stellar astronomy", "Online casinos", "Home gardening"],
                           "kept": [True, False, True], "style": ["textbook", None, "wikihow+blogpost"]})
    topics.write_parquet(tmp_path / "topics.parquet")
    return docs, parts


def test_slices_cover_the_documents_in_order(tmp_path):
    docs, _ = corpus(tmp_path, n=41)
    got = pl.concat([doc_slice(str(tmp_path / "filtered.parquet"), p, 4) for p in range(4)])
    assert got.equals(docs)
    assert [slice_bounds(41, p, 4) for p in range(4)] == [(0, 10), (10, 20), (20, 30), (30, 41)]


def test_assign_in_slices_equals_one_job_and_several_styles_make_several_seeds(tmp_path):
    docs, parts = corpus(tmp_path)
    spec = {"extract_chars": 100}
    common = {"docs_path": str(tmp_path / "filtered.parquet"), "centroids_path": str(tmp_path / "centroids.parquet"),
              "topics_path": str(tmp_path / "topics.parquet"), "spec": spec}
    outs = []
    for part, path in enumerate(parts):
        outs.append(str(tmp_path / f"assigned{part}.parquet"))
        web_assign_job(embeddings_path=str(path), part=part, parts=3, out_seeds=outs[-1], **common)
    web_assigned_job(parts=outs, out_seeds=str(tmp_path / "assigned.parquet"))
    pl.concat([pl.read_parquet(p) for p in parts]).write_parquet(tmp_path / "all.parquet")
    web_assign_job(embeddings_path=str(tmp_path / "all.parquet"), out_seeds=str(tmp_path / "one.parquet"), **common)
    sliced, whole = pl.read_parquet(tmp_path / "assigned.parquet"), pl.read_parquet(tmp_path / "one.parquet")
    assert sliced.equals(whole)
    # axis 3 has no centroid of its own and joins its nearest; casinos (cluster 1) are left out;
    # gardening has two styles: each of its documents is two seeds, the first keeps the plain seed id.
    garden = sliced.filter(pl.col("cluster") == 2)
    assert garden["style"].to_list()[:2] == ["wikihow", "blogpost"]
    assert garden["seed_id"][0] == web_seed_id("d002") and garden["seed_id"][1] != garden["seed_id"][0]
    assert sliced["seed_id"].is_unique().all() and 1 not in set(sliced["cluster"])


def test_fit_sample_is_seeded_and_keeps_order(tmp_path):
    docs, parts = corpus(tmp_path)
    ids = docs["doc_id"].to_list()
    sample = fit_sample_ids(ids, 10, seed=42)
    assert len(sample) == 10 and sample == fit_sample_ids(list(reversed(ids)), 10, seed=42)
    assert sample != fit_sample_ids(ids, 10, seed=43)
    assert fit_sample_ids(ids, None, 42) is None and fit_sample_ids(ids, 100, 42) is None
    everything = read_fit_sample([str(p) for p in parts], 1000, 42)
    assert everything["doc_id"].to_list() == ids  # all of them, in document order: today's clustering input
    some = read_fit_sample([str(p) for p in parts], 10, 42)
    assert set(some["doc_id"]) == sample and some["doc_id"].to_list() == sorted(sample)


def test_dbscan_is_available_beside_hdbscan():
    """The original's DBSCAN (eps 0.08, min_samples 50 there) on three tight groups and one stray point."""
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.01, size=(30, 2)) for c in ((0, 0), (1, 1), (0, 1))] + [[[5.0, 5.0]]])
    labels = density_labels(points, {"algorithm": "dbscan", "eps": 0.08, "min_samples": 5}, threads=1)
    assert len(set(labels) - {NOISE}) == 3 and labels[-1] == NOISE
    assert all(len(set(labels[i * 30:(i + 1) * 30])) == 1 for i in range(3))


def test_default_remove_list_keeps_what_the_original_kept_and_styles_follow_config():
    remove = WEB["remove_topics"]["default"]
    assert not matches_any("Astrology and horoscopes", remove) and not matches_any("Online dating advice", remove)
    assert matches_any("Online casinos", remove) and matches_any("Celebrity gossip", remove)
    style_map = {"wikihow": ["gardening"], "blogpost": ["home"], "textbook": ["botany"]}
    assert topic_styles("Home gardening", style_map, 1) == ["wikihow"]
    assert topic_styles("Home gardening", style_map, 1, "all") == ["wikihow", "blogpost"]
    # the original's curated list: whole topic names as keywords
    assert topic_styles("Stellar astronomy", {"textbook": ["Stellar astronomy"]}, 1, "all") == ["textbook"]
    labels = pl.DataFrame({"cluster": [0], "topic": ["Home gardening"], "educational_score": [7]})
    sizes = pl.DataFrame({"cluster": [0], "size": [3]})
    table = topic_table(labels, sizes, remove, 3, style_map, 1, "all")
    assert table["style"].to_list() == ["wikihow+blogpost"]
