"""Training windows drawn from each mixture member's token files at their mixture weights.

A mixture member (a source of the run, or tokens from outside the workflow)
is given as a token folder, a list of them, or its `stats.json` from the
tokenize stage, which lists its shard folders in order. Its `.ds` files
(folders in the order given, files by name inside each) are read as one
stream of tokens, cut into non-overlapping windows: the windows do not depend
on how the source was sharded, and no tokens are lost at shard ends.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from synthpedia.errors import InputError

log = logging.getLogger(__name__)


def _token_size(folder: Path) -> int:
    """Bytes per token, from the datatrove metadata ("tokenizer|size") when present."""
    for meta in sorted(folder.rglob("*.ds.metadata")):
        first = meta.read_text().splitlines()[:1]
        if first and "|" in first[0]:
            try:
                return int(first[0].rsplit("|", 1)[1])
            except ValueError:
                raise InputError(f"train: bad token metadata line {first[0]!r} ({meta})") from None
    return 2


def token_folders(spec) -> list[Path]:
    """The token folders of one mixture member, in reading order.

    `spec`: a folder, a list of folders, or a stats.json whose `folders` lists them (the
    tokenize stage's per-source stats, or an external token folder's).
    """
    if isinstance(spec, (list, tuple)):
        return [Path(p) for p in spec]
    path = Path(spec)
    if path.is_file() and path.suffix == ".json":
        stats = json.loads(path.read_text(encoding="utf-8"))
        if "folders" not in stats:
            raise InputError(f"train: {path} lists no token folders (key 'folders')")
        return [Path(p) for p in stats["folders"]]
    return [path]


def token_files(spec) -> list[Path]:
    """The `.ds` files of one mixture member, in reading order (folders as given, names sorted inside)."""
    return [f for folder in token_folders(spec) for f in sorted(folder.rglob("*.ds"))]


class TokenStream:
    """Windows of `seq_len + 1` tokens over the concatenation of `files` (read through memory maps).

    Window i covers tokens [i * (seq_len + 1), (i + 1) * (seq_len + 1)) of the
    stream; a window may span two files. Indexing returns {"input_ids": LongTensor}.
    """

    def __init__(self, files: list[Path], seq_len: int, token_size: int):
        dtype = np.uint32 if token_size == 4 else np.uint16
        self.maps = [np.memmap(f, dtype=dtype, mode="r") for f in files if os.path.getsize(f)]
        self.starts = np.cumsum([0] + [len(m) for m in self.maps])
        self.window = seq_len + 1
        self.length = int(self.starts[-1]) // self.window

    def __len__(self) -> int:
        return self.length

    def tokens(self, start: int, stop: int) -> np.ndarray:
        """Tokens [start, stop) of the stream."""
        parts = []
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        while start < stop:
            begin = start - int(self.starts[i])
            take = min(stop - start, len(self.maps[i]) - begin)
            parts.append(np.asarray(self.maps[i][begin:begin + take]))
            start += take
            i += 1
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def __getitem__(self, index: int):
        import torch

        if not 0 <= index < self.length:
            raise IndexError(index)
        start = index * self.window
        return {"input_ids": torch.from_numpy(self.tokens(start, start + self.window).astype(np.int64))}


def _check_weights(token_dirs: dict, weights: dict, sources: list[str]) -> np.ndarray:
    """The weights of `sources` (sorted names) as an array; a missing, extra or negative weight raises."""
    missing = [s for s in sources if s not in weights]
    if missing:
        raise InputError(f"train: no mixture weight for source(s) {missing} (weights has {sorted(weights)})")
    extra = sorted(set(weights) - set(token_dirs))
    if extra:
        raise InputError(f"train: mixture weight for source(s) {extra} without a token folder")
    w = np.array([float(weights[s]) for s in sources])
    if (w < 0).any() or w.sum() <= 0:
        raise InputError(f"train: mixture weights must be >= 0 with a positive sum, got {dict(weights)}")
    return w


def _windows(spec, seq_len: int):
    """A :class:`TokenStream` of `seq_len + 1`-token windows, or None when there is no .ds file."""
    files = token_files(spec)
    if not files:
        return None
    sizes = {_token_size(folder) for folder in token_folders(spec) if any(folder.rglob("*.ds"))}
    if len(sizes) > 1:
        raise InputError(f"train: token folders of {spec} mix token sizes {sorted(sizes)}")
    return TokenStream(files, seq_len, sizes.pop())


def expand_token_manifests(token_dirs: dict, weights: dict) -> tuple[dict, dict]:
    """One entry per token folder, for trainers that take folders ({name/folder index: folder}).

    A member with several folders has its weight split among them by their
    token counts, so each member still weighs as configured as a whole.
    """
    dirs, split = {}, {}
    for name in sorted(token_dirs):
        folders = token_folders(token_dirs[name])
        if len(folders) == 1:
            dirs[name], split[name] = str(folders[0]), float(weights[name])
            continue
        sizes = [sum(f.stat().st_size for f in folder.rglob("*.ds")) for folder in folders]
        total = sum(sizes) or 1
        for i, (folder, size) in enumerate(zip(folders, sizes)):
            if size:
                dirs[f"{name}/{i:05d}"] = str(folder)
                split[f"{name}/{i:05d}"] = float(weights[name]) * size / total
    return dirs, split


class MixtureSampler:
    """Seeded training windows drawn from several mixture members with mixture weights.

    Each member (`token_dirs` {name: folder, list of folders or stats.json})
    is a :class:`TokenStream` of non-overlapping windows of ``seq_len + 1``
    tokens over its files in order; every sample first draws a member by
    weight, then a window uniformly from it. Same seed, same files -> same
    batches.

    :meth:`step_batch` derives each optimizer step's global batch from (seed,
    step) alone: a run resumed at step k, or split over any number of
    data-parallel processes, sees exactly the windows an uninterrupted
    single-process run sees.
    """

    def __init__(self, token_dirs: dict, weights: dict, seq_len: int, seed: int):
        if not token_dirs:
            raise InputError("train: no token folders given")
        w = _check_weights(token_dirs, weights, sorted(token_dirs))
        # A source whose folder holds less than one window (e.g. every web topic was dropped, so
        # no web document was generated) is left out of the mixture with a warning; none at all is an error.
        sources, probs, self.datasets = [], [], []
        for source, weight in zip(sorted(token_dirs), w):
            if weight <= 0:
                continue
            ds = _windows(token_dirs[source], seq_len)
            if ds is None or len(ds) == 0:
                log.warning("train: source %s has fewer than seq_len+1=%d tokens in %s: left out of the mixture",
                            source, seq_len + 1, token_dirs[source])
                continue
            sources.append(source)
            probs.append(weight)
            self.datasets.append(ds)
        if not sources:
            raise InputError(
                f"train: every source has fewer than seq_len+1={seq_len + 1} tokens (or no .ds token files): {token_dirs}"
            )
        self.sources = sources
        self.probs = np.array(probs) / sum(probs)
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)

    def window_counts(self) -> dict:
        """{source: number of windows} of the sources in the mixture."""
        return {s: len(ds) for s, ds in zip(self.sources, self.datasets)}

    def batch(self, size: int):
        """`size` windows as a LongTensor [size, seq_len + 1], and the source name of each row."""
        return self._draw(self.rng, size)

    def step_batch(self, step: int, size: int, rows: slice | None = None):
        """The global batch of optimizer step `step` (0-based): `size` windows drawn from (seed, step).

        `rows` picks the part of it one data-parallel process trains on; the
        draw itself never depends on it, so every process agrees on the batch.
        """
        return self._draw(np.random.default_rng([self.seed, int(step)]), size, rows)

    def _draw(self, rng, size: int, rows: slice | None = None):
        import torch

        picks = rng.choice(len(self.sources), size=size, p=self.probs)
        items = [int(rng.integers(len(self.datasets[src]))) for src in picks]
        keep = range(size)[rows] if rows is not None else range(size)
        windows = [self.datasets[picks[i]][items[i]]["input_ids"] for i in keep]
        return torch.stack(windows), [self.sources[picks[i]] for i in keep]
