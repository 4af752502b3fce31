"""The workflow layer: what the rule files need, and nothing heavy.

Importing this module loads only the standard library, PyYAML and jsonschema,
and changes no environment variable: the Snakemake process and every job it
starts keep the environment they were given. It holds the config validation,
the source registry view, shard names, the generation fingerprint, GPU counts
and the env choice. Jobs set themselves up with `synthpedia.runtime`.
"""

from __future__ import annotations

BACKENDS = ("llamacpp", "openai", "vllm")

# Settings that change how fast or where a job runs, never what it writes. The rule keeps them out
# of its params (generation_fingerprint), so tuning them does not rerun finished jobs.
RUNTIME_KEYS = {
    "llamacpp": ("workers",),
    "openai": ("base_url", "api_key_env", "concurrency", "timeout_seconds", "retries", "backoff_seconds",
               "server_gpus"),
    "vllm": ("tensor_parallel_size", "batch_size", "gpu_memory_utilization"),
}


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


def shard_name(index: int) -> str:
    """The name of shard `index`: 000, 001, ..."""
    return f"{index:03d}"
