"""Vectorised word and n-gram hashing of a batch of documents (numpy, no Python tuple per n-gram).

A batch of documents is normalised with C-speed string methods (`hashable`) and
encoded to bytes; word boundaries, a 64-bit hash per word and per n-gram (prefix
sums of a polynomial) come from vectorised numpy. Hashes only propose
candidates: every hit is confirmed on the real words by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .normalize import WORD_RE, hashable

BATCH_CHARS = 1 << 18  # characters of text per vectorised batch: keeps the arrays cache-sized
_PAD = 8  # separator bytes around a batch, so 8-byte loads at word edges stay in bounds

_U64 = np.uint64
_WORD_BASE = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MIX3 = 0xD6E8FEB86659FD93

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


def mix(x: np.ndarray) -> np.ndarray:
    """Spread the bits of a hash (a multiply-xorshift finaliser)."""
    x = x ^ (x >> 32)
    x *= _U64(_MIX1)
    return x ^ (x >> 29)


def top_bits(hashes: np.ndarray, bits: int) -> np.ndarray:
    """The top `bits` bits of each uint64 hash (the slot of a bitmap over 2**bits)."""
    return hashes >> _U64(64 - bits)


@dataclass
class Batch:
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
        """The document (index in the batch) of each word index."""
        return np.searchsorted(self.doc_first_word, word, side="right") - 1

    def words(self, first: int, count: int) -> tuple[str, ...]:
        """`count` words from word index `first`, as normalised strings."""
        s, e = self.word_start[first : first + count], self.word_end[first : first + count]
        data = self.data
        return tuple(data[a:b].decode("utf-8") for a, b in zip(s.tolist(), e.tolist()))

    def doc_text(self, doc: int) -> str:
        """The document's words joined by single spaces (what SequenceMatcher compares)."""
        a, b = int(self.doc_first_word[doc]), int(self.doc_first_word[doc + 1])
        if a == b:
            return ""
        text = self.data[self.word_start[a] : self.word_end[b - 1]].decode("utf-8")
        return " ".join(WORD_RE.findall(text))

    def valid_grams(self) -> tuple[np.ndarray, np.ndarray]:
        """(start word, hash) of every n-gram inside one document."""
        pos = np.flatnonzero(self.valid)
        return pos, self.gram_hash[pos]


def _encode_batch(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """UTF-8 of the `hashable` texts joined by newlines and padded with _PAD newlines,
    and the byte offset where each text starts (plus, last, its end + 1)."""
    pad = "\n" * _PAD
    joined = "\n".join(texts)
    if joined.isascii():  # the common case: lowercasing is all there is to do
        data = (pad + joined.lower() + pad).encode("ascii")
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:
        normalised = [hashable(t) for t in texts]
        joined = "\n".join(normalised)
        data = (pad + joined + pad).encode("utf-8")
        if joined.isascii():
            lengths = np.fromiter(map(len, normalised), dtype=np.int64, count=len(texts))
        else:
            lengths = np.fromiter(
                (len(t) if t.isascii() else len(t.encode("utf-8")) for t in normalised),
                dtype=np.int64,
                count=len(texts),
            )
    doc_start = np.empty(len(texts) + 1, dtype=np.int64)
    doc_start[0] = _PAD
    np.cumsum(lengths + 1, out=doc_start[1:])
    doc_start[1:] += _PAD
    return data, doc_start


def _word_hashes(data: bytes, word_start: np.ndarray, word_end: np.ndarray) -> np.ndarray:
    """One hash per word: its length, first 8 bytes and last 8 bytes, mixed.

    The bytes are read as unaligned little-endian uint64 (longer words that differ
    only in the middle collide, which costs a rejected candidate, never a wrong answer).
    """
    windows = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    length = word_end - word_start
    head = np.take(windows, word_start) & np.take(_LOW_BYTES, np.minimum(length, 8))
    tail = np.zeros(len(length), dtype=_U64)
    long_words = np.flatnonzero(length > 8)
    tail[long_words] = np.take(windows, word_end[long_words] - 8)
    return mix((head * _U64(_MIX2)) ^ (tail * _U64(_MIX3)) ^ length.astype(_U64))


def hash_batch(texts: Sequence[str], ngram: int) -> Batch:
    """Normalise, tokenise and hash a batch of raw texts.

    Words are runs of word bytes in the UTF-8 of `hashable` text. An n-gram's hash
    is a polynomial of its word hashes, computed for every position at once from
    prefix sums.
    """
    data, doc_start = _encode_batch(texts)
    raw = np.frombuffer(data, dtype=np.uint8)
    # word bytes of lowercased text: [a-z0-9_] and every byte >= 0x80 (see `hashable`);
    # a few vectorised comparisons beat a table lookup
    is_word = (raw - np.uint8(0x61)) < 26
    is_word |= (raw - np.uint8(0x30)) < 10
    is_word |= raw >= 0x80
    is_word |= raw == 0x5F
    # data starts and ends with separators, so word edges pair up as (start, end)
    edges = np.flatnonzero(is_word[1:] ^ is_word[:-1]) + 1
    word_start, word_end = edges[0::2], edges[1::2]
    doc_first_word = np.searchsorted(word_start, doc_start)
    word_hash = _word_hashes(data, word_start, word_end)

    # n-gram hash = sum(word_hash[i + k] * B**k): prefix sums shifted back by B**-i
    n_words = len(word_hash)
    n_grams = max(n_words - ngram + 1, 0)
    fwd, bwd = _WORD_POWERS.get(n_words + 1)
    prefix = np.empty(n_words + 1, dtype=_U64)
    prefix[0] = 0
    np.cumsum(word_hash * fwd[:n_words], out=prefix[1:])
    gram_hash = mix((prefix[ngram:] - prefix[:n_grams]) * bwd[:n_grams])
    # an n-gram must not span two documents: clear the n-1 starts before each document's start
    valid = np.ones(n_grams, dtype=bool)
    if n_grams and len(doc_first_word) > 2:
        cut = (doc_first_word[1:-1, None] - np.arange(1, ngram)[None, :]).ravel()
        valid[cut[(cut >= 0) & (cut < n_grams)]] = False
    return Batch(data, word_start, word_end, doc_first_word, gram_hash, valid)


def batches(texts: Sequence[str], max_size: int = BATCH_CHARS) -> Iterable[tuple[int, int]]:
    """(start, stop) ranges of `texts` holding about `max_size` characters each."""
    start, size = 0, 0
    for k, t in enumerate(texts):
        size += len(t) + 1
        if size >= max_size:
            yield start, k + 1
            start, size = k + 1, 0
    if start < len(texts):
        yield start, len(texts)
