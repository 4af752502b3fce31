"""Rules web_label_prompts and web_label: one LLM prompt per cluster, its answer parsed to a topic and score."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from ..errors import InputError
from ..ids import stable_hash
from ..io import write_parquet
from ..prompts import TEMPLATES_DIR, cut_text, template_environment
from .cluster import NOISE

log = logging.getLogger(__name__)

LABEL_TEMPLATE = "web/label_topic.j2"

_MARKUP = re.compile(r"[*_`#]+|^[ \t]*>+", re.MULTILINE)  # emphasis, headings, block quotes
_SCALE = re.compile(r"\(?\s*(?:on a scale\s*(?:of|from)\s*)?\b1\s*(?:-|–|to)\s*10\b\s*\)?", re.IGNORECASE)
# Small models often say "Title:" or "Subject:" for the topic line.
_TOPIC = re.compile(r"\b(?:topic|title|subject|theme)\b\s*(?:name)?\s*[:=\-–—]+\s*(.+)", re.IGNORECASE)
_SCORE = re.compile(
    r"\b(educational\s*(?:value|score)?|score|rating)\b[^0-9\n]{0,25}?(\d{1,2}(?:[.,]\d+)?)(?!\d)",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"[<>]|^[\[(].*[\])]$|^(?:a few words|topic|title|n/?a|none|unknown)$", re.IGNORECASE)

LABEL_SCHEMA = {
    "cluster": pl.Int64,
    "topic": pl.String,
    "educational_score": pl.Int64,
    "status": pl.String,
    "attempts": pl.Int64,
    "request_key": pl.String,
    "completion": pl.String,
}


def label_prompts(
    df: pl.DataFrame,
    labels: Sequence[int],
    seed: int,
    samples: int,
    chars: int,
    templates_dir: str | Path = TEMPLATES_DIR,
) -> pl.DataFrame:
    """One labelling prompt per cluster (cluster, size, prompt; noise gets none).

    Each prompt shows `samples` extracts of the cluster, cut to about `chars`
    characters (config `sources.web.labelling`); which documents are shown is
    a hash of (seed, cluster, doc_id), so it does not depend on row order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != df.height:
        raise InputError(f"web: {df.height} documents but {len(labels)} cluster labels")
    template = template_environment(templates_dir).get_template(LABEL_TEMPLATE)
    frame = df.select("doc_id", "text").with_columns(pl.Series("cluster", labels))
    rows = []
    for (c,), group in sorted(frame.filter(pl.col("cluster") != NOISE).group_by("cluster"), key=lambda g: g[0][0]):
        picked = sorted(group.iter_rows(named=True), key=lambda r: stable_hash("label_sample", seed, c, r["doc_id"]))
        extracts = [cut_text(r["text"], chars) for r in picked[:samples]]
        prompt = template.render(extracts=extracts).strip() + "\n"
        rows.append({"cluster": int(c), "size": group.height, "prompt": prompt})
    return pl.DataFrame(rows, schema={"cluster": pl.Int64, "size": pl.Int64, "prompt": pl.String})


def parse_label(text: str | None) -> tuple[str, int] | None:
    """(topic, educational score 1-10) from a labelling answer, or None when it has no usable pair.

    Tolerates markdown, bullets, quotes, "Score: 7/10", "(1-10)" scale notes,
    both fields on one line and chatter around them; rejects a missing field,
    a placeholder topic ("<topic>") and a score outside 1..10.
    """
    if not text:
        return None
    clean = _SCALE.sub(" ", _MARKUP.sub("", text).replace("\r", ""))
    topic_match = _TOPIC.search(clean)
    scores = list(_SCORE.finditer(clean))
    if not topic_match or not scores:
        return None
    # "Educational score: 7" wins over a bare "score 7" elsewhere in the chatter.
    score_match = next((m for m in scores if m.group(1).lower().startswith("educational")), scores[0])
    topic = topic_match.group(1)
    # Both fields on one line: the topic ends where the score begins.
    cut = re.search(r"[,;|(]?\s*\b(?:educational|score|rating)\b", topic, re.IGNORECASE)
    if cut:
        topic = topic[: cut.start()]
    topic = re.sub(r"\s+", " ", topic.strip().strip("\"'“”‘’.,;:-–— ")).strip()
    score_value = float(score_match.group(2).replace(",", "."))
    score = int(round(score_value))
    if not topic or len(topic) > 100 or _PLACEHOLDER.search(topic) or not 1 <= score <= 10:
        return None
    return topic, score


def _attempt_seed(seed: int, cluster_id: int, attempt: int) -> int:
    return int(stable_hash("label", seed, cluster_id, attempt)[:8], 16)


def _label_row(cluster_id: int, request, answer: str | None, attempt: int) -> dict:
    """One row of the labels table (LABEL_SCHEMA) for the answer to `request`."""
    parsed = parse_label(answer)
    if parsed:
        log.info("cluster %d: %r, score %d (attempt %d)", cluster_id, parsed[0], parsed[1], attempt + 1)
    return {
        "cluster": cluster_id,
        "topic": parsed[0] if parsed else None,
        "educational_score": parsed[1] if parsed else None,
        "status": "ok" if parsed else "unparseable",
        "attempts": attempt + 1,
        "request_key": request.key,
        "completion": answer,
    }


def label_clusters(prompts: pl.DataFrame, backend, seed: int, retries: int, ledger=None) -> pl.DataFrame:
    """Topic and educational score of every cluster (LABEL_SCHEMA), through a generate.Backend.

    An answer parse_label cannot read is asked again with a new sampling seed,
    up to `retries` times (config `sources.web.labelling.retries`); then the
    cluster is recorded with status "unparseable" (topic and score null). With
    a GenerationLedger, answers are appended as they arrive and a rerun sends
    only what is missing.
    """
    from ..generate import Request, request_key

    done = ledger.records() if ledger is not None else {}
    results: dict[int, dict] = {}
    pending = {int(r["cluster"]): r["prompt"] for r in prompts.iter_rows(named=True)}
    for attempt in range(retries + 1):
        if not pending:
            break
        requests = {}
        for cluster_id, prompt in pending.items():
            req_seed = _attempt_seed(seed, cluster_id, attempt)
            key = request_key(prompt, backend.model, backend.sampling, req_seed)
            requests[cluster_id] = Request(key=key, prompt=prompt, seed=req_seed)
        to_send = [r for r in requests.values() if r.key not in done]
        for completion in backend.generate(to_send):
            if ledger is not None:
                ledger.append(completion)
            done[completion.key] = {"completion": completion.completion}
        for cluster_id, req in requests.items():
            results[cluster_id] = _label_row(cluster_id, req, done[req.key]["completion"], attempt)
        pending = {c: p for c, p in pending.items() if results[c]["status"] != "ok"}
    for cluster_id in sorted(pending):
        log.warning("cluster %d: no parseable label after %d attempts", cluster_id, retries + 1)
    return pl.DataFrame([results[c] for c in sorted(results)], schema=LABEL_SCHEMA)


def _labels_for(docs: pl.DataFrame, clusters: pl.DataFrame) -> np.ndarray:
    """The cluster label of each document of `docs`, in its row order, from the clusters table."""
    joined = docs.select("doc_id").join(
        clusters.select("doc_id", "cluster"), on="doc_id", how="left", maintain_order="left"
    )
    if joined["cluster"].null_count():
        raise InputError("web: some documents have no cluster (clusters table from another run?)")
    return joined["cluster"].to_numpy()


def web_label_prompts_job(docs_path: str, clusters_path: str, spec: dict, seed: int, out_prompts: str) -> None:
    """Rule web_label_prompts: filtered documents + clusters -> results/web/label_prompts.parquet.

    `spec`: config section `sources.web` (labelling); `seed`: the config seed.
    """
    docs = pl.read_parquet(docs_path)
    labels = _labels_for(docs, pl.read_parquet(clusters_path))
    opts = spec["labelling"]
    write_parquet(label_prompts(docs, labels, seed, opts["samples"], opts["chars"]), out_prompts)


def web_label_job(
    prompts_path: str, spec: dict, generation: dict, seed: int, threads: int, gpus: int, ledger: str, out_labels: str
) -> None:
    """Rule web_label: label prompts -> results/web/labels.parquet, resumable through a ledger.

    `generation`: config section `generation` (the backend), with max_tokens
    replaced by `sources.web.labelling.max_tokens` from `spec`; `threads` and
    `gpus`: the job's; `ledger`: the request ledger (results/ledger/web_labels.jsonl),
    kept when the job fails so that a rerun resumes.
    """
    from ..generate import GenerationLedger, make_backend

    opts = spec["labelling"]
    gen = {**generation, "sampling": {**generation["sampling"], "max_tokens": opts["max_tokens"]}}
    backend = make_backend(gen, threads=threads, gpus=gpus)
    try:
        labels = label_clusters(pl.read_parquet(prompts_path), backend, seed, opts["retries"], GenerationLedger(ledger))
    finally:
        backend.close()
    write_parquet(labels, out_labels)
