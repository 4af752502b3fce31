"""Benchmark decontamination: the original Cosmopedia rule, made fast and deterministic.

The rule (reference.md, "Benchmark decontamination"):
1. Normalise text (NFD, strip combining marks, lowercase) and split it into word
   tokens (`\\w+`).
2. Index every n-gram (n=10) of every benchmark item's `text`; a generation that
   shares an n-gram with an item is a candidate for that item.
3. For each candidate pair, `SequenceMatcher(autojunk=False)` over the two
   normalised texts (tokens joined by single spaces); sum the sizes of the matching
   blocks longer than `min_block` (5) characters; `ratio = sum / len(benchmark
   text)`; a ratio above `threshold` (0.5) drops the generation.

Differences from the published script, all on the safe side (every generation it
drops is dropped here too):
- every candidate item is checked (most shared n-grams first, then index order),
  not only the item of the first n-gram met while iterating a Python set, which
  depended on PYTHONHASHSEED and missed documents whose first-found n-gram
  belonged to another item;
- the matched length is the plain sum of block sizes, as reference.md states; the
  published script measured the blocks after collapsing whitespace, never longer.

Speed (about 10x the straight script per core, see benchmarks/decontamination.py):
no n-gram is built as a Python tuple. A batch of documents is normalised with
C-speed string methods (ASCII fast path; one str.replace per distinct non-ASCII
character otherwise) and encoded to bytes; word boundaries, a 64-bit hash per word
and per n-gram (prefix sums of a polynomial) come from vectorised numpy; a bitmap
over the benchmark n-gram hashes rejects ~99% of n-grams at once, the rest are
looked up in the sorted hashes, and every hit is confirmed on the real words (a
hash collision never makes a candidate). SequenceMatcher runs only on confirmed
candidate pairs, through cydifflib (a C++ port with identical matching blocks)
when installed, else difflib; a benchmark text found whole in the generation has
ratio 1 without it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import polars as pl

import synthpedia
from synthpedia.benchsets import BenchmarkItem, load_benchmark
from synthpedia.errors import InputError
from synthpedia.io import read_parquets, write_csv, write_parquet
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS, CONTAMINATION_TABLE_COLUMNS

log = logging.getLogger(__name__)

try:  # same algorithm and matching blocks as difflib, about 10-25x faster
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover - depends on the environment
    from difflib import SequenceMatcher

NGRAM = 10
THRESHOLD = 0.5
MIN_BLOCK = 5

SEQUENCE_MATCHER = SequenceMatcher.__module__  # "cydifflib" or "difflib", for logs

_WORD_RE = re.compile(r"\w+")
_BATCH_BYTES = 1 << 18  # bytes of text per vectorised batch: keeps the arrays cache-sized
_PAD = 8  # separator bytes around a batch, so 8-byte loads at word edges stay in bounds

_U64 = np.uint64
_WORD_BASE = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MIX3 = 0xD6E8FEB86659FD93


# --- normalisation --------------------------------------------------------------------------

_ASCII_BYTES = bytes(range(128))


def _non_ascii_chars(text: str) -> set[str]:
    """The distinct non-ASCII characters of `text` (C-speed: delete the ASCII bytes of its UTF-8)."""
    raw = text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES)
    return set(raw.decode("utf-8", "surrogatepass"))


def normalize(text: str) -> str:
    """NFD, combining marks (category Mn) removed, lowercased: the original's normalisation."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFD", text)
    for ch in _non_ascii_chars(text):
        if unicodedata.category(ch) == "Mn":
            text = text.replace(ch, "")
    return text.lower()


def word_tokens(text: str) -> list[str]:
    """The word tokens the rule compares: `\\w+` runs of the normalised text."""
    return _WORD_RE.findall(normalize(text))


def _is_word(text: str) -> bool:
    return all(_WORD_RE.match(ch) for ch in text)


def _is_non_word(text: str) -> bool:
    return not any(_WORD_RE.match(ch) for ch in text)


_HANGUL = range(0xAC00, 0xD7A4)  # syllables that NFD decomposes without a decomposition entry
_SIGMA = "\u03a3"  # the one character whose lowercase depends on its neighbours (Final_Sigma)
_ACTIONS: dict[str, str] = {}


def _action(ch: str) -> str:
    """How `_hashable` treats a non-ASCII character (cached).

    "drop": a combining mark (category Mn). "decompose": NFD changes it (canonical
    decomposition, Hangul). "space": not a word character, nor is its lowercase.
    "keep": a word character, as is its lowercase, and not reordered by NFD.
    "unsafe": anything else (handled by the plain normalisation).
    """
    found = _ACTIONS.get(ch)
    if found is None:
        decomposition = unicodedata.decomposition(ch)
        if unicodedata.category(ch) == "Mn":
            found = "drop"
        elif ord(ch) in _HANGUL or (decomposition and not decomposition.startswith("<")):
            found = "decompose"
        elif _is_non_word(ch) and _is_non_word(ch.lower()):
            found = "space"
        elif _is_word(ch) and _is_word(ch.lower()) and not unicodedata.combining(ch):
            found = "keep"
        else:
            found = "unsafe"
        _ACTIONS[ch] = found
    return found


def _hashable(text: str) -> str:
    """`normalize(text)` with its non-ASCII non-word characters replaced by spaces.

    The word tokens are unchanged, and what is left outside ASCII belongs to words,
    so in UTF-8 every byte >= 0x80 is a word byte: tokenising the bytes needs only
    a 256-entry table. Done with one str.replace per distinct non-ASCII character,
    so most generations (curly quotes, dashes, accents) become ASCII before the
    lowercase. Why this equals NFD + drop marks + lowercase: NFD decomposes each
    character on its own and then reorders runs of combining characters, which are
    all dropped or blanked here ("keep" excludes combining ones, else "unsafe");
    lowercasing is per character except for capital sigma, which, when present,
    is lowercased before blanking.
    """
    if text.isascii():
        return text.lower()
    chars = _non_ascii_chars(text)
    decomposed = [ch for ch in chars if _action(ch) == "decompose"]
    if decomposed:
        for ch in decomposed:
            text = text.replace(ch, unicodedata.normalize("NFD", ch))
        chars = (chars - set(decomposed)) | {c for ch in decomposed for c in unicodedata.normalize("NFD", ch)}
        chars = {ch for ch in chars if not ch.isascii()}
    actions = {ch: _action(ch) for ch in chars}
    if "unsafe" in actions.values() or "decompose" in actions.values():
        return _hashable_plain(text)
    for ch, action in actions.items():
        if action == "drop":
            text = text.replace(ch, "")
    blank = [ch for ch, action in actions.items() if action == "space"]
    if _SIGMA in actions:  # lowercase with the neighbours still in place, then blank
        text = text.lower()
        blank = {low for ch in blank for low in ch.lower()}
    for ch in blank:
        text = text.replace(ch, " ")
    return text.lower()


def _hashable_plain(text: str) -> str:
    """The straightforward (slower) form of `_hashable`: normalise, then blank non-word characters."""
    text = normalize(text)
    for ch in _non_ascii_chars(text):
        if _is_non_word(ch):
            text = text.replace(ch, " ")
    return text


# --- vectorised hashing ---------------------------------------------------------------------

# _LOW_BYTES[k]: mask of the k low bytes of a little-endian uint64
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=_U64)


class _Powers:
    """base**i and base**-i modulo 2**64 for i < n, grown on demand."""

    def __init__(self, base: int):
        self.base, self.inverse = base, pow(base, -1, 1 << 64)
        self.fwd = self.bwd = np.ones(0, dtype=_U64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.fwd) < n:
            size = max(n, 2 * len(self.fwd), 1 << 16)
            for attr, base in (("fwd", self.base), ("bwd", self.inverse)):
                steps = np.full(size, base, dtype=_U64)
                steps[0] = 1
                setattr(self, attr, np.cumprod(steps, dtype=_U64))
        return self.fwd[:n], self.bwd[:n]


_WORD_POWERS = _Powers(_WORD_BASE)


def _mix(x: np.ndarray) -> np.ndarray:
    """Spread the bits of a hash (a multiply-xorshift finaliser)."""
    x = x ^ (x >> 32)
    x *= _U64(_MIX1)
    return x ^ (x >> 29)


@dataclass
class _Batch:
    """Documents of one batch, normalised and UTF-8 encoded, with their words and n-gram hashes.

    `data` is 8 newlines + the documents joined by newlines + 8 newlines; word
    offsets index it. `gram_hash[i]` is the hash of the n-gram starting at word i;
    it means something only where `valid` (the n-gram lies inside one document).
    """

    data: bytes
    word_start: np.ndarray
    word_end: np.ndarray
    doc_first_word: np.ndarray  # index of each document's first word, plus the word count
    gram_hash: np.ndarray
    valid: np.ndarray

    def doc_of_word(self, word: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.doc_first_word, word, side="right") - 1

    def words(self, first: int, count: int) -> tuple[str, ...]:
        s, e = self.word_start[first : first + count], self.word_end[first : first + count]
        data = self.data
        return tuple(data[a:b].decode("utf-8") for a, b in zip(s.tolist(), e.tolist()))

    def doc_text(self, doc: int) -> str:
        """The document's words joined by single spaces (what SequenceMatcher compares)."""
        a, b = int(self.doc_first_word[doc]), int(self.doc_first_word[doc + 1])
        if a == b:
            return ""
        text = self.data[self.word_start[a] : self.word_end[b - 1]].decode("utf-8")
        return " ".join(_WORD_RE.findall(text))

    def valid_grams(self) -> tuple[np.ndarray, np.ndarray]:
        """(start word, hash) of every n-gram inside one document."""
        pos = np.flatnonzero(self.valid)
        return pos, self.gram_hash[pos]


def _encode_batch(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """UTF-8 of the `_hashable` texts joined by newlines and padded with _PAD newlines,
    and the byte offset where each text starts (plus, last, its end + 1)."""
    pad = "\n" * _PAD
    joined = "\n".join(texts)
    if joined.isascii():  # the common case: lowercasing is all there is to do
        data = (pad + joined.lower() + pad).encode("ascii")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:
        hashable = [_hashable(t) for t in texts]
        joined = "\n".join(hashable)
        data = (pad + joined + pad).encode("utf-8")
        if joined.isascii():
            lengths = np.fromiter(map(len, hashable), dtype=np.int64, count=len(texts))
        else:
            lengths = np.fromiter(
                (len(t) if t.isascii() else len(t.encode("utf-8")) for t in hashable), dtype=np.int64, count=len(texts)
            )
    doc_start = np.empty(len(texts) + 1, dtype=np.int64)
    doc_start[0] = _PAD
    np.cumsum(lengths + 1, out=doc_start[1:])
    doc_start[1:] += _PAD
    return data, doc_start


def _hash_batch(texts: Sequence[str], ngram: int) -> _Batch:
    """Normalise, tokenise and hash a batch of raw texts.

    Words are runs of word bytes in the UTF-8 of `_hashable` text. A word's hash
    mixes its length, its first 8 bytes and its last 8 bytes, read as unaligned
    little-endian uint64 (longer words that differ only in the middle collide,
    which costs a rejected candidate, never a wrong answer). An n-gram's hash is a
    polynomial of its word hashes, computed for every position at once from
    prefix sums.
    """
    data, doc_start = _encode_batch(texts)
    raw = np.frombuffer(data, dtype=np.uint8)
    # word bytes of lowercased text: [a-z0-9_] and every byte >= 0x80 (see `_hashable`);
    # a few vectorised comparisons beat a table lookup
    is_word = (raw - np.uint8(0x61)) < 26
    is_word |= (raw - np.uint8(0x30)) < 10
    is_word |= raw >= 0x80
    is_word |= raw == 0x5F
    # data starts and ends with separators, so word edges pair up as (start, end)
    edges = np.flatnonzero(is_word[1:] ^ is_word[:-1]) + 1
    word_start, word_end = edges[0::2], edges[1::2]
    doc_first_word = np.searchsorted(word_start, doc_start)

    # unaligned 8-byte loads: windows[i] = data[i:i+8] as a little-endian uint64
    windows = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    length = word_end - word_start
    head = np.take(windows, word_start) & np.take(_LOW_BYTES, np.minimum(length, 8))
    tail = np.zeros(len(length), dtype=_U64)
    long_words = np.flatnonzero(length > 8)
    tail[long_words] = np.take(windows, word_end[long_words] - 8)
    word_hash = _mix((head * _U64(_MIX2)) ^ (tail * _U64(_MIX3)) ^ length.astype(_U64))

    # n-gram hash = sum(word_hash[i + k] * B**k): prefix sums shifted back by B**-i
    n_words = len(word_hash)
    n_grams = max(n_words - ngram + 1, 0)
    fwd, bwd = _WORD_POWERS.get(n_words + 1)
    prefix = np.empty(n_words + 1, dtype=_U64)
    prefix[0] = 0
    np.cumsum(word_hash * fwd[:n_words], out=prefix[1:])
    gram_hash = _mix((prefix[ngram:] - prefix[:n_grams]) * bwd[:n_grams])
    # an n-gram must not span two documents: clear the n-1 starts before each document's start
    valid = np.ones(n_grams, dtype=bool)
    if n_grams and len(doc_first_word) > 2:
        cut = (doc_first_word[1:-1, None] - np.arange(1, ngram)[None, :]).ravel()
        valid[cut[(cut >= 0) & (cut < n_grams)]] = False
    return _Batch(data, word_start, word_end, doc_first_word, gram_hash, valid)


def _batches(texts: Sequence[str], max_size: int = _BATCH_BYTES) -> Iterable[tuple[int, int]]:
    """(start, stop) ranges of `texts` holding about `max_size` characters each."""
    start, size = 0, 0
    for k, t in enumerate(texts):
        size += len(t) + 1
        if size >= max_size:
            yield start, k + 1
            start, size = k + 1, 0
    if start < len(texts):
        yield start, len(texts)


# --- the index ------------------------------------------------------------------------------


@dataclass
class DecontaminationIndex:
    """Every n-gram of every benchmark item, as sorted 64-bit hashes with their item.

    `items` are the items long enough to have an n-gram (shorter ones can never be
    candidates, as in the original); `benchmarks` lists every benchmark name seen,
    in order, including those with no indexed item.
    """

    ngram: int
    items: list[BenchmarkItem]
    benchmarks: list[str]
    item_words: list[tuple[str, ...]]
    hashes: np.ndarray  # sorted uint64
    owners: np.ndarray  # int32: index into `items` for each hash (a hash may repeat)
    bitmap: np.ndarray  # uint8 bit set over the top `bitmap_bits` bits of each hash
    bitmap_bits: int
    _ngram_sets: dict = field(default_factory=dict, repr=False)
    _texts: dict = field(default_factory=dict, repr=False)

    def item_ngrams(self, item: int) -> frozenset:
        found = self._ngram_sets.get(item)
        if found is None:
            w, n = self.item_words[item], self.ngram
            found = frozenset(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
            self._ngram_sets[item] = found
        return found

    def item_text(self, item: int) -> str:
        found = self._texts.get(item)
        if found is None:
            found = self._texts[item] = " ".join(self.item_words[item])
        return found

    def maybe_contains(self, hashes: np.ndarray) -> np.ndarray:
        """Bitmap test: False means certainly not a benchmark n-gram."""
        top = hashes >> _U64(64 - self.bitmap_bits)
        byte = np.take(self.bitmap, top >> _U64(3))
        return (byte >> (top & _U64(7)).astype(np.uint8)) & np.uint8(1) != 0


def build_index(items: Sequence[BenchmarkItem], ngram: int = NGRAM) -> DecontaminationIndex:
    """Index every `ngram`-gram of every item's normalised `text` (items in the given order)."""
    if ngram < 1:
        raise InputError(f"decontamination.ngram must be at least 1, got {ngram}")
    benchmarks = list(dict.fromkeys(item.benchmark for item in items))
    words = [word_tokens(item.text) for item in items]
    keep = [k for k, w in enumerate(words) if len(w) >= ngram]
    kept_items = [items[k] for k in keep]
    kept_words = [tuple(words[k]) for k in keep]
    # hash the items' words rejoined by spaces: same tokens, same hashes as in documents
    texts = [" ".join(w) for w in kept_words]
    all_hashes, all_owners = [], []
    for lo, hi in _batches(texts):
        batch = _hash_batch(texts[lo:hi], ngram)
        pos, hashes = batch.valid_grams()
        all_hashes.append(hashes)
        all_owners.append(batch.doc_of_word(pos).astype(np.int32) + lo)
    hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, dtype=_U64)
    owners = np.concatenate(all_owners) if all_owners else np.zeros(0, dtype=np.int32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    if len(hashes):
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
        hashes, owners = hashes[first], owners[first]
    # 64-128 bits of bitmap per n-gram: ~1% of document n-grams reach the binary search
    bits = int(min(32, max(16, np.ceil(np.log2(max(len(hashes), 1) * 64)))))
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    top = hashes >> _U64(64 - bits)
    np.bitwise_or.at(bitmap, top >> _U64(3), (np.uint8(1) << (top & _U64(7)).astype(np.uint8)))
    return DecontaminationIndex(ngram, kept_items, benchmarks, kept_words, hashes, owners, bitmap, bits)


# --- decontaminating a shard ----------------------------------------------------------------


def match_ratio(generation: str, benchmark: str, min_block: int = MIN_BLOCK) -> float:
    """Sum of SequenceMatcher block sizes > `min_block`, over len(benchmark) (both normalised).

    Shortcut: when the benchmark text occurs whole in the generation, SequenceMatcher's
    first block is that whole text and nothing is left on either side of it, so the
    ratio is exactly 1 (or 0 for a text of `min_block` characters or fewer).
    """
    if not benchmark:
        return 0.0
    if benchmark in generation:
        return 1.0 if len(benchmark) > min_block else 0.0
    blocks = SequenceMatcher(None, generation, benchmark, autojunk=False).get_matching_blocks()
    return sum(size for _, _, size in blocks if size > min_block) / len(benchmark)


def candidate_items(texts: Sequence[str], index: DecontaminationIndex) -> Iterable[tuple[int, list[int], str]]:
    """(document, candidate items, normalised document text) for each document sharing an
    n-gram with at least one item, in document order.

    A document's items come most-shared-n-grams first, then in index order (so the
    item it most likely copies is checked first; the order is fixed by the data
    alone). Each shared n-gram is confirmed on the real words, so a hash collision
    never makes a candidate.
    """
    n = index.ngram
    for lo, hi in _batches(texts):
        batch = _hash_batch(texts[lo:hi], n)
        if not len(batch.gram_hash) or not len(index.hashes):
            continue
        maybe = np.flatnonzero(index.maybe_contains(batch.gram_hash))
        maybe = maybe[batch.valid[maybe]]
        if not len(maybe):
            continue
        hashes = batch.gram_hash[maybe]
        left = np.searchsorted(index.hashes, hashes)
        found = np.take(index.hashes, np.minimum(left, len(index.hashes) - 1)) == hashes
        if not found.any():
            continue
        positions, hashes, left = maybe[found], hashes[found], left[found]
        right = np.searchsorted(index.hashes, hashes, side="right")
        # expand each hit into one (position, item) pair per item holding that hash
        counts = right - left
        pos_rep = np.repeat(positions, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        item_rep = index.owners[np.repeat(left, counts) + offsets].astype(np.int64)
        doc_rep = batch.doc_of_word(pos_rep)
        # one entry per (document, item): how many n-gram positions they share, and a position
        order = np.lexsort((pos_rep, item_rep, doc_rep))
        doc_rep, item_rep, pos_rep = doc_rep[order], item_rep[order], pos_rep[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (doc_rep[1:] != doc_rep[:-1]) | (item_rep[1:] != item_rep[:-1])
        starts = np.flatnonzero(first)
        shared = np.diff(np.append(starts, len(order)))
        grams: dict[int, tuple[str, ...]] = {}  # position -> the n-gram's words
        by_doc: dict[int, list[tuple[int, int]]] = {}
        for k, doc, item, count in zip(starts.tolist(), doc_rep[starts].tolist(), item_rep[starts].tolist(),
                                       shared.tolist()):
            # confirm on the words; a hash collision is not a candidate (try the pair's other positions)
            for pos in pos_rep[k : k + count].tolist():
                gram = grams.get(pos)
                if gram is None:
                    gram = grams[pos] = batch.words(pos, n)
                if gram in index.item_ngrams(item):
                    by_doc.setdefault(doc, []).append((-count, item))
                    break
        for doc in sorted(by_doc):
            yield lo + doc, [item for _, item in sorted(by_doc[doc])], batch.doc_text(doc)


def decontaminate_shard(
    df: pl.DataFrame,
    index: DecontaminationIndex,
    text_column: str = "text",
    threshold: float = THRESHOLD,
    min_block: int = MIN_BLOCK,
    every_item: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a generation shard into (clean rows, hits).

    `df` needs `prompt_id`, `source` and `text_column`. A row is removed when, for
    some benchmark item it shares an n-gram with, the match ratio exceeds
    `threshold`. `clean` keeps the other rows in their order, all columns intact.
    `hits` has CONTAMINATION_HIT_COLUMNS: with `every_item` (the default), one row
    per (removed generation, candidate item over the threshold); without it, one row
    per removed generation (its first item over the threshold, most shared n-grams
    first) and SequenceMatcher stops there, which is much cheaper when a
    generation meets many items that share a preamble (MMLU's moral scenarios).
    The same rows are removed either way. Rows come in generation order, then item
    order. Deterministic: nothing depends on PYTHONHASHSEED or thread counts.
    """
    for column in ("prompt_id", "source", text_column):
        if column not in df.columns:
            raise InputError(f"decontamination: the generation table has no column '{column}'")
    texts = [t or "" for t in df.get_column(text_column).to_list()]
    removed = np.zeros(len(texts), dtype=bool)
    hit_rows: list[tuple[int, int, float]] = []
    for doc, items, doc_text in candidate_items(texts, index):
        for item in items:
            ratio = match_ratio(doc_text, index.item_text(item), min_block)
            if ratio > threshold:
                removed[doc] = True
                hit_rows.append((doc, item, ratio))
                if not every_item:
                    break
    clean = df.filter(pl.Series(~removed)) if removed.any() else df
    prompt_ids = df.get_column("prompt_id").cast(pl.String)
    sources = df.get_column("source").cast(pl.String)
    hits = pl.DataFrame(
        {
            "prompt_id": [prompt_ids[d] for d, _, _ in hit_rows],
            "source": [sources[d] for d, _, _ in hit_rows],
            "benchmark": [index.items[i].benchmark for _, i, _ in hit_rows],
            "item_id": [index.items[i].item_id for _, i, _ in hit_rows],
            "ratio": [r for _, _, r in hit_rows],
        },
        schema={
            "prompt_id": pl.String,
            "source": pl.String,
            "benchmark": pl.String,
            "item_id": pl.String,
            "ratio": pl.Float64,
        },
    )
    return clean, hits.select(CONTAMINATION_HIT_COLUMNS)


def contamination_table(
    hits: pl.DataFrame,
    groups: dict[str, list[str]] | None,
    benchmarks: list[str],
    config_hash: str,
) -> pl.DataFrame:
    """The original's table: per source group and benchmark, generations removed and unique items.

    `hits`: the concatenated hit tables of all shards. `groups`: label -> sources
    (e.g. {"web + stanford + openstax": ["web", "stanford", "openstax"]}); empty or
    None means one group per source found in `hits`. Every (group, benchmark) pair
    gets a row, zeros included. A generation removed for items of two benchmarks
    counts under both, as in the original.
    """
    missing = [c for c in CONTAMINATION_HIT_COLUMNS if c not in hits.columns]
    if missing and hits.height:
        raise InputError(f"decontamination: hit table lacks columns {missing}")
    if not groups:
        sources = sorted(set(hits.get_column("source").to_list())) if hits.height else []
        groups = {s: [s] for s in sources}
    rows = []
    for label, group_sources in groups.items():
        in_group = hits.filter(pl.col("source").is_in(list(group_sources))) if hits.height else hits
        for bench in benchmarks:
            sel = in_group.filter(pl.col("benchmark") == bench) if in_group.height else in_group
            rows.append(
                {
                    "group": label,
                    "benchmark": bench,
                    "samples_removed": sel.select(pl.struct("source", "prompt_id").n_unique()).item()
                    if sel.height
                    else 0,
                    "unique_benchmark_items": sel.get_column("item_id").n_unique() if sel.height else 0,
                    "config_hash": config_hash,
                    "version": synthpedia.__version__,
                }
            )
    schema = {
        "group": pl.String,
        "benchmark": pl.String,
        "samples_removed": pl.Int64,
        "unique_benchmark_items": pl.Int64,
        "config_hash": pl.String,
        "version": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).select(CONTAMINATION_TABLE_COLUMNS)

def decontaminate_job(
    generations_path: str, clean_path: str, removed_path: str, params: dict, benchmarks: dict[str, dict]
) -> None:
    """Drop generations that match a benchmark item (the original's 10-gram + SequenceMatcher rule)."""
    items = [item for name, spec in sorted(benchmarks.items()) for item in load_benchmark({"name": name, **spec})]
    index = build_index(items, ngram=params["ngram"])
    df = pl.read_parquet(generations_path)
    clean, hits = decontaminate_shard(
        df,
        index,
        threshold=params["threshold"],
        min_block=params["min_block"],
        every_item=params["every_item"],
    )
    log.info("%d generations, %d removed, %d benchmark items indexed", df.height, df.height - clean.height, len(items))
    write_parquet(clean, clean_path)
    write_parquet(hits, removed_path)


def contamination_table_job(removed_paths: Sequence[str], out_csv: str, params: dict, config_hash: str) -> None:
    hits = read_parquets(removed_paths)
    write_csv(contamination_table(hits, params["groups"], list(params["benchmarks"]), config_hash), out_csv)
