"""Reading and writing tables atomically, so a killed job never leaves a partial file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import polars as pl

from .ids import config_hash, stable_hash  # noqa: F401 (re-exported)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file 0600: give it the mode a plain open() would, so outputs follow the umask.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def fresh_folder(path: str | os.PathLike) -> Path:
    """`path` as an empty folder: whatever a killed earlier attempt left there is removed first."""
    folder = Path(path)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


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
