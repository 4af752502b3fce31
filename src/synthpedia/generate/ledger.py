"""The resumable request ledger: an append-only JSONL file of finished requests, by request key.

A request's key is hash(prompt, model, sampling parameters, seed): any change
to one of them makes a new request, and leaves every other one finished. Each
finished request is appended with one write() as soon as it arrives, so a
killed job resumes where it stopped: finished requests are never sent again,
and nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

from ..io import stable_hash
from .backend import Completion, Request

log = logging.getLogger(__name__)


def request_key(prompt: str, model: str, sampling: dict, seed: int, json_schema: dict | None = None) -> str:
    """The ledger key: any change to prompt, model, sampling, seed or the answer's JSON schema makes a new request.

    `json_schema`: the schema the answer is held to (Request.json_schema), None for free text (whose
    keys are those of ledgers written before schemas existed).
    """
    if json_schema is None:
        return stable_hash(prompt, model, sampling, seed, length=32)
    return stable_hash(prompt, model, sampling, seed, json_schema, length=32)


def make_request(prompt: str, model: str, sampling: dict, seed: int, json_schema: dict | None) -> Request:
    """The request for `prompt` under the job's `seed`: its key, and a sampling seed taken from the key.

    `json_schema`: the shape the answer is held to (None: free text, whose keys it leaves as they were).
    """
    key = request_key(prompt, model, sampling, seed, json_schema)
    return Request(key=key, prompt=prompt, seed=int(key[:8], 16), json_schema=json_schema)


class GenerationLedger:
    """Append-only JSONL of finished requests, keyed by request key; survives a killed job.

    Each record is one write() on an O_APPEND descriptor, so it is in the file the moment it is
    written, whatever happens to the process after. fsync runs at most every `sync_seconds` (and
    on `sync`): a crashed node may lose the last second of records, which are then sent again.
    """

    def __init__(self, path: str | os.PathLike, sync_seconds: float = 1.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sync_seconds = sync_seconds
        self._fd: int | None = None
        self._synced = 0.0

    def records(self) -> dict[str, dict]:
        """Finished requests by key (each a Completion as a dict). A torn last line is ignored."""
        found: dict[str, dict] = {}
        if not self.path.exists():
            return found
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    break  # torn write: the request will be sent again
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a torn write that a resumed job closed with a newline
                    log.warning("%s:%d: torn record skipped (its request is sent again)", self.path, number)
                    continue
                found.setdefault(record["key"], record)
        return found

    def append(self, completion: Completion) -> None:
        """Record one finished request: one write(), on its own line."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                os.write(self._fd, b"\n")  # end a torn last record, so the next one stands on its own line
        os.write(self._fd, (json.dumps(asdict(completion), ensure_ascii=False) + "\n").encode("utf-8"))
        now = time.monotonic()
        if now - self._synced >= self.sync_seconds:
            os.fsync(self._fd)
            self._synced = now

    def sync(self) -> None:
        """Flush to disk and close the descriptor (reopened on the next append)."""
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
