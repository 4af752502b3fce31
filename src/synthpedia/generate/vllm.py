"""Offline batched generation with vLLM on the job's GPUs."""

from __future__ import annotations

import time
from typing import Iterator, Sequence

from .backend import FREE, GUIDED, Backend, Completion, GenerationError, Request
from .sampling import RENAMED, sampling_arguments


class VllmBackend(Backend):
    """Offline batched generation with vLLM on the job's GPUs (tensor parallel over all of them).

    The settings are config section `generation.vllm` (`tensor_parallel_size`: the job's GPUs).
    Requests go to `LLM.chat` `batch_size` at a time (the model's chat template applies); each
    batch's completions are yielded together, so the ledger grows batch by batch. The model is
    loaded from `model_path`, or by the `model` name when that is null: a local folder or a hub
    id, as the job's environment allows.
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

    @property
    def llm(self):
        """The engine, started on first use: a fully resumed shard never starts it."""
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
                    decoding=FREE if req.json_schema is None else GUIDED,
                )

    def close(self) -> None:
        self._llm = None
