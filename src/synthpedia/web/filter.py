"""Rule web_filter: documents -> documents kept by datatrove's heuristic filters, and drop counts."""

from __future__ import annotations

import json
import logging
import re
from typing import Mapping

import polars as pl

from ..errors import InputError
from ..io import write_parquet
from ..tables import TABLES, write_table

log = logging.getLogger(__name__)


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


def web_filter_classes() -> dict:
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


def make_web_filters(params: Mapping) -> list[tuple[str, object]]:
    """(name, datatrove filter) for each filter `params` enables.

    `params` (config `sources.web.filters`): filter name -> constructor arguments
    ({} for datatrove's defaults), or false to skip it. A filter not named runs
    with datatrove's defaults.
    """
    classes = web_filter_classes()
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


def _stats_frame(counts: dict[str, dict]) -> pl.DataFrame:
    """The web_filters table (synthpedia.tables) from the per-filter counts, in running order."""
    rows = [
        {
            "filter": name,
            "documents_in": c["documents_in"],
            "dropped": c["dropped"],
            "kept": c["documents_in"] - c["dropped"],
            "reasons": json.dumps(c["reasons"], sort_keys=True),
        }
        for name, c in counts.items()
    ]
    return pl.DataFrame(rows, schema=TABLES["web_filters"])


def web_filter(df: pl.DataFrame, params: Mapping) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept documents, stats) after datatrove's heuristic filters, applied in turn.

    `params`: config `sources.web.filters` (see make_web_filters). A document
    dropped by one filter is not seen by the next (as in a datatrove pipeline);
    C4's line filter may shorten the text it keeps. `stats` has one row per
    filter (table web_filters): documents in, dropped, kept, and the drop
    reasons with their counts (JSON).
    """
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import get_filter_result

    filters = make_web_filters(params)
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
    kept_df = pl.DataFrame(kept, schema=df.schema) if kept else df.clear()
    log.info("web filters kept %d of %d documents", kept_df.height, df.height)
    return kept_df, _stats_frame(counts)


def web_filter_job(docs_path: str, spec: dict, config_hash: str, out_docs: str, out_stats_csv: str) -> None:
    """Rule web_filter: documents -> results/web/filtered.parquet + results/tables/web_filters.csv.

    `spec`: config section `sources.web` (filters); `config_hash` is stamped on the table.
    """
    kept, stats = web_filter(pl.read_parquet(docs_path), spec["filters"])
    write_parquet(kept, out_docs)
    write_table(stats, "web_filters", config_hash, out_stats_csv)
