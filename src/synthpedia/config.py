"""Config validation: JSON Schema with defaults, then the checks the schema cannot express.

A bad config fails here, before any job starts, with the key path at fault.
Imports only the standard library, PyYAML and jsonschema (the rule files call it).
"""

from __future__ import annotations

import copy
import glob
import os
import re
from pathlib import Path

import jsonschema

from .errors import InputError
from .pretrained import pretrained_location
from .registry import SCHEMA_PATH, Source, input_files, load_schema, registry_from_schema, source_spec

__all__ = [
    "SCHEMA_PATH",
    "configured_sources",
    "external_mixture",
    "external_parquet_files",
    "load_schema",
    "mixture_weights",
    "pretrained_location",
    "validate_config",
]


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _with_defaults(validator_class):
    """A validator that fills in `default:` values while it validates (jsonschema FAQ recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key_path(error.absolute_path)
    if error.schema.get("x-secret-name"):
        # The value may be the secret itself, pasted by mistake: never repeat it.
        return (
            f"config key '{where}': must be the name of an environment variable that holds the secret "
            f"(letters, digits and underscores); the value given is not shown"
        )
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        hint = f" (known keys: {', '.join(known)})" if known else ""
        return f"config key '{where}': {error.message}{hint}"
    return f"config key '{where}': {error.message}"


def validate_config(config: dict, schema_path: str | os.PathLike = SCHEMA_PATH, base_dir: str | os.PathLike = ".") -> dict:
    """Validate `config` in place against the schema, filling defaults; return it.

    Raises InputError naming the first bad key: an unknown key, a wrong type, a
    missing required key, a missing input file, an undefined audience or
    benchmark, a name under `train.mixture` or `decontamination.groups` that is
    not a source (or, under `train.mixture`, an external source whose parquet
    files or token folder is missing), a `tokenizer.pretrained` path that is
    missing, or a benchmark file that does not parse as its declared format.
    """
    schema = load_schema(schema_path)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Defaults of nested objects appear only once their parent exists: repeated passes fill every level.
    for _ in range(3):
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        if errors:
            raise InputError(_describe(errors[0]))
    known = registry_from_schema(schema)
    sources = configured_sources(config, known)
    _check_audiences(config, sources)
    _check_benchmark_names(config)
    _check_source_names(config, known)
    _check_train_runs(config)
    _check_files(config, sources, Path(base_dir))
    _check_mixture_paths(config, Path(base_dir))
    _check_tokenizer(config, Path(base_dir))
    _check_benchmark_files(config, Path(base_dir))
    return config


def configured_sources(config: dict, known: dict[str, Source]) -> list[Source]:
    """The registry records of the configured sources and their steps (steps first, then by name)."""
    chosen = [known[name] for name in sorted(config["sources"])]
    steps = [known[step] for source in chosen for step in source.steps]
    return steps + chosen


def _check_audiences(config: dict, sources: list[Source]) -> None:
    audiences = config.get("audiences", {})
    for source in sources:
        spec = source_spec(config, source)
        styles = spec.get("styles") or source.styles
        for name in spec.get("audiences", []):
            if name not in audiences:
                raise InputError(
                    f"config key '{source.key}.audiences': audience '{name}' is not defined under 'audiences'"
                )
            for style in styles:
                if style not in audiences[name]["instructions"]:
                    raise InputError(
                        f"config key 'audiences.{name}.instructions': no '{style}' entry, needed by {source.key}"
                    )


def _check_benchmark_names(config: dict) -> None:
    defined = sorted(config["benchmarks"])
    for key, section in (("decontamination.benchmarks", "decontamination"), ("evaluation.tasks", "evaluation")):
        field = key.split(".")[1]
        chosen = config[section][field]
        if chosen is None:
            config[section][field] = chosen = defined
        for name in chosen:
            if name not in config["benchmarks"]:
                raise InputError(f"config key '{key}': benchmark '{name}' is not defined under 'benchmarks'")
    # Settings of a benchmark left out of evaluation.tasks are unused, not wrong: a config that
    # narrows the task list keeps the embedded default's per-task settings. A name that is no
    # benchmark at all is a typo.
    for name in config["evaluation"]["per_task"]:
        if name not in config["benchmarks"]:
            raise InputError(f"config key 'evaluation.per_task.{name}': benchmark '{name}' is not defined under "
                             f"'benchmarks' ({', '.join(defined)})")


def _check_source_names(config: dict, known: dict[str, Source]) -> None:
    sources = sorted(name for name, source in known.items() if not source.is_step)
    # External mixture entries ({weight, parquet|tokens}) are not sources: _check_mixture_paths checks them.
    named = [(f"train.mixture.{name}", name) for name, spec in config["train"]["mixture"].items()
             if not isinstance(spec, dict)]
    for group, members in config["decontamination"]["groups"].items():
        named += [(f"decontamination.groups.{group}", name) for name in members]
    for key, name in named:
        if name not in sources:
            raise InputError(f"config key '{key}': '{name}' is not a source (sources: {', '.join(sources)})")
    if config["train"]["runs"] and not config["sources"]:
        raise InputError("config key 'train.runs': training needs at least one source under 'sources'")


def _check_train_runs(config: dict) -> None:
    try:
        from .train.params import check_train_params
    except ImportError:  # pragma: no cover - the train package always ships it
        return
    for name, run in config["train"]["runs"].items():
        try:
            check_train_params(run["params"])
        except InputError as err:
            raise InputError(f"config key 'train.runs.{name}.params': {err}") from err


def _check_files(config: dict, sources: list[Source], base_dir: Path) -> None:
    for source in sources:
        if source.is_step:
            continue  # a step reads its source's files, checked with the source
        for name, paths in input_files(config, source).items():
            for path in paths:
                if not (base_dir / path).exists():
                    raise InputError(f"config key 'sources.{source.section}.{name}': file not found: {path}")
    for name, bench in sorted(config["benchmarks"].items()):
        for key in ("path", "labels", "fewshot"):
            if key in bench and not (base_dir / bench[key]).exists():
                raise InputError(f"config key 'benchmarks.{name}.{key}': file not found: {bench[key]}")


def _check_benchmark_files(config: dict, base_dir: Path) -> None:
    from .benchsets import check_benchmark

    for name, bench in sorted(config["benchmarks"].items()):
        spec = dict(bench)
        for key in ("path", "labels", "fewshot"):
            if key in spec:
                spec[key] = str(base_dir / spec[key])
        check_benchmark(name, spec)


# An external mixture entry's name becomes a folder under results/tokens/ and a wildcard value.
_MIXTURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def external_mixture(config: dict) -> dict[str, dict]:
    """name -> spec ({weight, parquet} or {weight, tokens}) of the mixture's sources from outside the workflow."""
    return {name: spec for name, spec in sorted(config["train"]["mixture"].items()) if isinstance(spec, dict)}


def mixture_weights(config: dict, sources: list[str]) -> dict[str, float]:
    """Training weight of every mixture member: the workflow's `sources` (absent: 1.0), then the external ones."""
    mixture = config["train"]["mixture"]
    weights = {name: float(mixture.get(name, 1.0)) for name in sources}
    weights.update({name: float(spec["weight"]) for name, spec in external_mixture(config).items()})
    return weights


def external_parquet_files(pattern: str, key: str, base_dir: str | os.PathLike = ".") -> list[str]:
    """The parquet files of an external mixture entry, sorted: a folder (searched recursively) or a glob.

    Raises InputError naming config key `key` when nothing matches.
    """
    base = Path(base_dir)
    path = base / pattern

    def named(found) -> str:  # as the config gives it: relative to the workflow folder unless absolute
        return str(found) if Path(pattern).is_absolute() else str(Path(found).relative_to(base))

    if path.is_dir():
        files = sorted(named(p) for p in path.rglob("*.parquet") if p.is_file())
    elif path.is_file():
        files = [pattern]
    else:
        files = sorted(named(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise InputError(f"config key '{key}': no parquet file found at {pattern}")
    return files


def _check_mixture_paths(config: dict, base_dir: Path) -> None:
    sources = set(config["sources"])
    for name, spec in external_mixture(config).items():
        key = f"train.mixture.{name}"
        if name in sources:
            raise InputError(f"config key '{key}': '{name}' is a source of this run: give its weight as a number")
        if not _MIXTURE_NAME.match(name):
            raise InputError(f"config key '{key}': an external source's name must be letters, digits, '_' or '-'")
        if "parquet" in spec:
            external_parquet_files(spec["parquet"], f"{key}.parquet", base_dir)
        elif not (base_dir / spec["tokens"]).is_dir():
            raise InputError(f"config key '{key}.tokens': folder not found: {spec['tokens']}")


def _check_tokenizer(config: dict, base_dir: Path) -> None:
    pretrained = config["tokenizer"].get("pretrained")
    if not pretrained:
        return
    kind, _ = pretrained_location(pretrained, base_dir=base_dir)
    if kind == "hub" and config["offline"]:
        raise InputError(f"config key 'tokenizer.pretrained': {pretrained!r} is not a local file or folder, and "
                         "offline is true (a hub id needs offline: false)")
