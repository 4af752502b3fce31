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
- every candidate item is checked, in item order, not only the first item met
  while iterating a Python set (which depended on PYTHONHASHSEED and missed
  documents whose first-found n-gram belonged to another item);
- the matched length is the plain sum of block sizes, as reference.md states; the
  published script measured the blocks after collapsing whitespace, which is
  never longer.

Speed: n-grams are not built as Python tuples. Each batch of documents is
normalised with C string methods (ASCII fast path), turned into a numpy array of
code points, and every word and every n-gram gets a 64-bit polynomial hash from
prefix sums; a bitmap over the benchmark n-gram hashes rejects almost every
n-gram at once, the few left are looked up in the sorted benchmark hashes, and
each hit is confirmed on the real words (a hash collision can never make a
candidate). SequenceMatcher runs only for confirmed candidate pairs, through
cydifflib (a C++ port with identical matching blocks) when it is installed.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import polars as pl

import synthpedia
from synthpedia.benchsets import BenchmarkItem
from synthpedia.errors import InputError
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS, CONTAMINATION_TABLE_COLUMNS

try:  # same algorithm and matching blocks as difflib, about 10-25x faster
    from cydifflib import SequenceMatcher
except ImportError:  # pragma: no cover - depends on the environment
    from difflib import SequenceMatcher

NGRAM = 10
THRESHOLD = 0.5
MIN_BLOCK = 5

SEQUENCE_MATCHER = SequenceMatcher.__module__  # "cydifflib" or "difflib", for logs

_WORD_RE = re.compile(r"\w+")
_BATCH_CHARS = 1 << 20  # characters per vectorised batch: keeps the arrays cache-sized

_U64 = np.uint64
_CHAR_BASE = 0x100000001B3  # odd: invertible modulo 2**64
_WORD_BASE = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


# --- normalisation --------------------------------------------------------------------------

_MARKS_RE: re.Pattern | None = None


def _marks_re() -> re.Pattern:
    """A character class of every Unicode combining mark (category Mn), built once."""
    global _MARKS_RE
    if _MARKS_RE is None:
        ranges, start, prev = [], None, None
        for cp in range(sys.maxunicode + 1):
            if unicodedata.category(chr(cp)) == "Mn":
                if start is None:
                    start = cp
                elif cp != prev + 1:
                    ranges.append((start, prev))
                    start = cp
                prev = cp
        ranges.append((start, prev))
        _MARKS_RE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]+")
    return _MARKS_RE


def normalize(text: str) -> str:
    """NFD, combining marks removed, lowercased (ASCII text only needs the lowercase)."""
    if text.isascii():
        return text.lower()
    return _marks_re().sub("", unicodedata.normalize("NFD", text)).lower()


def word_tokens(text: str) -> list[str]:
    """The word tokens the rule compares: `\\w+` runs of the normalised text."""
    return _WORD_RE.findall(normalize(text))


# --- vectorised hashing ---------------------------------------------------------------------


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


_CHAR_POWERS = _Powers(_CHAR_BASE)
_WORD_POWERS = _Powers(_WORD_BASE)
_WORD_LUT = np.array([bool(_WORD_RE.match(chr(c))) for c in range(256)], dtype=bool)


def _mix(x: np.ndarray) -> np.ndarray:
    """Spread the bits of polynomial hashes (splitmix64 finaliser), so the top bits index well."""
    x = x ^ (x >> 30)
    x *= _U64(_MIX1)
    x ^= x >> 27
    x *= _U64(_MIX2)
    return x ^ (x >> 31)


@dataclass
class _Batch:
    """Normalised documents of one batch, joined by newlines, with their words and n-gram hashes."""

    joined: str  # the normalised documents joined by "\n"
    doc_start: np.ndarray  # char offset of each document in `joined` (plus the end)
    word_start: np.ndarray  # char offsets of every word
    word_end: np.ndarray
    doc_first_word: np.ndarray  # index of each document's first word (plus the total)
    gram_hash: np.ndarray  # hash of the n-gram starting at each word (valid ones only)
    gram_pos: np.ndarray  # word index where each of those n-grams starts

    def doc_of_word(self, word: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.doc_first_word, word, side="right") - 1

    def words(self, first: int, count: int) -> tuple[str, ...]:
        s, e = self.word_start[first : first + count], self.word_end[first : first + count]
        return tuple(self.joined[a:b] for a, b in zip(s.tolist(), e.tolist()))

    def doc_text(self, doc: int) -> str:
        """The document's words joined by single spaces (what SequenceMatcher compares)."""
        a, b = self.doc_first_word[doc], self.doc_first_word[doc + 1]
        return " ".join(self.words(a, b - a))


def _hash_batch(texts: Sequence[str], ngram: int) -> _Batch:
    """Normalise, tokenise and hash a batch of raw texts (see the module docstring)."""
    joined = "\n".join(texts)
    if joined.isascii():  # fast path: normalisation is lowercasing only
        joined = joined.lower()
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    else:
        normed = [normalize(t) for t in texts]
        joined = "\n".join(normed)
        lengths = np.fromiter((len(t) for t in normed), dtype=np.int64, count=len(normed))
    doc_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=doc_start[1:])

    if joined.isascii():
        codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        is_word = _WORD_LUT[codes]
    else:
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        is_word = _WORD_LUT[np.minimum(codes, 255)]
        high = codes > 255
        if high.any():
            high_codes = codes[high]
            uniq = np.unique(high_codes)
            uniq_ok = np.array([bool(_WORD_RE.match(chr(c))) for c in uniq.tolist()], dtype=bool)
            is_word[high] = uniq_ok[np.searchsorted(uniq, high_codes)]

    n_chars = len(codes)
    edges = np.diff(is_word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    word_start = np.flatnonzero(edges == 1)
    word_end = np.flatnonzero(edges == -1)
    doc_first_word = np.searchsorted(word_start, doc_start)

    # word hash = sum(code[s + k] * B**k): prefix sums of code * B**i, shifted back by B**-s
    fwd, bwd = _CHAR_POWERS.get(n_chars + 1)
    prefix = np.empty(n_chars + 1, dtype=_U64)
    prefix[0] = 0
    np.cumsum(codes * fwd[:n_chars], out=prefix[1:])
    word_hash = _mix((prefix[word_end] - prefix[word_start]) * bwd[word_start])

    # n-gram hash: the same polynomial trick over word hashes
    n_words = len(word_hash)
    n_grams = n_words - ngram + 1
    if n_grams <= 0:
        empty = np.zeros(0, dtype=_U64)
        return _Batch(joined, doc_start, word_start, word_end, doc_first_word, empty, np.zeros(0, np.int64))
    wfwd, wbwd = _WORD_POWERS.get(n_words + 1)
    wprefix = np.empty(n_words + 1, dtype=_U64)
    wprefix[0] = 0
    np.cumsum(word_hash * wfwd[:n_words], out=wprefix[1:])
    gram_hash = (wprefix[ngram:] - wprefix[:n_grams]) * wbwd[:n_grams]
    # an n-gram must not span two documents
    word_doc = np.searchsorted(doc_first_word, np.arange(n_words), side="right")
    valid = word_doc[:n_grams] == word_doc[ngram - 1 :]
    gram_pos = np.flatnonzero(valid)
    return _Batch(
        joined, doc_start, word_start, word_end, doc_first_word, _mix(gram_hash[gram_pos]), gram_pos
    )


def _batches(texts: Sequence[str], max_chars: int = _BATCH_CHARS) -> Iterable[tuple[int, int]]:
    """(start, stop) ranges of `texts` holding about `max_chars` characters each."""
    start, size = 0, 0
    for k, t in enumerate(texts):
        size += len(t) + 1
        if size >= max_chars:
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
        return ((self.bitmap[top >> _U64(3)] >> (top & _U64(7)).astype(np.uint8)) & 1).astype(bool)


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
        all_hashes.append(batch.gram_hash)
        all_owners.append(batch.doc_of_word(batch.gram_pos).astype(np.int32) + lo)
    hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, dtype=_U64)
    owners = np.concatenate(all_owners) if all_owners else np.zeros(0, dtype=np.int32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    if len(hashes):
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
        hashes, owners = hashes[first], owners[first]
    # about 32 bits of bitmap per n-gram: ~3% of document n-grams reach the binary search
    bits = int(min(32, max(16, np.ceil(np.log2(max(len(hashes), 1) * 32)))))
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    top = hashes >> _U64(64 - bits)
    np.bitwise_or.at(bitmap, top >> _U64(3), (np.uint8(1) << (top & _U64(7)).astype(np.uint8)))
    return DecontaminationIndex(ngram, kept_items, benchmarks, kept_words, hashes, owners, bitmap, bits)


# --- decontaminating a shard ----------------------------------------------------------------


def match_ratio(generation: str, benchmark: str, min_block: int = MIN_BLOCK) -> float:
    """Sum of SequenceMatcher block sizes > `min_block` over len(benchmark) (both normalised)."""
    if not benchmark:
        return 0.0
    blocks = SequenceMatcher(None, generation, benchmark, autojunk=False).get_matching_blocks()
    return sum(size for _, _, size in blocks if size > min_block) / len(benchmark)


def candidate_pairs(texts: Sequence[str], index: DecontaminationIndex) -> Iterable[tuple[int, int, str]]:
    """(document, item, normalised document text) for each document sharing an n-gram with an item.

    Documents in order; for each document its candidate items in index order. The
    shared n-gram is confirmed on the real words, so a hash collision is never a
    candidate.
    """
    n = index.ngram
    for lo, hi in _batches(texts):
        batch = _hash_batch(texts[lo:hi], n)
        if not len(batch.gram_hash) or not len(index.hashes):
            continue
        maybe = np.flatnonzero(index.maybe_contains(batch.gram_hash))
        if not len(maybe):
            continue
        hashes = batch.gram_hash[maybe]
        left = np.searchsorted(index.hashes, hashes, side="left")
        right = np.searchsorted(index.hashes, hashes, side="right")
        found = right > left
        if not found.any():
            continue
        positions = batch.gram_pos[maybe[found]]
        left, right = left[found], right[found]
        # expand each hit into one (position, item) pair per item holding that hash
        counts = right - left
        pos_rep = np.repeat(positions, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        item_rep = index.owners[np.repeat(left, counts) + offsets]
        doc_rep = batch.doc_of_word(pos_rep)
        order = np.lexsort((pos_rep, item_rep, doc_rep))
        confirmed: dict[int, list[int]] = {}
        done = set()
        for doc, item, pos in zip(doc_rep[order].tolist(), item_rep[order].tolist(), pos_rep[order].tolist()):
            if (doc, item) in done:
                continue
            if batch.words(pos, n) in index.item_ngrams(item):
                done.add((doc, item))
                confirmed.setdefault(doc, []).append(item)
        for doc in sorted(confirmed):
            text = batch.doc_text(doc)
            for item in confirmed[doc]:
                yield lo + doc, item, text


def decontaminate_shard(
    df: pl.DataFrame,
    index: DecontaminationIndex,
    text_column: str = "text",
    threshold: float = THRESHOLD,
    min_block: int = MIN_BLOCK,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a generation shard into (clean rows, hits).

    `df` needs `prompt_id`, `source` and `text_column`. A row is removed when, for
    some benchmark item it shares an n-gram with, the match ratio exceeds
    `threshold`. `clean` keeps the other rows in their order, all columns intact;
    `hits` has CONTAMINATION_HIT_COLUMNS, one row per (removed generation, item over
    the threshold), in row then item order. Deterministic: no dependence on
    PYTHONHASHSEED or on thread counts.
    """
    for column in ("prompt_id", "source", text_column):
        if column not in df.columns:
            raise InputError(f"decontamination: the generation table has no column '{column}'")
    texts = [t or "" for t in df.get_column(text_column).to_list()]
    removed = np.zeros(len(texts), dtype=bool)
    hit_rows: list[tuple[int, int, float]] = []
    for doc, item, doc_text in candidate_pairs(texts, index):
        ratio = match_ratio(doc_text, index.item_text(item), min_block)
        if ratio > threshold:
            removed[doc] = True
            hit_rows.append((doc, item, ratio))
    clean = df.filter(pl.Series(~removed)) if removed.any() else df
    prompt_ids = df.get_column("prompt_id")
    sources = df.get_column("source")
    hits = pl.DataFrame(
        {
            "prompt_id": [str(prompt_ids[d]) for d, _, _ in hit_rows],
            "source": [str(sources[d]) for d, _, _ in hit_rows],
            "benchmark": [index.items[i].benchmark for _, i, _ in hit_rows],
            "item_id": [index.items[i].item_id for _, i, _ in hit_rows],
            "ratio": [r for _, _, r in hit_rows],
        },
        schema={"prompt_id": pl.String, "source": pl.String, "benchmark": pl.String,
                "item_id": pl.String, "ratio": pl.Float64},
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
