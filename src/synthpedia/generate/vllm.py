"""Offline batched generation with vLLM on the job's GPUs.

vLLM refuses a prompt whose templated length leaves no room for one completion token (the
engine's input check: prompt tokens >= max_model_len), and `LLM.chat` then aborts the whole
batch: the job would fail, and its retry meet the same prompt again. Each prompt is therefore
measured first, with the engine's own tokenizer and chat template; one that cannot fit is
recorded as a refused request (a failure row, never sent again) and the rest of its batch runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence

from ..errors import InputError
from .backend import FREE, GUIDED, Backend, Completion, GenerationError, Request, refused
from .sampling import RENAMED, sampling_arguments

log = logging.getLogger(__name__)

# The words of vLLM's input check, so that a refusal found here reads like the engine's own.
TOO_LONG = ("The decoder prompt (length {tokens}) plus the number of requested output tokens (at least 1) "
            "is longer than the maximum model length of {limit}.")


def conversation(req: Request) -> list[dict]:
    """The chat messages of one request: its prompt as the user's turn."""
    return [{"role": "user", "content": req.prompt}]


def _token_ids(encoded) -> list[int]:
    """Token ids from apply_chat_template(tokenize=True): a list, or a mapping holding input_ids
    (transformers 5 returns a BatchEncoding by default)."""
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    return list(encoded)


class VllmBackend(Backend):
    """Offline batched generation with vLLM on the job's GPUs (tensor parallel over all of them).

    The settings are config section `generation.vllm` (`tensor_parallel_size`: the job's GPUs).
    Requests go to `LLM.chat` `batch_size` at a time (the model's chat template applies); each
    batch's completions are yielded together, so the ledger grows batch by batch. The model is
    loaded from `model_path`, or by the `model` name when that is null: a local folder or a hub
    id, as the job's environment allows. A prompt that leaves no room for a completion token
    under the engine's max_model_len is yielded as refused before its batch is sent; an engine
    argument vLLM does not know is an InputError naming `generation.vllm.engine_args`.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        sampling: dict,
        *,
        model_path: str | None,
        tensor_parallel_size: int,
        batch_size: int,
        max_model_len: int | None,
        gpu_memory_utilization: float,
        dtype: str,
        engine_args: dict,
    ):
        super().__init__(model, sampling)
        self.model_path = model_path or model
        self.tensor_parallel_size = max(1, tensor_parallel_size)
        self.batch_size = max(1, batch_size)
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        self.dtype = dtype
        self.engine_args = dict(engine_args)
        self.gpus = self.tensor_parallel_size
        self._llm = None
        self._limit: int | None = None

    @property
    def llm(self):
        """The engine, started on first use: a fully resumed shard never starts it."""
        if self._llm is None:
            from vllm import LLM  # imported here: the CPU environment has no vLLM

            kwargs = {"max_model_len": self.max_model_len} if self.max_model_len else {}
            try:
                self._llm = LLM(
                    model=self.model_path,
                    tensor_parallel_size=self.tensor_parallel_size,
                    gpu_memory_utilization=self.gpu_memory_utilization,
                    dtype=self.dtype,
                    **kwargs,
                    **self.engine_args,
                )
            except TypeError as err:  # EngineArgs takes no such keyword: a config mistake, not a crash
                raise InputError(f"config key 'generation.vllm.engine_args': {err}") from err
        return self._llm

    @property
    def model_len(self) -> int:
        """The engine's max_model_len: the config's, or the one it derived from the model."""
        if self._limit is None:
            self._limit = int(self.llm.llm_engine.model_config.max_model_len)
        return self._limit

    def prompt_tokens(self, req: Request) -> int:
        """The length of `req`'s prompt as the engine sees it: the engine's tokenizer and chat
        template, with the assistant's opening (LLM.chat's add_generation_prompt)."""
        tokenizer = self.llm.get_tokenizer()
        return len(_token_ids(tokenizer.apply_chat_template(conversation(req), tokenize=True,
                                                            add_generation_prompt=True)))

    def refusal(self, req: Request) -> str:
        """Why the engine would refuse `req` ("" when it fits): vLLM takes a prompt only when at
        least one completion token fits after it (prompt tokens < max_model_len)."""
        tokens = self.prompt_tokens(req)
        return TOO_LONG.format(tokens=tokens, limit=self.model_len) if tokens >= self.model_len else ""

    def sampling_params(self, req: Request):
        """vLLM's SamplingParams for `req`: one sequence, the config's sampling, the request's seed, and
        guided decoding (structured outputs) to the request's JSON schema when it has one."""
        from vllm import SamplingParams

        guided = {}
        if req.json_schema is not None:
            # vLLM 0.12 replaced GuidedDecodingParams (guided_decoding=) with StructuredOutputsParams.
            from vllm.sampling_params import StructuredOutputsParams

            guided["structured_outputs"] = StructuredOutputsParams(json=req.json_schema)
        return SamplingParams(n=1, **sampling_arguments(self.sampling, req.seed, RENAMED["vllm"]), **guided)

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion]:
        for first in range(0, len(requests), self.batch_size):
            start = time.perf_counter()
            batch = []
            for req in requests[first : first + self.batch_size]:
                reason = self.refusal(req)
                if reason:
                    log.warning("vllm: request %s refused before its batch: %s", req.key, reason)
                    yield refused(req, reason, time.perf_counter() - start)
                else:
                    batch.append(req)
            if batch:
                yield from self._chat(batch, start)

    def _chat(self, batch: list[Request], start: float) -> Iterator[Completion]:
        """One `LLM.chat` call for `batch`; the completions, each with its batch's latency."""
        try:
            outputs = self.llm.chat(
                [conversation(req) for req in batch],
                sampling_params=[self.sampling_params(req) for req in batch],
                use_tqdm=False,
            )
        except ValueError as err:
            # The engine's length check disagreed with the measure above (another chat template,
            # say): find the prompts it refuses, one request at a time, rather than fail the job.
            if "maximum model length" not in str(err):
                raise
            if len(batch) == 1:
                yield refused(batch[0], str(err), time.perf_counter() - start)
            else:
                for req in batch:
                    yield from self._chat([req], time.perf_counter())
            return
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
                decoding=FREE if req.json_schema is None else GUIDED,
            )

    def close(self) -> None:
        self._llm = None
        self._limit = None
