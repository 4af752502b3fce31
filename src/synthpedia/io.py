"""Reading and writing tables atomically, so a killed job never leaves a partial file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import polars as pl


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_parquet(df: pl.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` to `path` atomically (statistics off, so equal frames give equal bytes)."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, statistics=False, compression="zstd")


def write_csv(df: pl.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` as CSV to `path` atomically."""
    with atomic_path(path) as tmp:
        df.write_csv(tmp)


def write_json(obj, path: str | os.PathLike) -> None:
    """Write `obj` as indented, key-sorted JSON to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_parquets(paths) -> pl.DataFrame:
    """Concatenate parquet files (diagonal: missing columns become null); empty list -> empty frame."""
    frames = [pl.read_parquet(p) for p in paths]
    frames = [f for f in frames if f.width]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def stable_hash(*parts, length: int = 16) -> str:
    """Hex digest (sha256, truncated) of the JSON of `parts`: stable across runs and machines."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def config_hash(config: dict) -> str:
    """Short hash of a whole config, stamped into every table for provenance."""
    return stable_hash(config, length=12)
