"""CPU generation with llama.cpp on a GGUF model: one stream, several worker processes, or batched sequences."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputError
from .backend import FREE, GRAMMAR, Backend, Completion, Request, RequestFeed, refused
from .sampling import RENAMED, sampling_arguments
from .worker import run_in_workers, serve


def resolve_model_path(spec: str) -> Path:
    """The GGUF file named by `spec`: a path, or `package:<module>/<file>` for one inside a Python package.

    Raises InputError naming config key `generation.llamacpp.model_path` when the package or
    the file is missing.
    """
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


class LlamaCppBackend(Backend):
    """CPU generation with llama.cpp on a GGUF model (the chat template comes from the GGUF).

    `model_path`, `n_ctx`, `workers`, `parallel_sequences` and `reuse_prefix`: config section
    `generation.llamacpp`; `threads`: the job's. With `workers` > 1, that many worker processes
    each load the model with threads/workers threads; each process (the job's own when `workers`
    is 1) decodes one stream, or with `parallel_sequences` > 1 that many sequences together in
    one context, one llama_decode per step for all of them (`batched`). A process takes the next
    request as soon as it finishes one. A request with a JSON schema is decoded under the
    grammar of that schema, in every mode.
    """

    name = "llamacpp"

    def __init__(self, model: str, sampling: dict, *, model_path: str, n_ctx: int, threads: int, workers: int,
                 parallel_sequences: int, reuse_prefix: bool):
        super().__init__(model, sampling)
        self.model_path = resolve_model_path(model_path)
        self.n_ctx = n_ctx
        self.threads = max(1, threads)
        self.workers = max(1, workers)
        self.parallel_sequences = max(1, parallel_sequences)
        self.reuse_prefix = reuse_prefix
        self._llm = None
        self._batched = None

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

    @property
    def batched(self):
        """The batched decoder over the loaded model, made on first use."""
        if self._batched is None:
            from .batched import BatchedDecoder

            self._batched = BatchedDecoder(
                self.llm, n_seq=self.parallel_sequences, n_ctx=self.n_ctx, threads=self.threads,
                n_batch=self.llm.n_batch, reuse_prefix=self.reuse_prefix, chat_arguments=self.chat_arguments,
                decoding=lambda plan: FREE if plan["grammar"] is None else GRAMMAR,
            )
        return self._batched

    def chat_arguments(self, req: Request) -> dict:
        """The create_chat_completion arguments of `req`: its message, the sampling, its seed, its schema."""
        arguments = {
            "messages": [{"role": "user", "content": req.prompt}],
            **sampling_arguments(self.sampling, req.seed, RENAMED["llamacpp"]),
        }
        if req.json_schema is not None:
            # llama-cpp-python turns the schema into a grammar that every sampled token must follow.
            arguments["response_format"] = {"type": "json_object", "schema": req.json_schema}
        return arguments

    def complete(self, req: Request) -> Completion:
        """One request in this process; a prompt longer than the context is a refused request."""
        start = time.perf_counter()
        try:
            out = self.llm.create_chat_completion(**self.chat_arguments(req))
        except ValueError as err:
            if "context window" not in str(err):
                raise
            return refused(req, str(err), time.perf_counter() - start)  # this prompt can never fit
        choice = out["choices"][0]
        return Completion(
            key=req.key,
            completion=choice["message"]["content"] or "",
            prompt_tokens=int(out["usage"]["prompt_tokens"]),
            completion_tokens=int(out["usage"]["completion_tokens"]),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            seconds=time.perf_counter() - start,
            decoding=FREE if req.json_schema is None else GRAMMAR,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]:
        # Always the same threads per sequence, however few requests are left: a resumed shard
        # decodes with the numerics of an uninterrupted one.
        if self.workers == 1:
            yield from self.answer(RequestFeed(requests))
        else:
            yield from run_in_workers(f"{__name__}:llamacpp_worker", self._worker_options(), self.workers, requests,
                                      in_flight=self.parallel_sequences)

    def answer(self, feed: RequestFeed) -> Iterator[Completion]:
        """Answer the requests of `feed` in this process: batched, or one after the other."""
        if self.parallel_sequences > 1:
            yield from self.batched.answer(feed)
            return
        while (req := feed.take(wait=True)) is not None:
            yield self.complete(req)

    def _worker_options(self) -> dict:
        """What a worker process needs to build its own one-process backend (see `llamacpp_worker`)."""
        return {
            "model": self.model,
            "sampling": self.sampling,
            "model_path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "threads": max(1, self.threads // self.workers),
            "parallel_sequences": self.parallel_sequences,
            "reuse_prefix": self.reuse_prefix,
        }

    def close(self) -> None:
        if self._batched is not None:
            self._batched.close()
            self._batched = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None


def llamacpp_worker() -> None:
    """Main of a worker process of LlamaCppBackend (see synthpedia.generate.worker)."""
    serve(lambda options: LlamaCppBackend(options["model"], options["sampling"], model_path=options["model_path"],
                                          n_ctx=options["n_ctx"], threads=options["threads"], workers=1,
                                          parallel_sequences=options["parallel_sequences"],
                                          reuse_prefix=options["reuse_prefix"]))
