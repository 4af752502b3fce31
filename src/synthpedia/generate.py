"""Prompt shards -> generation shards, through a backend and a resumable request ledger.

The ledger is an append-only JSONL file beside the outputs, keyed by
hash(prompt, model, sampling parameters, seed). Each finished request is
appended with one write() as soon as it arrives, so a killed job resumes where
it stopped: finished requests are never sent again, nothing is lost, and a
changed sampling parameter changes exactly the keys it affects. The shard
outputs are written atomically at the end, from the ledger.

Backends, behind one interface (`Backend.generate` yields completions as they
finish, in any order):
- `llamacpp`: CPU, a GGUF model; one stream, or several worker processes.
- `openai`: any OpenAI-compatible server (vLLM serve, TGI, llama.cpp server),
  concurrent requests with retries and exponential backoff.
- `vllm`: offline batched generation on the job's GPUs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import logging
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import polars as pl

from .errors import InputError
from .io import stable_hash
from .tables import FAILED_COLUMNS, GENERATION_COLUMNS, PROMPT_COLUMNS

log = logging.getLogger(__name__)

BACKENDS = ("llamacpp", "openai", "vllm")

# Settings that change how fast or where a job runs, never what it writes. The rule keeps them out
# of its params (generation_fingerprint), so tuning them does not rerun finished jobs.
RUNTIME_KEYS = {
    "llamacpp": ("workers",),
    "openai": ("base_url", "api_key_env", "concurrency", "timeout_seconds", "retries", "backoff_seconds",
               "server_gpus"),
    "vllm": ("tensor_parallel_size", "batch_size", "gpu_memory_utilization"),
}


class GenerationError(RuntimeError):
    """A job that could not finish every request. What finished is in the ledger: a rerun resumes."""


@dataclass(frozen=True)
class Request:
    key: str
    prompt: str
    seed: int  # sampling seed of this request, derived from its key


@dataclass(frozen=True)
class Completion:
    key: str
    completion: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float
    error: str = ""  # set when the request itself was refused (e.g. prompt longer than the context)


class Backend(ABC):
    """A text generator. `generate` yields each completion as soon as it is done, in any order."""

    name = "backend"
    gpus = 0  # accelerators this backend occupies (for GPU-seconds accounting)
    retried = 0  # requests sent again after a transient error (accounting)

    def __init__(self, model: str, sampling: dict):
        self.model = model
        self.sampling = dict(sampling)

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connections."""


def resolve_model_path(spec: str) -> Path:
    """A GGUF path, or `package:<module>/<file>` for a model shipped inside a Python package."""
    if spec.startswith("package:"):
        module, _, name = spec[len("package:") :].partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise InputError(f"config key 'generation.llamacpp.model_path': package '{module}' is not installed")
        path = Path(list(found.submodule_search_locations)[0]) / name
    else:
        path = Path(spec)
    if not path.is_file():
        raise InputError(f"config key 'generation.llamacpp.model_path': model file not found: {path}")
    return path


def _refused(req: Request, reason: str, seconds: float = 0.0) -> Completion:
    return Completion(req.key, "", 0, 0, "error", seconds, error=reason)


class LlamaCppBackend(Backend):
    """CPU generation with llama.cpp on a GGUF model (the chat template comes from the GGUF).

    With `workers` > 1, that many worker processes each load the model with threads/workers
    threads and take the next request as soon as they finish one: several sequences decode at
    once, which keeps small models busier than one stream with all threads.
    """

    name = "llamacpp"

    def __init__(
        self, model: str, sampling: dict, model_path: str, n_ctx: int = 2048, threads: int = 1, workers: int = 1
    ):
        super().__init__(model, sampling)
        self.model_path = resolve_model_path(model_path)
        self.n_ctx = n_ctx
        self.threads = max(1, threads)
        self.workers = max(1, workers)
        self._llm = None

    @property
    def llm(self):
        """The model, loaded on first use: a fully resumed shard never loads it."""
        if self._llm is None:
            from llama_cpp import Llama  # imported here: only this backend needs it

            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        return self._llm

    def complete(self, req: Request) -> Completion:
        """One request in this process."""
        s = self.sampling
        start = time.perf_counter()
        try:
            out = self.llm.create_chat_completion(
                messages=[{"role": "user", "content": req.prompt}],
                max_tokens=s["max_tokens"],
                temperature=s["temperature"],
                top_p=s["top_p"],
                top_k=s["top_k"],
                repeat_penalty=s["repetition_penalty"],
                seed=req.seed,
            )
        except ValueError as err:
            if "context window" not in str(err):
                raise
            return _refused(req, str(err), time.perf_counter() - start)  # this prompt can never fit
        choice = out["choices"][0]
        return Completion(
            key=req.key,
            completion=choice["message"]["content"] or "",
            prompt_tokens=int(out["usage"]["prompt_tokens"]),
            completion_tokens=int(out["usage"]["completion_tokens"]),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            seconds=time.perf_counter() - start,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]:
        # Always the same threads per sequence, however few requests are left: a resumed shard
        # decodes with the numerics of an uninterrupted one.
        if self.workers == 1:
            for req in requests:
                yield self.complete(req)
        else:
            yield from self._generate_in_workers(requests)

    def _worker_options(self) -> dict:
        return {
            "model": self.model,
            "sampling": self.sampling,
            "model_path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "threads": max(1, self.threads // self.workers),
            "parent": os.getpid(),
        }

    def _generate_in_workers(self, requests: Sequence[Request]) -> Iterator[Completion]:
        # Fresh interpreters (not fork): llama.cpp's thread pool does not survive a fork, and a
        # re-imported __main__ would rerun the job script.
        src = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        command = [sys.executable, "-c", "from synthpedia.generate import llamacpp_worker; llamacpp_worker()"]
        options = json.dumps(self._worker_options())
        try:
            stderr = sys.stderr.fileno()  # the job's log
        except (AttributeError, OSError, ValueError):
            stderr = None
        queue = deque(requests)
        workers = [
            subprocess.Popen([*command, options], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                             env=env, text=True, bufsize=1)
            for _ in range(min(self.workers, len(requests)))
        ]
        selector = selectors.DefaultSelector()
        busy = 0
        try:
            for worker in workers:
                selector.register(worker.stdout, selectors.EVENT_READ, worker)
                worker.stdin.write(json.dumps(asdict(queue.popleft())) + "\n")
                busy += 1
            while busy:
                for ready, _ in selector.select():
                    worker = ready.data
                    line = worker.stdout.readline()  # one request in flight per worker: one line
                    busy -= 1
                    if not line:
                        raise GenerationError(f"llamacpp worker {worker.pid} exited with {worker.wait()}")
                    record = json.loads(line)
                    if "fatal" in record:
                        raise GenerationError(f"llamacpp worker {worker.pid}: {record['fatal']}")
                    if queue:
                        worker.stdin.write(json.dumps(asdict(queue.popleft())) + "\n")
                        busy += 1
                    yield Completion(**record)
        finally:
            selector.close()
            for worker in workers:
                worker.kill()
                worker.wait()
                for stream in (worker.stdin, worker.stdout):
                    with contextlib.suppress(OSError):  # a pipe the dead worker already broke
                        stream.close()

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def _die_with_parent(parent: int) -> None:
    """Linux: this process gets SIGKILL when its parent dies (a killed job leaves no workers behind)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the parent's kill() still ends us
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def llamacpp_worker() -> None:
    """A worker process of LlamaCppBackend: requests as JSON lines on stdin, completions on stdout."""
    options = json.loads(sys.argv[-1])
    _die_with_parent(options["parent"])
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything llama.cpp prints goes to the log, never into the protocol
    backend = LlamaCppBackend(options["model"], options["sampling"], options["model_path"],
                              n_ctx=options["n_ctx"], threads=options["threads"])
    try:
        for line in sys.stdin:
            try:
                completion = backend.complete(Request(**json.loads(line)))
            except Exception as err:  # noqa: BLE001 - reported to the parent, which fails the job
                out.write(json.dumps({"fatal": f"{type(err).__name__}: {err}"}) + "\n")
                return
            out.write(json.dumps(asdict(completion), ensure_ascii=False) + "\n")
    finally:
        backend.close()


class OpenAIBackend(Backend):
    """Chat completions from an OpenAI-compatible server, `concurrency` requests in flight.

    Connection errors, timeouts, 408/409/429 and 5xx are retried with exponential backoff (and
    jitter); a request the server refuses as such (400/413/422, e.g. a prompt longer than the
    context) becomes a failure record; any other error (401, 403, 404: a wrong key, URL or model)
    fails the job at once. The API key is read from the environment variable `api_key_env` and is
    never logged or written; when it is unset, a dummy key is sent (local servers need none).
    """

    name = "openai"
    REFUSED = (400, 413, 422)
    RETRIED = (408, 409, 429)
    MAX_BACKOFF = 60.0

    def __init__(
        self,
        model: str,
        sampling: dict,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_seconds: float = 600.0,
        retries: int = 6,
        backoff_seconds: float = 1.0,
        extra_sampling_names: dict | None = None,
        server_gpus: int = 0,
    ):
        super().__init__(model, sampling)
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        names = {"top_k": "top_k", "repetition_penalty": "repetition_penalty", **(extra_sampling_names or {})}
        # Parameters outside the OpenAI API go in the request body, under the server's names.
        self.extra_body = {name: sampling[param] for param, name in names.items() if name}
        self.gpus = server_gpus  # GPUs behind the server, for GPU-seconds accounting
        self.retried = 0
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import openai  # imported here: only this backend needs it

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or "not-needed",
                timeout=self.timeout_seconds,
                max_retries=0,  # retries are ours: counted, logged, with our backoff
            )
        return self._client

    def _retryable(self, err: Exception) -> bool:
        import openai

        if isinstance(err, openai.APIConnectionError):  # includes timeouts
            return True
        return isinstance(err, openai.APIStatusError) and (err.status_code in self.RETRIED or err.status_code >= 500)

    def complete(self, req: Request) -> Completion:
        """One request, retried on transient errors; raises the last error when retries run out."""
        import openai

        s = self.sampling
        for attempt in itertools.count():
            start = time.perf_counter()
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": req.prompt}],
                    max_tokens=s["max_tokens"],
                    temperature=s["temperature"],
                    top_p=s["top_p"],
                    seed=req.seed,
                    extra_body=self.extra_body,
                )
            except openai.APIStatusError as err:
                if err.status_code in self.REFUSED:
                    return _refused(req, f"HTTP {err.status_code}: {err.message}", time.perf_counter() - start)
                if not self._retryable(err) or attempt >= self.retries:
                    raise
                error = f"HTTP {err.status_code}"
            except openai.APIConnectionError as err:
                if attempt >= self.retries:
                    raise
                error = type(err).__name__
            else:
                choice = response.choices[0]
                usage = response.usage
                return Completion(
                    key=req.key,
                    completion=choice.message.content or "",
                    prompt_tokens=int(usage.prompt_tokens) if usage else 0,
                    completion_tokens=int(usage.completion_tokens) if usage else 0,
                    finish_reason=str(choice.finish_reason or "stop"),
                    seconds=time.perf_counter() - start,
                )
            delay = min(self.backoff_seconds * 2**attempt, self.MAX_BACKOFF) * random.uniform(0.5, 1.0)
            log.warning("request %s: %s, retry %d/%d in %.1f s", req.key[:8], error, attempt + 1, self.retries, delay)
            self.retried += 1
            time.sleep(delay)
        raise AssertionError("unreachable")

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]:
        pending = iter(requests)
        failures: list[Exception] = []
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="openai")
        try:
            in_flight = {pool.submit(self.complete, req) for req in itertools.islice(pending, self.concurrency)}
            while in_flight:
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        completion = future.result()
                    except Exception as err:  # noqa: BLE001 - retries ran out; raised below
                        if not self._retryable(err):
                            raise
                        failures.append(err)
                        continue
                    # After a request ran out of retries the server is down: send nothing new.
                    nxt = None if failures else next(pending, None)
                    if nxt is not None:
                        in_flight.add(pool.submit(self.complete, nxt))
                    yield completion
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if failures:
            raise GenerationError(
                f"generate: {len(failures)} request(s) to {self.base_url} failed after {self.retries} retries "
                f"(last: {failures[-1]!r}); finished requests are in the ledger, a rerun sends only the rest"
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class VllmBackend(Backend):
    """Offline batched generation with vLLM on the job's GPUs (tensor parallel over all of them).

    Requests go to `LLM.chat` `batch_size` at a time (the model's chat template applies); each
    batch's completions are yielded together, so the ledger grows batch by batch.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        sampling: dict,
        model_path: str | None = None,
        tensor_parallel_size: int = 1,
        batch_size: int = 1024,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        engine_args: dict | None = None,
    ):
        super().__init__(model, sampling)
        self.model_path = model_path or model
        self.tensor_parallel_size = max(1, tensor_parallel_size)
        self.batch_size = max(1, batch_size)
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        self.dtype = dtype
        self.engine_args = dict(engine_args or {})
        self.gpus = self.tensor_parallel_size
        self._llm = None

    @property
    def llm(self):
        if self._llm is None:
            from vllm import LLM  # imported here: the CPU environment has no vLLM

            kwargs = {"max_model_len": self.max_model_len} if self.max_model_len else {}
            self._llm = LLM(
                model=self.model_path,
                tensor_parallel_size=self.tensor_parallel_size,
                gpu_memory_utilization=self.gpu_memory_utilization,
                dtype=self.dtype,
                **kwargs,
                **self.engine_args,
            )
        return self._llm

    def sampling_params(self, req: Request):
        from vllm import SamplingParams

        s = self.sampling
        return SamplingParams(
            n=1,
            max_tokens=s["max_tokens"],
            temperature=s["temperature"],
            top_p=s["top_p"],
            top_k=s["top_k"],
            repetition_penalty=s["repetition_penalty"],
            seed=req.seed,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]:
        for first in range(0, len(requests), self.batch_size):
            batch = requests[first : first + self.batch_size]
            start = time.perf_counter()
            outputs = self.llm.chat(
                [[{"role": "user", "content": req.prompt}] for req in batch],
                sampling_params=[self.sampling_params(req) for req in batch],
                use_tqdm=False,
            )
            seconds = time.perf_counter() - start  # each request's latency is its batch's
            if len(outputs) != len(batch):
                raise GenerationError(f"vllm: {len(outputs)} outputs for a batch of {len(batch)} requests")
            for req, out in zip(batch, outputs):
                best = out.outputs[0]
                yield Completion(
                    key=req.key,
                    completion=best.text,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(best.token_ids),
                    finish_reason=str(best.finish_reason or "stop"),
                    seconds=seconds,
                )

    def close(self) -> None:
        self._llm = None


def make_backend(generation: dict, threads: int = 1, gpus: int = 0) -> Backend:
    """The backend named by config key `generation.backend` (threads and GPUs: the job's)."""
    name = generation["backend"]
    model, sampling = generation["model"], generation["sampling"]
    if name == "llamacpp":
        opts = generation["llamacpp"]
        workers = opts.get("workers", 1) or threads  # 0: one worker per thread
        return LlamaCppBackend(model, sampling, opts["model_path"], n_ctx=opts["n_ctx"], threads=threads,
                               workers=workers)
    if name == "openai":
        opts = generation["openai"]
        if not opts.get("base_url"):
            raise InputError("config key 'generation.openai.base_url': required by backend 'openai'")
        return OpenAIBackend(model, sampling, **opts)
    if name == "vllm":
        opts = dict(generation["vllm"])
        opts["tensor_parallel_size"] = gpus or opts.get("tensor_parallel_size", 1)
        return VllmBackend(model, sampling, **opts)
    raise InputError(f"config key 'generation.backend': unknown backend '{name}'")


def generation_fingerprint(generation: dict) -> dict:
    """The generation settings that decide what a job writes: the rule's params.

    The active backend's section without its runtime-only keys (RUNTIME_KEYS), and no other
    backend's section: tuning concurrency or workers, or moving to another server, reruns nothing.
    """
    backend = generation["backend"]
    found = {k: v for k, v in generation.items() if k not in BACKENDS}
    found[backend] = {k: v for k, v in generation.get(backend, {}).items() if k not in RUNTIME_KEYS[backend]}
    return found


def generation_gpus(generation: dict) -> int:
    """GPUs one generation job holds: vLLM's tensor-parallel size; none for CPU or a remote server."""
    return int(generation["vllm"]["tensor_parallel_size"]) if generation["backend"] == "vllm" else 0


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
        """Finished requests by key. A torn last line (the job died mid-write) is ignored."""
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


def request_key(prompt: str, model: str, sampling: dict, seed: int) -> str:
    """The ledger key: any change to prompt, model, sampling or seed makes a new request."""
    return stable_hash(prompt, model, sampling, seed, length=32)


def strip_stock_openers(text: str, openers: Iterable[str]) -> str:
    """Remove leading sentences that start with a stock opener ("Hello", "Welcome", ...)."""
    lowered = tuple(o.lower() for o in openers)
    text = text.strip()
    for _ in range(3):
        if not lowered or not text.lower().startswith(lowered):
            break
        end = re.search(r"(?<=[.!?:])\s+|\n", text)
        text = text[end.end() :].strip() if end else ""
    return text


def generate_shard(
    prompts: pl.DataFrame,
    backend: Backend,
    ledger: GenerationLedger,
    seed: int,
    min_completion_tokens: int,
    stock_openers: Sequence[str],
    progress_every: int = 10,
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Generate every prompt not yet in the ledger; return (generations, failed, stats).

    Every prompt ends as exactly one row: in generations, or in failed with its reason
    (`too_short`, `empty_after_cleaning`, or `request_error` for a request the backend refused).
    """
    missing = [c for c in PROMPT_COLUMNS if c not in prompts.columns]
    if missing:
        raise InputError(f"generate: prompt shard lacks columns {missing}")
    sampling_json = json.dumps(backend.sampling, sort_keys=True)
    keys = [request_key(p, backend.model, backend.sampling, seed) for p in prompts["prompt"]]
    done = ledger.records()
    pending: dict[str, Request] = {}
    for key, prompt in zip(keys, prompts["prompt"]):
        if key not in done and key not in pending:
            pending[key] = Request(key=key, prompt=prompt, seed=int(key[:8], 16))
    log.info("%d prompts, %d already in the ledger, %d to send", prompts.height, prompts.height - len(pending), len(pending))

    start = time.perf_counter()
    sent_tokens = 0
    try:
        for n, completion in enumerate(backend.generate(list(pending.values())), 1):
            ledger.append(completion)
            done[completion.key] = asdict(completion)
            sent_tokens += completion.completion_tokens
            if n % progress_every == 0 or n == len(pending):
                elapsed = time.perf_counter() - start
                log.info("%d/%d sent, %.1f completion tokens/s", n, len(pending), sent_tokens / max(elapsed, 1e-9))
    finally:
        ledger.sync()
    wall = time.perf_counter() - start

    rows, failed = [], []
    for key, prompt_row in zip(keys, prompts.iter_rows(named=True)):
        rec = done[key]
        text = strip_stock_openers(rec["completion"], stock_openers)
        row = {
            **{c: prompt_row[c] for c in PROMPT_COLUMNS},
            "request_key": key,
            "model": backend.model,
            "backend": backend.name,
            "sampling": sampling_json,
            "gen_seed": seed,
            "completion": rec["completion"],
            "text": text,
            "prompt_tokens": rec["prompt_tokens"],
            "completion_tokens": rec["completion_tokens"],
            "finish_reason": rec["finish_reason"],
            "seconds": rec["seconds"],
        }
        if rec.get("error"):
            failed.append({**row, "reason": f"request_error: {rec['error']}"})
        elif rec["completion_tokens"] < min_completion_tokens:
            failed.append({**row, "reason": f"too_short: {rec['completion_tokens']} < {min_completion_tokens} tokens"})
        elif not text:
            failed.append({**row, "reason": "empty_after_cleaning"})
        else:
            rows.append(row)

    gens = _frame(rows, GENERATION_COLUMNS)
    fails = _frame(failed, FAILED_COLUMNS)
    reasons = fails["reason"].str.extract(r"^([a-z_]+)").value_counts() if fails.height else None
    unique_keys = set(keys)
    stats = {
        "prompts": prompts.height,
        "completions": gens.height,
        "failed": fails.height,
        "failed_by_reason": {r: int(c) for r, c in reasons.iter_rows()} if reasons is not None else {},
        "sent": len(pending),
        "resumed": prompts.height - len(pending),
        "retried": int(backend.retried),
        "prompt_tokens": int(sum(done[k]["prompt_tokens"] for k in unique_keys)),
        "completion_tokens": int(sum(done[k]["completion_tokens"] for k in unique_keys)),
        "sent_completion_tokens": sent_tokens,
        "wall_seconds": wall,
        "tokens_per_second": sent_tokens / wall if wall > 0 else 0.0,
        "tokens_per_second_per_gpu": sent_tokens / wall / backend.gpus if wall > 0 and backend.gpus else None,
        "gpus": backend.gpus,
        "gpu_seconds": wall * backend.gpus,
        "model": backend.model,
        "backend": backend.name,
    }
    return gens, fails, stats


_INT_COLUMNS = {"gen_seed", "prompt_tokens", "completion_tokens"}


def _frame(rows: list[dict], columns: Sequence[str]) -> pl.DataFrame:
    schema = {
        c: pl.Int64 if c in _INT_COLUMNS else pl.Float64 if c == "seconds" else pl.String for c in columns
    }
    return pl.DataFrame(rows, schema=schema)


def generate_job(
    prompts_path: str,
    generations_path: str,
    failed_path: str,
    stats_path: str,
    ledger_path: str,
    generation: dict,
    seed: int,
    threads: int = 1,
    gpus: int = 0,
) -> dict:
    """The generation rule: one prompt shard in, generations + failed + stats out (atomic writes)."""
    from .io import write_json, write_parquet

    prompts = pl.read_parquet(prompts_path)
    backend = make_backend(generation, threads=threads, gpus=gpus)
    try:
        gens, fails, stats = generate_shard(
            prompts,
            backend,
            GenerationLedger(ledger_path),
            seed,
            generation["min_completion_tokens"],
            generation["stock_openers"],
        )
    finally:
        backend.close()
    write_parquet(gens, generations_path)
    write_parquet(fails, failed_path)
    write_json({"source_shard": prompts_path, **stats}, stats_path)
    log.info("done: %s", json.dumps(stats))
    return stats


def generation_table(stats_paths: Sequence[str], config_hash: str) -> pl.DataFrame:
    """Per-shard generation accounting plus a TOTAL row, with GPU-hours per billion tokens.

    Rates over zero seconds or zero tokens (a fully resumed shard) are null, never inf.
    """
    from . import __version__

    rows = []
    for path in stats_paths:
        with open(path, encoding="utf-8") as fh:
            s = json.load(fh)
        parts = Path(path).parts
        rows.append(
            {
                "source": parts[-2],
                "shard": parts[-1].split(".")[0],
                "backend": s.get("backend", ""),
                "model": s.get("model", ""),
                "prompts": s["prompts"],
                "completions": s["completions"],
                "failed": s["failed"],
                "failed_by_reason": json.dumps(s.get("failed_by_reason", {}), sort_keys=True),
                "sent": s.get("sent", 0),
                "resumed": s.get("resumed", 0),
                "retried": s.get("retried", 0),
                "prompt_tokens": s.get("prompt_tokens", 0),
                "completion_tokens": s.get("completion_tokens", 0),
                "sent_completion_tokens": s.get("sent_completion_tokens", 0),
                "wall_seconds": float(s["wall_seconds"]),
                "gpus": s.get("gpus", 0),
                "gpu_seconds": float(s.get("gpu_seconds", 0.0)),
            }
        )
    table = pl.DataFrame(rows) if rows else pl.DataFrame()
    if table.height:
        reasons: dict[str, int] = {}
        for cell in table["failed_by_reason"]:
            for reason, count in json.loads(cell).items():
                reasons[reason] = reasons.get(reason, 0) + count
        total = table.select(
            pl.lit("TOTAL").alias("source"),
            pl.lit("").alias("shard"),
            pl.lit(",".join(sorted(set(table["backend"])))).alias("backend"),
            pl.lit(",".join(sorted(set(table["model"])))).alias("model"),
            *[pl.col(c).sum() for c in ("prompts", "completions", "failed")],
            pl.lit(json.dumps(reasons, sort_keys=True)).alias("failed_by_reason"),
            *[
                pl.col(c).sum()
                for c in (
                    "sent",
                    "resumed",
                    "retried",
                    "prompt_tokens",
                    "completion_tokens",
                    "sent_completion_tokens",
                    "wall_seconds",
                )
            ],
            pl.col("gpus").max(),
            pl.col("gpu_seconds").sum(),
        )
        table = pl.concat([table, total], how="vertical_relaxed")
        sent = pl.col("sent_completion_tokens")
        wall = pl.col("wall_seconds")

        def per(num: pl.Expr, den: pl.Expr) -> pl.Expr:
            return pl.when(den > 0).then(num / den).otherwise(None)

        table = table.with_columns(
            per(sent, wall).alias("tokens_per_second"),
            per(sent, pl.col("gpu_seconds")).alias("tokens_per_gpu_second"),
            per(pl.col("gpu_seconds") / 3600, sent / 1e9).alias("gpu_hours_per_billion_tokens"),
            per(wall / 3600, sent / 1e9).alias("wall_hours_per_billion_tokens"),
        )
    return table.with_columns(pl.lit(config_hash).alias("config_hash"), pl.lit(__version__).alias("version"))


def generation_table_job(stats_paths: Sequence[str], out_csv: str, config_hash: str) -> None:
    from .io import write_csv

    write_csv(generation_table(stats_paths, config_hash), out_csv)
