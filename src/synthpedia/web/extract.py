"""Rule web_extract: WARC(.gz) and HTML(.gz) files -> documents (doc_id, url, text).

The workflow layer lists the files (synthpedia.workflow.web_input_files, the
rule's input); this module reads exactly those files and searches no folder.
A page saved gzip-compressed (``page.html.gz``, or a ``.html`` file that is gzip
inside) is decompressed. A file named like HTML that holds binary data (an image,
a PDF) is skipped, counted and logged with its name. No document at all is an
error naming ``sources.web.inputs``, never an empty table that fails later.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import polars as pl

from ..errors import InputError
from ..ids import stable_hash
from ..io import write_parquet
from ..workflow import web_file_kind

log = logging.getLogger(__name__)

# results/web/documents.parquet, results/web/filtered.parquet
WEB_DOC_COLUMNS = ("doc_id", "url", "text")
# resiliparse: its main-content text as it comes. trafilatura: the slower, more precise library.
# trimmed: resiliparse without alt texts, comments, post meta or form fields, cut to the span from
# the first to the last prose line (trim_to_prose). trimmed_fallback: trimmed, and trafilatura (fast
# mode) on the few pages where the trim had to drop most of the text (its guess is then unsure).
# benchmarks/extraction.py measures them side by side on real article pages.
EXTRACTORS = ("resiliparse", "trafilatura", "trimmed", "trimmed_fallback")
# A prose line: at least this many words, ending like a sentence.
PROSE_MIN_WORDS = 8
_SENTENCE_END = frozenset('.!?:;"”’)')
# trimmed_fallback asks trafilatura when the trim kept less than this share of the words. On the
# 181 benchmark pages the same 2 pages fall below any threshold from 0.2 to 0.45 (0.5 adds a third
# at no gain in F1): 0.4 sits inside that plateau.
FALLBACK_BELOW = 0.4

_HTML_SNIFF = (b"<html", b"<!doctype html", b"<head", b"<body", b"<div", b"<p>", b"<p ")
_GZIP_MAGIC = b"\x1f\x8b"
_HTML_GZ_SUFFIXES = (".html.gz", ".htm.gz", ".xhtml.gz")
# Bytes that never occur in a text page (NUL and C0 controls other than tab, newline, form feed, return).
_BINARY_BYTES = bytes(set(range(32)) - {9, 10, 12, 13})
_BINARY_SHARE = 0.02  # of the first 8 KiB: above this, the file is not text


class NotAPage(Exception):
    """A file named like an HTML page whose content is not text."""


def _unknown_extractor(extractor: str) -> InputError:
    return InputError(f"config key 'sources.web.extractor': unknown extractor '{extractor}' (known: {EXTRACTORS})")


def _decode(body: bytes, charset: str | None) -> str:
    """`body` as text in `charset`, or in the encoding resiliparse detects when there is none."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    try:
        return bytes_to_str(body, charset or detect_encoding(body))
    except (LookupError, UnicodeError):  # a charset label no codec knows
        return bytes_to_str(body, detect_encoding(body), errors="replace")


def _is_prose(line: str) -> bool:
    """At least PROSE_MIN_WORDS words, and a sentence end among the marks that close the line."""
    if line.count(" ") < PROSE_MIN_WORDS - 1 or len(line.split()) < PROSE_MIN_WORDS:
        return False
    end = len(line)
    while end and not (line[end - 1].isalnum() or line[end - 1] == "_"):
        end -= 1
    return any(mark in _SENTENCE_END for mark in line[end:])


def trim_to_prose(text: str) -> str:
    """`text` from its first prose line to its last, line breaks kept; unchanged when it has no prose line.

    Menus, share buttons, bylines, "related" lists and footers sit before the
    first and after the last sentence-like line of an article far more often
    than inside it.
    """
    lines = text.splitlines()
    prose = [i for i, line in enumerate(lines) if _is_prose(line.strip())]
    if not prose:
        return text.strip()
    # The article's headline goes too: the text scored here and fed to prompts is its body.
    return "\n".join(lines[prose[0] : prose[-1] + 1]).strip()


def _resiliparse(html: str, *, lean: bool) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    if not lean:
        return extract_plain_text(html, preserve_formatting=True, main_content=True).strip()
    return extract_plain_text(
        html,
        preserve_formatting=True,
        main_content=True,
        alt_texts=False,
        comments=False,
        post_meta=False,
        form_fields=False,
        noscript=False,
        list_bullets=False,
    ).strip()


def _trafilatura(html: str, *, fast: bool = False) -> str:
    import trafilatura

    # fast: without trafilatura's own second-opinion extractors; as a fallback it scored
    # better and ran 1.6x faster on the article benchmark.
    return (trafilatura.extract(html, include_comments=False, include_tables=True, fast=fast) or "").strip()


def html_to_text(html: str, extractor: str) -> str:
    """Main-content plain text of one HTML page (line breaks kept for the line-based filters).

    `extractor`: config key `sources.web.extractor`, one of EXTRACTORS.
    """
    if extractor == "resiliparse":
        return _resiliparse(html, lean=False)
    if extractor == "trafilatura":
        return _trafilatura(html)
    if extractor in ("trimmed", "trimmed_fallback"):
        lean = _resiliparse(html, lean=True)
        trimmed = trim_to_prose(lean)
        if extractor == "trimmed_fallback" and len(trimmed.split()) < FALLBACK_BELOW * len(lean.split()):
            return _trafilatura(html, fast=True) or trimmed
        return trimmed
    raise _unknown_extractor(extractor)


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


def looks_binary(body: bytes) -> bool:
    """True when the start of `body` holds NUL or too many control bytes to be a text page."""
    head = body[:8192]
    if not head:
        return False
    if b"\x00" in head:
        return True
    return sum(head.count(bytes([b])) for b in _BINARY_BYTES) / len(head) > _BINARY_SHARE


def _html_page(path: Path) -> tuple[str, str, str]:
    """("", URL, HTML) of a bare HTML file (gzip-compressed or not): its canonical URL when it names one, else its path.

    Raises NotAPage for a file whose content is binary, InputError for an unreadable file.
    """
    try:
        body = path.read_bytes()
    except OSError as err:
        raise InputError(f"web: {path}: cannot read: {err}") from err
    if body.startswith(_GZIP_MAGIC):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as err:
            raise InputError(f"web: {path}: gzip-compressed page does not decompress: {err}") from err
    if looks_binary(body):
        raise NotAPage(f"web: {path}: binary content, not an HTML page")
    html = _decode(body, None)
    return "", _canonical_url(html) or path.as_posix(), html


def _pages(path: Path) -> Iterator[tuple[str, str, str]]:
    """(record id, URL, HTML) of each page in one input file, chosen by its kind (web_file_kind)."""
    kind = web_file_kind(path)
    if kind is None and path.name.lower().endswith(_HTML_GZ_SUFFIXES):
        kind = "html"
    if kind == "warc":
        return _warc_pages(path)
    if kind == "html":
        return iter([_html_page(path)])
    raise InputError(f"web: {path}: not a WARC (.warc, .warc.gz) or HTML (.html, .htm, .html.gz) file")


def extract_web(files: Iterable[str | os.PathLike], extractor: str, min_chars: int) -> pl.DataFrame:
    """Documents (WEB_DOC_COLUMNS) from WARC(.gz) and HTML files, read in the given order.

    `files`: the files themselves (synthpedia.workflow.web_input_files turns
    config inputs into this list). Only HTTP responses carrying HTML are read
    from WARC files; HTML files may be gzip-compressed; binary files named like
    HTML are skipped and counted. `doc_id` is a stable hash of the URL (the file path for a
    bare HTML file without a canonical link) and the WARC record id. Texts
    shorter than `min_chars` are dropped; repeated doc_ids keep their first
    occurrence. Raises InputError naming the file and record of a malformed input,
    and naming config key sources.web.inputs when no document is left.
    """
    if extractor not in EXTRACTORS:
        raise _unknown_extractor(extractor)
    rows, seen = [], set()
    short = binary = 0
    files = [Path(f) for f in files]
    for path in files:
        try:
            pages = list(_pages(path)) if web_file_kind(path) != "warc" else _pages(path)
        except NotAPage as err:
            binary += 1
            log.warning("%s: skipped", err)
            continue
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
    log.info(
        "extracted %d documents from %d files (%d shorter than %d characters dropped, %d binary files skipped)",
        len(rows),
        len(files),
        short,
        min_chars,
        binary,
    )
    if not rows:
        raise InputError(
            f"web: no documents extracted from {len(files)} input files ({short} pages shorter than "
            f"sources.web.min_chars={min_chars}, {binary} binary files skipped): config key 'sources.web.inputs' "
            "must name WARC(.gz) or HTML(.gz) pages with text; leave the web source out of 'sources' to run without it"
        )
    return pl.DataFrame(rows, schema={c: pl.String for c in WEB_DOC_COLUMNS})


def web_extract_job(files: Iterable[str], spec: dict, out_docs: str) -> None:
    """Rule web_extract: the rule's input files -> results/web/documents.parquet.

    `spec`: config section `sources.web` (extractor, min_chars).
    """
    write_parquet(extract_web(files, spec["extractor"], spec["min_chars"]), out_docs)
