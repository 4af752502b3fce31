"""Config validation: JSON Schema with defaults, then the checks the schema cannot express.

A bad config fails here, before any job starts, with the key path at fault.
Imports only the standard library, PyYAML and jsonschema (the rule files call it).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import jsonschema

from .errors import InputError
from .registry import SCHEMA_PATH, Source, input_files, load_schema, registry_from_schema, source_spec

__all__ = ["SCHEMA_PATH", "configured_sources", "load_schema", "validate_config"]


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
    not a source, or a benchmark file that does not parse as
    its declared format.
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


def _check_source_names(config: dict, known: dict[str, Source]) -> None:
    sources = sorted(name for name, source in known.items() if not source.is_step)
    named = [(f"train.mixture.{name}", name) for name in config["train"]["mixture"]]
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
        for key in ("path", "labels"):
            if key in bench and not (base_dir / bench[key]).exists():
                raise InputError(f"config key 'benchmarks.{name}.{key}': file not found: {bench[key]}")


def _check_benchmark_files(config: dict, base_dir: Path) -> None:
    from .benchsets import check_benchmark

    for name, bench in sorted(config["benchmarks"].items()):
        spec = dict(bench)
        for key in ("path", "labels"):
            if key in spec:
                spec[key] = str(base_dir / spec[key])
        check_benchmark(name, spec)
