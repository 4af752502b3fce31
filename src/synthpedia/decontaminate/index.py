"""The benchmark n-gram index, and the candidate items of each document.

Every n-gram of every benchmark item is kept as a sorted 64-bit hash with its
item. A bitmap over the top bits of those hashes rejects ~99% of a document's
n-grams at once; the rest are looked up in the sorted hashes, and every hit is
confirmed on the real words, so a hash collision never makes a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from synthpedia.benchsets import BenchmarkItem
from synthpedia.errors import InputError

from .hashing import Batch, batches, hash_batch, top_bits
from .normalize import word_tokens


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
        """The n-grams (word tuples) of item `item`, built once on first use."""
        found = self._ngram_sets.get(item)
        if found is None:
            w, n = self.item_words[item], self.ngram
            found = frozenset(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
            self._ngram_sets[item] = found
        return found

    def item_text(self, item: int) -> str:
        """Item `item`'s words joined by single spaces (what SequenceMatcher compares)."""
        found = self._texts.get(item)
        if found is None:
            found = self._texts[item] = " ".join(self.item_words[item])
        return found

    def maybe_contains(self, hashes: np.ndarray) -> np.ndarray:
        """Bitmap test: False means certainly not a benchmark n-gram."""
        top = top_bits(hashes, self.bitmap_bits)
        byte = np.take(self.bitmap, top >> np.uint64(3))
        return (byte >> (top & np.uint64(7)).astype(np.uint8)) & np.uint8(1) != 0


def _item_hashes(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash, owning text) of every n-gram of `texts`, sorted, each pair once."""
    all_hashes, all_owners = [], []
    for lo, hi in batches(texts):
        batch = hash_batch(texts[lo:hi], ngram)
        pos, hashes = batch.valid_grams()
        all_hashes.append(hashes)
        all_owners.append(batch.doc_of_word(pos).astype(np.int32) + lo)
    hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, dtype=np.uint64)
    owners = np.concatenate(all_owners) if all_owners else np.zeros(0, dtype=np.int32)
    order = np.lexsort((owners, hashes))
    hashes, owners = hashes[order], owners[order]
    if len(hashes):
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (owners[1:] != owners[:-1])
        hashes, owners = hashes[first], owners[first]
    return hashes, owners


def build_index(items: Sequence[BenchmarkItem], ngram: int) -> DecontaminationIndex:
    """Index every `ngram`-gram of every item's normalised `text` (items in the given order)."""
    if ngram < 1:
        raise InputError(f"config key 'decontamination.ngram': must be at least 1, got {ngram}")
    benchmarks = list(dict.fromkeys(item.benchmark for item in items))
    words = [word_tokens(item.text) for item in items]
    keep = [k for k, w in enumerate(words) if len(w) >= ngram]
    kept_items = [items[k] for k in keep]
    kept_words = [tuple(words[k]) for k in keep]
    # hash the items' words rejoined by spaces: same tokens, same hashes as in documents
    hashes, owners = _item_hashes([" ".join(w) for w in kept_words], ngram)
    # 64-128 bits of bitmap per n-gram: ~1% of document n-grams reach the binary search
    bits = int(min(32, max(16, np.ceil(np.log2(max(len(hashes), 1) * 64)))))
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    top = top_bits(hashes, bits)
    np.bitwise_or.at(bitmap, top >> np.uint64(3), (np.uint8(1) << (top & np.uint64(7)).astype(np.uint8)))
    return DecontaminationIndex(ngram, kept_items, benchmarks, kept_words, hashes, owners, bitmap, bits)


def _hits(batch: Batch, index: DecontaminationIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(document, item, position) of every n-gram position of `batch` whose hash an item holds.

    Returned as (doc, item, pos) arrays sorted by document, item, then position;
    None when nothing matches.
    """
    if not len(batch.gram_hash) or not len(index.hashes):
        return None
    maybe = np.flatnonzero(index.maybe_contains(batch.gram_hash))
    maybe = maybe[batch.valid[maybe]]
    if not len(maybe):
        return None
    hashes = batch.gram_hash[maybe]
    left = np.searchsorted(index.hashes, hashes)
    found = np.take(index.hashes, np.minimum(left, len(index.hashes) - 1)) == hashes
    if not found.any():
        return None
    positions, hashes, left = maybe[found], hashes[found], left[found]
    right = np.searchsorted(index.hashes, hashes, side="right")
    # expand each hit into one (position, item) pair per item holding that hash
    counts = right - left
    pos_rep = np.repeat(positions, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    item_rep = index.owners[np.repeat(left, counts) + offsets].astype(np.int64)
    doc_rep = batch.doc_of_word(pos_rep)
    order = np.lexsort((pos_rep, item_rep, doc_rep))
    return doc_rep[order], item_rep[order], pos_rep[order]


def _confirmed(batch: Batch, index: DecontaminationIndex, hits) -> dict[int, list[tuple[int, int]]]:
    """{document: [(-shared n-gram positions, item)]} for the (document, item) pairs whose
    n-gram hits include at least one real match of words (a hash collision is not one)."""
    doc_rep, item_rep, pos_rep = hits
    # one entry per (document, item): how many n-gram positions they share, and where they start
    first = np.ones(len(doc_rep), dtype=bool)
    first[1:] = (doc_rep[1:] != doc_rep[:-1]) | (item_rep[1:] != item_rep[:-1])
    starts = np.flatnonzero(first)
    shared = np.diff(np.append(starts, len(doc_rep)))
    grams: dict[int, tuple[str, ...]] = {}  # position -> the n-gram's words
    by_doc: dict[int, list[tuple[int, int]]] = {}
    pairs = zip(starts.tolist(), doc_rep[starts].tolist(), item_rep[starts].tolist(), shared.tolist())
    for k, doc, item, count in pairs:
        # try the pair's positions in order until one is the item's n-gram word for word
        for pos in pos_rep[k : k + count].tolist():
            gram = grams.get(pos)
            if gram is None:
                gram = grams[pos] = batch.words(pos, index.ngram)
            if gram in index.item_ngrams(item):
                by_doc.setdefault(doc, []).append((-count, item))
                break
    return by_doc


def candidate_items(texts: Sequence[str], index: DecontaminationIndex) -> Iterable[tuple[int, list[int], str]]:
    """(document, candidate items, normalised document text) for each document sharing an
    n-gram with at least one item, in document order.

    A document's items come most-shared-n-grams first, then in index order (so the
    item it most likely copies is checked first; the order is fixed by the data
    alone). Each shared n-gram is confirmed on the real words, so a hash collision
    never makes a candidate.
    """
    for lo, hi in batches(texts):
        batch = hash_batch(texts[lo:hi], index.ngram)
        hits = _hits(batch, index)
        if hits is None:
            continue
        by_doc = _confirmed(batch, index, hits)
        for doc in sorted(by_doc):
            yield lo + doc, [item for _, item in sorted(by_doc[doc])], batch.doc_text(doc)
