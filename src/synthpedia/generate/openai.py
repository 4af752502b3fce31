"""Chat completions from any OpenAI-compatible server (vLLM serve, TGI, llama.cpp server)."""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Iterator, Sequence

from .backend import FREE, RESPONSE_FORMAT, Backend, Completion, GenerationError, Request, refused
from .sampling import OPENAI_API_KEYS, sampling_arguments

log = logging.getLogger(__name__)


def response_formats(schema: dict) -> list[dict | None]:
    """The ways to ask a server for an answer that follows `schema`, in the order they are tried.

    The OpenAI API's json_schema (OpenAI, vLLM serve, TGI), then llama.cpp servers' json_object with
    a schema, then None: no response_format, the answer comes as free text.
    """
    return [
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
        {"type": "json_object", "schema": schema},
        None,
    ]


class OpenAIBackend(Backend):
    """Chat completions from an OpenAI-compatible server, `concurrency` requests in flight.

    The settings are config section `generation.openai`. Connection errors, timeouts,
    408/409/429 and 5xx are retried with exponential backoff (and jitter); a request the server
    refuses as such (400/413/422, e.g. a prompt longer than the context) becomes a failure
    record; any other error (401, 403, 404: a wrong key, URL or model) fails the job at once.
    The API key is read from the environment variable `api_key_env` and is never logged or
    written; when it is unset, a dummy key is sent (local servers need none).

    A request with a JSON schema asks for it through `response_format` (see `response_formats`
    and `complete`).
    """

    name = "openai"
    REFUSED = (400, 413, 422)
    RETRIED = (408, 409, 429)
    MAX_BACKOFF = 60.0

    def __init__(
        self,
        model: str,
        sampling: dict,
        *,
        base_url: str,
        api_key_env: str,
        concurrency: int,
        timeout_seconds: float,
        retries: int,
        backoff_seconds: float,
        extra_sampling_names: dict,
        server_gpus: int,
    ):
        super().__init__(model, sampling)
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        # Sampling keys outside the OpenAI API go in the request body, under the server's names.
        self.sampling_names = dict(extra_sampling_names)
        self.gpus = server_gpus  # GPUs behind the server, for GPU-seconds accounting
        self.retried = 0
        self._first_format = 0  # index in response_formats() of the first format the server may take
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

    def request_arguments(self, req: Request) -> dict:
        """The sampling arguments of `req`: the API's own by name, the server's in `extra_body`."""
        body = sampling_arguments(self.sampling, req.seed, self.sampling_names)
        return {**{key: body.pop(key) for key in OPENAI_API_KEYS}, "extra_body": body}

    def complete(self, req: Request) -> Completion:
        """One request; with a JSON schema, in the first response format the server answers.

        A format the server refuses, or keeps failing on once retries run out (llama-cpp-python's
        server answers an unknown format with HTTP 500), gives way to the next one for this request;
        the format that answers is where later requests start. Errors of the last way tried are
        the request's.
        """
        import openai

        if req.json_schema is None:
            return self.complete_as(req, None)
        formats = response_formats(req.json_schema)
        for index in range(self._first_format, len(formats)):
            last = index == len(formats) - 1
            try:
                completion = self.complete_as(req, formats[index])
            except openai.APIError as err:
                if last:
                    raise
                problem = type(err).__name__
            else:
                if not completion.error:
                    self._first_format = max(self._first_format, index)
                    return completion
                if last:
                    return completion  # refused in every format: the prompt itself (e.g. too long)
                problem = completion.error
            log.warning("request %s: %s with response_format %s; trying the next way", req.key[:8], problem,
                        formats[index]["type"])
        raise AssertionError("unreachable")

    def complete_as(self, req: Request, response_format: dict | None) -> Completion:
        """One request with `response_format` (None: none), retried on transient errors.

        Raises the last error when retries run out.
        """
        import openai

        extra = {} if response_format is None else {"response_format": response_format}

        for attempt in itertools.count():
            start = time.perf_counter()
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": req.prompt}],
                    **self.request_arguments(req),
                    **extra,
                )
            except openai.APIStatusError as err:
                if err.status_code in self.REFUSED:
                    return refused(req, f"HTTP {err.status_code}: {err.message}", time.perf_counter() - start)
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
                    decoding=FREE if response_format is None else RESPONSE_FORMAT,
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
