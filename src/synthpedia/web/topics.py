"""Rule web_topics: cluster labels -> the topic table (kept or why dropped, style) and the cluster map."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from ..errors import InputError
from ..ids import stable_hash
from ..tables import TABLES, write_table
from .cluster import NOISE, cluster_sizes

log = logging.getLogger(__name__)

TOPIC_STYLES = ("textbook", "blogpost", "wikihow")  # what a kept topic maps to
# A topic with several styles (styles_per_topic: all) names them in one cell: "textbook+blogpost".
STYLE_SEPARATOR = "+"


def _term_pattern(term: str) -> re.Pattern:
    # A term matches at the start of a word ("casino" matches "Casinos", "sex" not "Sussex").
    return re.compile(r"\b" + r"\s+".join(re.escape(w) for w in term.lower().split()), re.IGNORECASE)


def matches_any(topic: str, terms: Iterable[str]) -> bool:
    """True when one of `terms` starts a word (or phrase) of `topic`, ignoring case."""
    return any(_term_pattern(t).search(topic) for t in terms if t.strip())


def topic_styles(topic: str, style_map: Mapping[str, Sequence[str]], seed: int, how: str = "first") -> list[str]:
    """The generation styles of a kept topic: the first style (in `style_map` order) with a
    keyword matching the topic (how "first"), or every such style (how "all"); with none
    matching, one choice seeded by (seed, topic).

    `style_map`: config `sources.web.style_map`, style -> keywords (or whole topic names);
    `how`: config `sources.web.styles_per_topic`.
    """
    found = []
    for style, keywords in style_map.items():
        if style not in TOPIC_STYLES:
            raise InputError(f"config key 'sources.web.style_map.{style}': unknown style (known: {TOPIC_STYLES})")
        if matches_any(topic, keywords):
            found.append(style)
            if how == "first":
                break
    return found or [TOPIC_STYLES[int(stable_hash("topic_style", seed, topic.lower()), 16) % len(TOPIC_STYLES)]]


def topic_style(topic: str, style_map: Mapping[str, Sequence[str]], seed: int) -> str:
    """The one generation style of a kept topic (topic_styles with how "first")."""
    return topic_styles(topic, style_map, seed)[0]


def why_dropped(
    cluster_id: int, topic: str | None, score: int | None, remove_topics: Sequence[str], score_floor: int
) -> str | None:
    """Why a cluster is dropped, or None when it is kept (the checks run in this order).

    "noise": HDBSCAN's noise; "unparseable": no topic and score from its label;
    "on_remove_list": its topic matches `remove_topics`; "under_score_floor":
    its educational score is under `score_floor`.
    """
    if cluster_id == NOISE:
        return "noise"
    if topic is None or score is None:
        return "unparseable"
    if matches_any(topic, remove_topics):
        return "on_remove_list"
    if score < score_floor:
        return "under_score_floor"
    return None


def topic_table(
    labels_df: pl.DataFrame,
    sizes: pl.DataFrame,
    remove_topics: Sequence[str],
    score_floor: int,
    style_map: Mapping[str, Sequence[str]],
    seed: int,
    styles_per_topic: str = "first",
) -> pl.DataFrame:
    """One row per cluster (table web_topics, noise row included), sorted by cluster.

    `labels_df`: the labels table (cluster, topic, educational_score, ...);
    `sizes`: cluster_sizes of the clustered documents. A cluster is dropped
    (kept false, why_dropped set: see why_dropped) for the config's
    `remove_topics` and `score_floor`; kept clusters get their styles (topic_styles, joined
    by STYLE_SEPARATOR when `styles_per_topic` is "all" and several match).
    """
    labels_by_cluster = {int(r["cluster"]): r for r in labels_df.iter_rows(named=True)}
    rows = []
    for cluster_id, size in sizes.select("cluster", "size").iter_rows():
        label = labels_by_cluster.get(int(cluster_id), {})
        topic, score = label.get("topic"), label.get("educational_score")
        why = why_dropped(cluster_id, topic, score, remove_topics, score_floor)
        rows.append(
            {
                "cluster": int(cluster_id),
                "size": int(size),
                "topic": topic,
                "educational_score": score,
                "kept": why is None,
                "why_dropped": why,
                "style": STYLE_SEPARATOR.join(topic_styles(topic, style_map, seed, styles_per_topic))
                if why is None
                else None,
            }
        )
    return pl.DataFrame(rows, schema=TABLES["web_topics"]).sort("cluster")


def cluster_map(coords2d: np.ndarray, labels: Sequence[int], topics: pl.DataFrame, path: str | os.PathLike) -> None:
    """PNG of the 2-D UMAP map, points coloured by cluster (noise grey), each cluster's topic
    written at its centre (struck through in grey when the cluster was dropped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    noise = labels == NOISE
    ax.scatter(coords2d[noise, 0], coords2d[noise, 1], s=6, c="lightgrey", label="noise")
    cmap = plt.get_cmap("tab10")
    info = {r["cluster"]: r for r in topics.iter_rows(named=True)}
    for c in sorted(set(labels[~noise].tolist())):
        pts = coords2d[labels == c]
        row = info.get(c, {})
        name = row.get("topic") or "(unlabelled)"
        kept = bool(row.get("kept"))
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color=cmap(c % 10), marker="o" if kept else "x")
        note = f"{c}: {name}" + ("" if kept else f" [{row.get('why_dropped')}]")
        cx, cy = np.median(pts, axis=0)
        ax.annotate(
            note,
            (cx, cy),
            xytext=(0, 12),
            textcoords="offset points",
            fontsize=8,
            ha="center",
            color="black" if kept else "dimgrey",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0},
        )
    ax.margins(0.2)
    ax.set_title("Web clusters (UMAP 2-D) and their LLM topics; x: dropped cluster")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)


def web_topics_job(
    labels_path: str,
    clusters_path: str,
    spec: dict,
    seed: int,
    config_hash: str,
    out_topics: str,
    out_csv: str,
    out_png: str,
) -> None:
    """Rule web_topics: labels + clusters -> the web_topics table and the cluster map PNG.

    The table goes to `out_topics` (results/web/topics.parquet, read by
    web_assign) and `out_csv` (results/tables/web_topics.csv, for people),
    stamped with `config_hash`. `spec`: config section `sources.web`
    (remove_topics, score_floor, style_map, styles_per_topic); `seed`: the config seed.
    """
    clusters = pl.read_parquet(clusters_path)
    table = topic_table(
        pl.read_parquet(labels_path),
        cluster_sizes(clusters["cluster"].to_numpy()),
        spec["remove_topics"],
        spec["score_floor"],
        spec["style_map"],
        seed,
        spec["styles_per_topic"],
    )
    log.info("%d of %d clusters kept", int(table["kept"].sum()), table.height)
    write_table(table, "web_topics", config_hash, out_topics, out_csv)
    cluster_map(clusters.select("x", "y").to_numpy(), clusters["cluster"].to_numpy(), table, out_png)
