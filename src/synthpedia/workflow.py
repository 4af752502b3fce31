"""The workflow layer: what the rule files need, and nothing heavy.

Importing this module loads only the standard library, PyYAML and jsonschema,
and changes no environment variable: the Snakemake process and every job it
starts keep the environment they were given. It holds the config validation,
the source registry view, shard names, the generation fingerprint, GPU counts
and the env choice. Jobs set themselves up with `synthpedia.runtime`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import InputError

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


WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def web_file_kind(path: str | os.PathLike) -> str | None:
    """"warc", "html", or None for a file the web source does not read, by its name."""
    name = Path(path).name.lower()
    if name.endswith(WARC_SUFFIXES):
        return "warc"
    if name.endswith(HTML_SUFFIXES):
        return "html"
    return None


def web_input_files(paths: Iterable[str | os.PathLike], key: str = "sources.web.inputs") -> list[str]:
    """The WARC and HTML files behind `paths` (files, or folders searched recursively, sorted).

    Files in a folder with other suffixes (LICENSE, README, ...) are ignored; a file named
    directly must be WARC(.gz) or HTML. Raises InputError naming config key `key` for a
    missing path or a file of another kind.
    """
    files: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.is_file() and web_file_kind(p))
        elif path.is_file():
            if not web_file_kind(path):
                raise InputError(f"config key '{key}': {path}: not a WARC (.warc, .warc.gz) or HTML (.html, .htm) file")
            files.append(str(path))
        else:
            raise InputError(f"config key '{key}': input not found: {path}")
    return files
