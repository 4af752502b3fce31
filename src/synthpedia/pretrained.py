"""Where a pretrained tokenizer comes from: a local file or folder, or a hub id (standard library only).

Read by the config validation (the rule files) and by the tokenizer job alike.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import InputError

# A hub id: "name" or "owner/name" (a path on disk is looked for first).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def pretrained_location(pretrained: str, key: str = "tokenizer.pretrained",
                        base_dir: str | os.PathLike = ".") -> tuple[str, Path | None]:
    """("local", tokenizer.json path) for a local file or a folder holding one, or ("hub", None) for a hub id.

    A path that does not exist and cannot be a hub id raises InputError naming `key`.
    """
    path = Path(base_dir) / pretrained
    if path.is_file():
        return "local", path
    if path.is_dir():
        found = path / "tokenizer.json"
        if not found.is_file():
            raise InputError(f"config key '{key}': folder {pretrained} has no tokenizer.json")
        return "local", found
    if pretrained.endswith(".json") or pretrained.startswith((".", "/", "~")) or not _HUB_ID.match(pretrained):
        raise InputError(f"config key '{key}': file not found: {pretrained}")
    return "hub", None
