"""Config validation: JSON Schema with defaults, then checks the schema cannot express.

A bad config fails here, before any job starts, with the key path at fault.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import InputError
from .prompts import source_styles
from .seeds import seed_input_files, stanford_outline_spec
from .train import train_params

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


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
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        hint = f" (known keys: {', '.join(known)})" if known else ""
        return f"config key '{where}': {error.message}{hint}"
    return f"config key '{where}': {error.message}"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def validate_config(config: dict, schema_path: str | Path = SCHEMA_PATH, base_dir: str | Path = ".") -> dict:
    """Validate `config` in place against the schema, filling defaults; return it.

    Raises InputError naming the first bad key (unknown key, wrong type, missing
    required key, missing input file, undefined audience or benchmark).
    """
    schema = load_schema(schema_path)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Defaults of nested objects appear only once their parent exists: two passes fill both levels.
    for _ in range(3):
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        if errors:
            raise InputError(_describe(errors[0]))
    _check_cross_references(config)
    _check_files(config, Path(base_dir))
    return config


def _check_cross_references(config: dict) -> None:
    audiences = config.get("audiences", {})
    prompt_sources = [(source, f"sources.{source}") for source in sorted(config["sources"])]
    if "stanford" in config["sources"]:
        prompt_sources.append(("stanford_outline", "sources.stanford.outline"))
    for source, key in prompt_sources:
        spec = source_config(config, source)
        for name in spec.get("audiences", []):
            if name not in audiences:
                raise InputError(f"config key '{key}.audiences': audience '{name}' is not defined under 'audiences'")
            for style in source_styles(source, spec):
                if style not in audiences[name]["instructions"]:
                    raise InputError(
                        f"config key 'audiences.{name}.instructions': no '{style}' entry, needed by {key}"
                    )
    defined = sorted(config["benchmarks"])
    for key, section in (("decontamination.benchmarks", "decontamination"), ("evaluation.tasks", "evaluation")):
        field = key.split(".")[1]
        chosen = config[section][field]
        if chosen is None:
            config[section][field] = chosen = defined
        for name in chosen:
            if name not in config["benchmarks"]:
                raise InputError(f"config key '{key}': benchmark '{name}' is not defined under 'benchmarks'")
    for name, run in config["train"]["runs"].items():
        try:
            train_params(run["params"])
        except InputError as err:
            raise InputError(f"config key 'train.runs.{name}.params': {err}") from err
    if config["train"]["runs"] and not config["sources"]:
        raise InputError("config key 'train.runs': training needs at least one source under 'sources'")


def source_config(config: dict, source: str) -> dict:
    """A source's config section; `stanford_outline` (the outline step) reads `sources.stanford`."""
    if source == "stanford_outline":
        return stanford_outline_spec(config["sources"]["stanford"])
    return config["sources"][source]


def input_files(config: dict) -> list[tuple[str, str]]:
    """(config key, path) of every input file the config names."""
    files = []
    for source, spec in sorted(config["sources"].items()):
        files += [(f"sources.{source}", path) for path in seed_input_files(source, spec)]
    for name, bench in sorted(config["benchmarks"].items()):
        files += [(f"benchmarks.{name}.{key}", bench[key]) for key in ("path", "labels") if key in bench]
    return files


def _check_files(config: dict, base_dir: Path) -> None:
    for key, path in input_files(config):
        if not (base_dir / path).exists():
            raise InputError(f"config key '{key}': file not found: {path}")
