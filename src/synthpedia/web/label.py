"""Rules web_label_prompts and web_label: one LLM prompt per cluster, its answer parsed to a topic and score."""

from __future__ import annotations

import json
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

# The answer a backend is held to where it can (a grammar, guided decoding, a response format):
# the label as JSON. The topic is one to six words of letters: held only to a length, the
# bundled 135M model fills the string with braces, newlines and run-on words; held to four
# words, it glues a fifth onto the fourth ("nooriousstretch"). The score is an
# enum as well as a range: llama.cpp's schema converter turns an enum into a grammar, and
# ignores minimum and maximum.
LABEL_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "pattern": "^[A-Z][A-Za-z'-]{0,14}( [A-Za-z][A-Za-z'-]{0,14}){0,5}$"},
        "educational_score": {"type": "integer", "enum": list(range(1, 11)), "minimum": 1, "maximum": 10},
    },
    "required": ["topic", "educational_score"],
    "additionalProperties": False,
}

LABEL_SCHEMA = {
    "cluster": pl.Int64,
    "topic": pl.String,
    "educational_score": pl.Int64,
    "status": pl.String,
    "attempts": pl.Int64,
    "request_key": pl.String,
    "completion": pl.String,
    # How the answer was decoded (generate.backend: free, grammar, guided, response_format).
    "decoding": pl.String,
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
    """(topic, educational score 1-10) from a free-text labelling answer, or None when it has no usable pair.

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
    return _checked_label(topic, float(score_match.group(2).replace(",", ".")))


def parse_json_label(text: str | None) -> tuple[str, int] | None:
    """(topic, educational score 1-10) from an answer in LABEL_JSON_SCHEMA's shape, or None.

    The same checks as parse_label (a real topic of at most 100 characters, a score in 1..10);
    None for anything that is not such a JSON object (e.g. one cut short by max_tokens).
    """
    try:
        answer = json.loads(text or "", strict=False)  # a grammar may let raw newlines into a string
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    topic, score = answer.get("topic"), answer.get("educational_score")
    if not isinstance(topic, str) or isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    return _checked_label(topic, float(score))


def read_label(text: str | None) -> tuple[str, int] | None:
    """(topic, score) from a labelling answer: as JSON (a constrained answer), else as free text."""
    return parse_json_label(text) or parse_label(text)


def _checked_label(topic: str, score_value: float) -> tuple[str, int] | None:
    """(topic without quotes, stray punctuation or runs of spaces, score rounded), or None when
    the topic is empty, a placeholder or over 100 characters, or the score is outside 1..10."""
    topic = re.sub(r"\s+", " ", topic.strip().strip("\"'“”‘’.,;:-–— ")).strip()
    score = int(round(score_value))
    if not topic or len(topic) > 100 or _PLACEHOLDER.search(topic) or not 1 <= score <= 10:
        return None
    return topic, score


def _attempt_seed(seed: int, cluster_id: int, attempt: int) -> int:
    return int(stable_hash("label", seed, cluster_id, attempt)[:8], 16)


def _label_row(cluster_id: int, request, record: dict, attempt: int) -> dict:
    """One row of the labels table (LABEL_SCHEMA) for `record`, the ledger's answer to `request`."""
    from ..generate.backend import FREE

    answer = record["completion"]
    decoding = record.get("decoding", FREE)  # ledgers written before constrained labels: free text
    parsed = read_label(answer)
    if parsed:
        log.info("cluster %d: %r, score %d (attempt %d, %s)", cluster_id, parsed[0], parsed[1], attempt + 1, decoding)
    return {
        "cluster": cluster_id,
        "topic": parsed[0] if parsed else None,
        "educational_score": parsed[1] if parsed else None,
        "status": "ok" if parsed else "unparseable",
        "attempts": attempt + 1,
        "request_key": request.key,
        "completion": answer,
        "decoding": decoding,
    }


def label_clusters(prompts: pl.DataFrame, backend, seed: int, retries: int, ledger=None) -> pl.DataFrame:
    """Topic and educational score of every cluster (LABEL_SCHEMA), through a generate.Backend.

    Each request carries LABEL_JSON_SCHEMA: a backend that can hold the answer to it does (the
    `decoding` column says how), and the answer is read as JSON, else as free text (read_label).
    An answer read_label cannot read is asked again with a new sampling seed,
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
            key = request_key(prompt, backend.model, backend.sampling, req_seed, json_schema=LABEL_JSON_SCHEMA)
            requests[cluster_id] = Request(key=key, prompt=prompt, seed=req_seed, json_schema=LABEL_JSON_SCHEMA)
        to_send = [r for r in requests.values() if r.key not in done]
        for completion in backend.generate(to_send):
            if ledger is not None:
                ledger.append(completion)
            done[completion.key] = {"completion": completion.completion, "decoding": completion.decoding}
        for cluster_id, req in requests.items():
            results[cluster_id] = _label_row(cluster_id, req, done[req.key], attempt)
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
