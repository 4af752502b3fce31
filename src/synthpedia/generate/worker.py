"""Worker processes that answer requests over pipes: both sides of the protocol.

The parent starts each worker as a fresh interpreter with its options as the
last command-line argument (JSON), writes one request per line (JSON) to its
stdin, and reads one line back per request on its stdout: a completion, or
`{"fatal": "..."}` when the worker cannot go on. A worker holds up to
`in_flight` requests (as many as it decodes at once) and is sent the next one
as soon as it answers one, so the pool stays busy whatever each request costs.
Workers die with their parent, killed or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .backend import Backend, Completion, GenerationError, Request, RequestFeed

# src/, for the workers' PYTHONPATH: they import the package as this process does.
SRC = str(Path(__file__).resolve().parents[2])


def run_in_workers(
    entry: str, options: dict, count: int, requests: Sequence[Request], in_flight: int
) -> Iterator[Completion]:
    """Answer `requests` in `count` worker processes; yield each completion as it arrives.

    `entry`: "module:function", the worker's main (it calls `serve`); `options`: JSON-able
    settings handed to every worker (the parent's pid is added); `in_flight`: requests each
    worker holds at once. Raises GenerationError when a worker dies or reports a fatal error;
    the workers are killed however this ends.
    """
    module, _, function = entry.partition(":")
    name = f"worker {function}"
    # Fresh interpreters (not fork): llama.cpp's thread pool does not survive a fork, and a
    # re-imported __main__ would rerun the job script.
    command = [sys.executable, "-c", f"from {module} import {function}; {function}()",
               json.dumps({**options, "parent": os.getpid()})]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)}
    try:
        stderr = sys.stderr.fileno()  # the job's log
    except (AttributeError, OSError, ValueError):
        stderr = None
    pending = deque(requests)
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True,
                         bufsize=1)
        for _ in range(min(count, len(requests)))
    ]
    selector = selectors.DefaultSelector()
    # Bytes read from each worker that do not end a line yet. The pipes are read with os.read,
    # never through a buffered reader: a worker holding several requests may answer two at once,
    # and a second line left in a reader's buffer would never wake the selector again.
    unread = {worker.pid: b"" for worker in workers}
    busy = 0
    try:
        for worker in workers:
            selector.register(worker.stdout.fileno(), selectors.EVENT_READ, worker)
        for _ in range(max(1, in_flight)):  # in turns, so that a short shard is spread over all workers
            for worker in workers:
                if pending:
                    _send(worker, pending.popleft())
                    busy += 1
        while busy:
            for ready, _ in selector.select():
                worker = ready.data
                chunk = os.read(ready.fd, 1 << 16)
                if not chunk:
                    raise GenerationError(f"{name} {worker.pid} exited with {worker.wait()}")
                *lines, unread[worker.pid] = (unread[worker.pid] + chunk).split(b"\n")
                for line in lines:  # one line per answered request
                    busy -= 1
                    record = json.loads(line)
                    if "fatal" in record:
                        raise GenerationError(f"{name} {worker.pid}: {record['fatal']}")
                    if pending:
                        _send(worker, pending.popleft())
                        busy += 1
                    yield Completion(**record)
    finally:
        selector.close()
        for worker in workers:
            stop_worker(worker)


def _send(worker: subprocess.Popen, request: Request) -> None:
    worker.stdin.write(json.dumps(asdict(request)) + "\n")


def stop_worker(worker: subprocess.Popen) -> None:
    """Kill a worker process, reap it and close its pipes."""
    worker.kill()
    worker.wait()
    for stream in (worker.stdin, worker.stdout):
        with contextlib.suppress(OSError):  # a pipe the dead worker already broke
            stream.close()


def serve(open_backend: Callable[[dict], Backend]) -> None:
    """The worker's side: answer the requests read on stdin, until it closes, on stdout.

    `open_backend(options)`: this worker's backend, built from its options; its
    `answer(feed)` answers the requests of a RequestFeed as they come, and it is closed when
    the worker ends. Any error is reported to the parent as a fatal record, and the worker stops.
    """
    options = json.loads(sys.argv[-1])
    _die_with_parent(options["parent"])
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to the log, never into the protocol
    backend = open_backend(options)
    try:
        for completion in backend.answer(_StdinFeed(sys.stdin)):
            out.write(json.dumps(asdict(completion), ensure_ascii=False) + "\n")
    except Exception as err:  # noqa: BLE001 - reported to the parent, which fails the job
        out.write(json.dumps({"fatal": f"{type(err).__name__}: {err}"}) + "\n")
    finally:
        backend.close()


class _StdinFeed(RequestFeed):
    """The requests the parent writes, one JSON line each, read by a thread as they come.

    The backend can take a new request whenever it has room, without waiting for one while it
    still has sequences to decode.
    """

    def __init__(self, stream):
        super().__init__()
        self._arrived: queue.Queue[Request | None] = queue.Queue()
        self._ended = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        try:
            for line in stream:
                self._arrived.put(Request(**json.loads(line)))
        finally:
            self._arrived.put(None)  # the parent closed the pipe (or wrote what is not a request)

    def take(self, wait: bool) -> Request | None:
        if self._ended:
            return None
        try:
            request = self._arrived.get(block=wait)
        except queue.Empty:
            return None
        self._ended = request is None
        return request


def _die_with_parent(parent: int) -> None:
    """Linux: this process gets SIGKILL when its parent dies (a killed job leaves no workers behind)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the parent's kill() still ends us
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)
