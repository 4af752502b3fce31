"""Stable ids and hashes (standard library only: the workflow layer imports this)."""

from __future__ import annotations

import hashlib
import json


def stable_hash(*parts, length: int = 16) -> str:
    """Hex digest (sha256, truncated) of the JSON of `parts`: stable across runs and machines."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def config_hash(config: dict) -> str:
    """Short hash of a whole config, stamped into every table for provenance."""
    return stable_hash(config, length=12)
