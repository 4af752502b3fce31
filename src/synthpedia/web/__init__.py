"""Web topics: web pages -> topic-labelled web seeds, one module per workflow rule.

    extract  web_extract        WARC(.gz) and HTML files -> documents (doc_id, url, text)
    filter   web_filter         datatrove's heuristic filters -> kept documents + drop counts per filter
    embed    web_embed          all-MiniLM-L6-v2 sentence embeddings (L2-normalised)
    cluster  web_cluster        UMAP then HDBSCAN -> labels, 2-D map coordinates, centroids
    label    web_label_prompts  one LLM prompt per cluster from seeded-sampled extracts
             web_label          answers through a generate backend, parsed to topic + educational score
    topics   web_topics         keep/drop each cluster (remove list, score floor), choose its style
    assign   web_assign         every document -> nearest kept cluster -> web seed rows

Each step reads and writes parquet, so any step can be rerun alone. All
randomness derives from the config seed and stable ids, so the same inputs
and config give the same tables. Importing this package loads no module of
it: the names below are looked up in their module on first use.
"""

from __future__ import annotations

import importlib

# Public name -> the module of this package that defines it.
_EXPORTS = {
    "WEB_SEED_COLUMNS": "assign",
    "load_web_seeds": "assign",
    "TOPIC_STYLES": "topics",
    "NOISE": "cluster",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """`name` from the module that defines it (`from synthpedia.web import load_web_seeds` still works)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
