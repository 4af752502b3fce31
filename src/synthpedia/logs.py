"""Logging set-up for job scripts: everything (stderr included) goes to the rule's log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to(path: str | None) -> None:
    """Send stderr and the `logging` records of this process to `path` (appending)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
