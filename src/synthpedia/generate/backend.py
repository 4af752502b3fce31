"""What every backend shares: the request and completion records, the interface, and the choice.

A backend module imports this one, and `make_backend` imports the chosen
backend's module only when it is asked for: importing the package loads no
model library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ..errors import InputError


class GenerationError(RuntimeError):
    """A job that could not finish every request. What finished is in the ledger: a rerun resumes."""


# How a completion was decoded: free text, or held to a JSON schema by the backend's own means.
FREE, GRAMMAR, GUIDED, RESPONSE_FORMAT = "free", "grammar", "guided", "response_format"


@dataclass(frozen=True)
class Request:
    key: str
    prompt: str
    seed: int  # sampling seed of this request, derived from its key
    # A JSON schema the answer must follow, where the backend can hold it to one (labels only;
    # documents are free text). The backend records in Completion.decoding what it did.
    json_schema: dict | None = None


@dataclass(frozen=True)
class Completion:
    key: str
    completion: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float
    error: str = ""  # set when the request itself was refused (e.g. prompt longer than the context)
    decoding: str = FREE  # FREE, or how the backend held the answer to the request's JSON schema


class RequestFeed:
    """Requests handed out one at a time, as a backend is ready for them: here from a list; in a
    worker process, as they arrive from the parent (synthpedia.generate.worker)."""

    def __init__(self, requests: Iterable[Request] = ()):
        self._queue = deque(requests)

    def take(self, wait: bool) -> Request | None:
        """The next request; None when there is no more (or, with `wait` False, none yet)."""
        return self._queue.popleft() if self._queue else None


def refused(req: Request, reason: str, seconds: float) -> Completion:
    """The record of a request the backend will never answer: a failure row, never sent again."""
    return Completion(req.key, "", 0, 0, "error", seconds, error=reason)


class Backend(ABC):
    """A text generator. `generate` yields each completion as soon as it is done, in any order.

    `model`: the name recorded in every row and in the request keys; `sampling`: the config's
    `generation.sampling` section.
    """

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


def make_backend(generation: dict, threads: int = 1, gpus: int = 0) -> Backend:
    """The backend named by config key `generation.backend`, set up from its config section.

    `generation`: the validated config section (schema defaults filled in); `threads` and
    `gpus`: the job's. Raises InputError for an unknown backend or an openai backend without
    a base URL.
    """
    name = generation["backend"]
    model, sampling = generation["model"], generation["sampling"]
    # Each backend module is imported only when chosen (and imports this module itself).
    if name == "llamacpp":
        from .llamacpp import LlamaCppBackend

        opts = generation["llamacpp"]
        return LlamaCppBackend(model, sampling, model_path=opts["model_path"], n_ctx=opts["n_ctx"], threads=threads,
                               workers=opts["workers"] or threads,  # 0: one worker per thread
                               parallel_sequences=opts["parallel_sequences"], reuse_prefix=opts["reuse_prefix"])
    if name == "openai":
        from .openai import OpenAIBackend

        opts = generation["openai"]
        if not opts["base_url"]:
            raise InputError("config key 'generation.openai.base_url': required by backend 'openai'")
        return OpenAIBackend(model, sampling, **opts)
    if name == "vllm":
        from .vllm import VllmBackend

        # The job's GPUs, when the scheduler gave it some, win over the config's count.
        opts = {**generation["vllm"], "tensor_parallel_size": gpus or generation["vllm"]["tensor_parallel_size"]}
        return VllmBackend(model, sampling, **opts)
    raise InputError(f"config key 'generation.backend': unknown backend '{name}'")
