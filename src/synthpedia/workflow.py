"""The workflow layer: what the rule files need, and nothing heavy.

Importing this module loads only the standard library, PyYAML and jsonschema,
and changes no environment variable: the Snakemake process and every job it
starts keep the environment they were given. It holds the config validation,
the source registry view, shard names, the generation fingerprint, GPU counts
and the env choice. Jobs set themselves up with `synthpedia.runtime`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from .config import (  # noqa: F401 (the rule files' entry)
    configured_sources,
    external_mixture,
    external_parquet_files,
    load_schema,
    mixture_weights,
    validate_config,
)
from .errors import InputError
from .ids import config_hash  # noqa: F401 (re-exported for the rule files)
from .registry import ROOT, input_files, registry, source_spec

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
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".xhtml.gz")


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
                raise InputError(
                    f"config key '{key}': {path}: not a WARC (.warc, .warc.gz) or HTML (.html, .htm, .html.gz) file"
                )
            files.append(str(path))
        else:
            raise InputError(f"config key '{key}': input not found: {path}")
    return files


# ----------------------------------------------------------------------------- sources and shards


def prompt_sources(config: dict) -> list[str]:
    """Names of everything that has prompts and generations: the configured sources and their steps
    (not the sources whose generations are imported)."""
    return sorted(source.name for source in configured_sources(config, registry()) if not source.imports)


def imported_sources(config: dict) -> list[str]:
    """Names of the configured sources whose generation shards are imported (rule import_generations)."""
    return sorted(name for name in config["sources"] if registry()[name].imports)


def imported_schema(name: str) -> str:
    """The published schema source `name` imports (its registry record's `imports`)."""
    return registry()[name].imports


def imported_files(config: dict, name: str) -> list[str]:
    """The input files of imported source `name`, in shard order (shard 000 is the first)."""
    inputs = {key: config["sources"][name][key] for key in registry()[name].inputs}
    return list(_expand_imported(name, json.dumps(inputs, sort_keys=True), os.getcwd()))


@lru_cache(maxsize=64)
def _expand_imported(name: str, inputs: str, cwd: str) -> tuple[str, ...]:
    # Globs over hundreds of published files are expanded once per workflow, not once per job
    # (relative patterns are expanded in `cwd`, the folder Snakemake runs in).
    found = input_files({"sources": {name: json.loads(inputs)}}, registry()[name])
    return tuple(path for paths in found.values() for path in paths)


def dataset_sources(config: dict) -> list[str]:
    """Names of the configured sources, whose generations become the dataset."""
    return sorted(config["sources"])


def source_settings(config: dict, name: str) -> dict:
    """The settings source (or step) `name` reads (registry.source_spec)."""
    return source_spec(config, registry()[name])


def shard_names(config: dict, name: str) -> list[str]:
    """The prompt/generation shard names of source `name`: 000, 001, ... (count from its config;
    for an imported source, one per input file)."""
    if registry()[name].imports:
        files = imported_files(config, name)
        if len(files) > 999:
            raise InputError(f"config key 'sources.{name}.files': {len(files)} files; at most 999 (one shard each)")
        return [shard_name(i) for i in range(len(files))]
    return [shard_name(i) for i in range(source_settings(config, name)["shards"])]


def stage_paths(config: dict, stage: str, names, suffix: str = ".parquet") -> list[str]:
    """results/<stage>/<source>/<shard><suffix> for every shard of every source in `names`."""
    return [f"results/{stage}/{name}/{shard}{suffix}" for name in names for shard in shard_names(config, name)]


def seed_inputs(config: dict, name: str) -> dict[str, list[str]]:
    """The seeds rule's named inputs for `name`: `files` (the input files its config names) and
    one entry per workflow-made file set its registry record reads (`reads`)."""
    source = registry()[name]
    owner = registry()[source.section]  # a step reads its source's files
    found = {"files": [path for paths in input_files(config, owner).values() for path in paths]}
    for read, what in source.reads.items():
        if "file" in what:
            found[read] = [what["file"]]
        else:
            found[read] = stage_paths(config, "generations", [what["generations"]])
    return found


def template_files(name: str, templates_dir: str | os.PathLike = ROOT / "templates") -> list[str]:
    """Template files the prompts of source `name` depend on, included partials too (rule
    inputs: editing one reruns that source only)."""
    import jinja2
    import jinja2.meta

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)))
    pending = [registry()[name].template(style) for style in registry()[name].styles]
    found: list[str] = []
    while pending:
        template = pending.pop(0)
        if template in found:
            continue
        found.append(template)
        text = env.loader.get_source(env, template)[0]
        pending += [ref for ref in jinja2.meta.find_referenced_templates(env.parse(text)) if ref]
    return [str(Path(templates_dir) / template) for template in found]


def answer_schema(name: str) -> dict | None:
    """The JSON schema the generations of source `name` are held to (None: free text)."""
    return registry()[name].answer_schema


def generation_env(config: dict) -> str:
    """The conda env of generation jobs: vLLM has its own (CUDA wheels); the others share one."""
    return "../envs/vllm.yaml" if config["generation"]["backend"] == "vllm" else "../envs/generate.yaml"


# ----------------------------------------------------------------------------- presets

# A config file with this top-level block is a complete preset (config/cosmopedia.yaml): the
# embedded default (config.yaml) is not read under it, except the keys it names under `shared`.
PRESET_KEY = "preset"


def is_preset(config: dict) -> bool:
    """Whether `config` (the --configfile files and --config values, merged) holds a preset block."""
    return isinstance(config.get(PRESET_KEY), dict)


def merge_config(base: dict, override: dict) -> dict:
    """`override` on top of `base`, dicts merged key by key (Snakemake's update_config, on copies)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge_config(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def preset_config(given: dict, default_path: str | os.PathLike) -> dict:
    """The effective config of preset `given`: the preset itself over the top-level keys it shares.

    `given`: the --configfile files (and --config values) as Snakemake merged them, with a
    `preset:` block (`name`, `shared`: top-level keys taken from the embedded default at
    `default_path`). The block itself is not part of the result; every other key comes from
    `given` or, when absent there, the schema's defaults (filled in by validate_config).
    """
    import yaml

    block = given[PRESET_KEY]
    unknown = sorted(set(block) - {"name", "shared"})
    if unknown:
        raise InputError(f"config key '{PRESET_KEY}': unknown keys {unknown} (known: name, shared)")
    shared = list(block.get("shared") or [])
    found = {}
    if shared:
        with open(default_path, encoding="utf-8") as fh:
            default = yaml.safe_load(fh) or {}
        for key in shared:
            if key not in default:
                raise InputError(f"config key '{PRESET_KEY}.shared': '{key}' is not a key of {default_path}")
            found[key] = default[key]
    return merge_config(found, {k: v for k, v in given.items() if k != PRESET_KEY})


def apply_preset(config: dict, default_path: str | os.PathLike) -> None:
    """Replace `config` in place by its preset's effective config (see preset_config)."""
    effective = preset_config(config, default_path)
    config.clear()
    config.update(effective)


# ----------------------------------------------------------------------------- resources


def size_mb(paths: Iterable[str | os.PathLike]) -> float:
    """Megabytes under `paths` (files, or folders summed recursively); absent paths count 0.

    For resource callables whose inputs are folders (Snakemake's input.size_mb counts a folder
    as its directory entry only).
    """
    total = 0
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def scaled(base: float, per_mb: float, mb: float, cap: float | None = None) -> int:
    """A resource that follows the work: `base` + `per_mb` x `mb` (input megabytes), at most `cap`."""
    value = base + per_mb * mb
    return int(min(value, cap) if cap is not None else value)


def plan_sources(config: dict) -> tuple[list[str], dict[str, dict]]:
    """The pre-flight plan's sources: (those whose prompts it renders, those it estimates).

    A source whose seeds read generations (Stanford's units read the outlines) is estimated
    from its step's prompts: name -> {"step": the step, "audiences": how many it has}.
    """
    known = registry()
    rendered, estimated = [], {}
    for name in prompt_sources(config):
        steps = [what["generations"] for what in known[name].reads.values() if "generations" in what]
        if steps:
            estimated[name] = {"step": steps[0], "audiences": len(source_settings(config, name)["audiences"])}
        else:
            rendered.append(name)
    return rendered, estimated
