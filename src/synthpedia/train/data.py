"""Training windows drawn from the per-source token folders at their mixture weights."""

from __future__ import annotations

import logging
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


def _windows(folder: Path, seq_len: int):
    """A ``DatatroveFolderDataset`` of `seq_len + 1`-token windows, or None when the folder has no .ds file."""
    from datatrove.utils.dataset import DatatroveFolderDataset

    if not any(folder.rglob("*.ds")):
        return None
    return DatatroveFolderDataset(
        str(folder), seq_len=seq_len, token_size=_token_size(folder), recursive=True, shuffle=False
    )


class MixtureSampler:
    """Seeded training windows drawn from several token folders with mixture weights.

    Each source is a ``DatatroveFolderDataset`` of non-overlapping windows of
    ``seq_len + 1`` tokens; every sample first draws a source by weight, then a
    window uniformly from it. Same seed, same folders -> same batches.

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
            folder = Path(token_dirs[source])
            ds = _windows(folder, seq_len)
            if ds is None or len(ds) == 0:
                log.warning("train: source %s has fewer than seq_len+1=%d tokens in %s: left out of the mixture",
                            source, seq_len + 1, folder)
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
