"""The source registry: one record per seed source, read from the config schema.

Each source's entry under `sources` in schemas/config.schema.yaml carries an
`x-source` record; it is the one place the workflow, the config checks, the
seeds and the prompts learn what a source is:

- `module`: the loader module. It defines `COLUMNS` (the seed table's columns),
  `load_seeds(spec, reads)` (the seed table from the source's config section and
  the workflow-made files it reads) and `prompt_contexts(row, spec, seed)` (the
  (style, variant, template variables) of each prompt of one seed row). It is
  imported by jobs only, never by the workflow layer.
- `inputs`: config key -> kind of the files that key names (see INPUT_KINDS).
- `styles`: the prompt styles, one template each: templates/<source>/<style>.j2.
- `reads`: name -> workflow-made files the seeds read: `{file: path}` or
  `{generations: <step>}` (every generation shard of that step).
- `steps`: generation steps the source needs first, each a record of its own
  plus `section`, the sub-section of the source's config that configures it
  (Stanford's course outlines: `sources.stanford.outline`), and `shares`, the
  keys of the source's section it reads besides its inputs (the catalog's
  bad-record policy).
- `answer_schema` (optional): the JSON schema its generations are held to by
  constrained decoding (Stanford's outlines: sections, then units).
- `imports` (optional): the published schema of generations made elsewhere that
  the source reads (`cosmopedia`). Such a source has no seeds, prompts or
  generation jobs: each of its input files becomes one generation shard, and
  `module` is the import module (`import_job`), not a seed loader.

Adding a source takes a loader module, its templates and its schema entry.
This module imports only the standard library and PyYAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"


@dataclass(frozen=True)
class Source:
    """One source (or generation step of a source) as the registry records it."""

    name: str  # seeds, prompts and generations are filed under this name
    section: str  # its config section: sources.<section>
    module: str
    inputs: dict[str, str]
    styles: tuple[str, ...]
    reads: dict[str, dict] = field(default_factory=dict)
    subsection: str | None = None  # a step's sub-section of sources.<section>
    shares: tuple[str, ...] = ()  # a step's keys of sources.<section> read beside its inputs
    answer_schema: dict | None = None  # JSON schema its generations are held to, if any
    steps: tuple[str, ...] = ()  # names of the steps this source needs first
    imports: str | None = None  # the published schema of the generations it imports, if any

    @property
    def is_step(self) -> bool:
        """A generation step (its generations feed another source's seeds, not the dataset)."""
        return self.subsection is not None

    @property
    def key(self) -> str:
        """The config key of this source's settings."""
        return f"sources.{self.section}" + (f".{self.subsection}" if self.subsection else "")

    def template(self, style: str) -> str:
        """The template of `style`, relative to the templates folder."""
        return f"{self.name}/{style}.j2"


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _record(name: str, section: str, raw: dict, subsection: str | None = None) -> Source:
    try:
        return Source(
            name=name,
            section=section,
            module=raw["module"],
            inputs=dict(raw.get("inputs", {})),
            styles=tuple(raw["styles"]),
            reads=dict(raw.get("reads", {})),
            subsection=subsection,
            shares=tuple(raw.get("shares", ())),
            answer_schema=raw.get("answer_schema"),
            steps=tuple(raw.get("steps", {})),
            imports=raw.get("imports"),
        )
    except KeyError as err:
        raise InputError(f"schema: sources.{section} x-source lacks {err}") from None


def registry_from_schema(schema: dict) -> dict[str, Source]:
    """name -> Source for every source and step the schema declares (steps before their source)."""
    found: dict[str, Source] = {}
    for section, entry in schema["properties"]["sources"]["properties"].items():
        raw = entry.get("x-source")
        if raw is None:
            raise InputError(f"schema: sources.{section} has no x-source record")
        for step, step_raw in raw.get("steps", {}).items():
            found[step] = _record(step, section, step_raw, subsection=step_raw["section"])
        found[section] = _record(section, section, raw)
    return found


@lru_cache(maxsize=4)
def _registry_at(path: str) -> dict[str, Source]:
    return registry_from_schema(load_schema(path))


def registry(schema_path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Source]:
    """The registry of the schema at `schema_path` (cached)."""
    return _registry_at(str(schema_path))


def source_spec(config: dict, source: Source) -> dict:
    """The settings `source` reads: its config section, or for a step its sub-section plus the
    section's input keys (a step reads the same input files as its source) and shared keys."""
    section = config["sources"][source.section]
    if not source.is_step:
        return section
    shared = (*source.inputs, *source.shares)
    return {**section.get(source.subsection, {}), **{k: section[k] for k in shared if k in section}}


# ----------------------------------------------------------------------------- input files


def _as_list(value, key: str) -> list[str]:
    if isinstance(value, (str, Path)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"config key '{key}': expected a non-empty list of file paths")
    return [str(v) for v in value]


def _one_file(value, key: str) -> list[str]:
    if not isinstance(value, str) or not value:
        raise InputError(f"config key '{key}': expected a file path")
    if Path(value).is_dir():
        raise InputError(f"config key '{key}': {value} is a folder; give a file")
    return [value]


def _files(value, key: str) -> list[str]:
    paths = _as_list(value, key)
    for path in paths:
        if Path(path).is_dir():
            raise InputError(f"config key '{key}': {path} is a folder; give files")
    return paths


def _openstax_books(value, key: str) -> list[str]:
    # A collection file, and the module files of its book (<book>/modules/<id>/index.cnxml).
    files = _files(value, key)
    for book in list(files):
        files += sorted(str(p) for p in Path(book).parent.parent.glob("modules/*/index.cnxml"))
    return files


def _parquet_files(value, key: str) -> list[str]:
    # Paths or glob patterns (a published dataset comes as hundreds of files), expanded and sorted.
    import glob

    files: list[str] = []
    for pattern in _as_list(value, key):
        if glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not found:
                raise InputError(f"config key '{key}': no file matches {pattern}")
            files += found
        else:
            files.append(pattern)
    for path in files:
        if not path.endswith(".parquet"):
            raise InputError(f"config key '{key}': {path} is not a .parquet file")
    return files


def _web_pages(value, key: str) -> list[str]:
    from .workflow import web_input_files

    return web_input_files(_as_list(value, key), key)


# kind -> (config value, config key) -> the files behind it.
INPUT_KINDS = {
    "file": _one_file,
    "files": _files,
    "openstax_books": _openstax_books,
    "web_pages": _web_pages,
    "parquet_files": _parquet_files,
}


def input_files(config: dict, source: Source) -> dict[str, list[str]]:
    """config key name -> the files behind it, for every input key of `source`."""
    spec = source_spec(config, source)
    found = {}
    for name, kind in source.inputs.items():
        key = f"sources.{source.section}.{name}"
        if name not in spec:
            raise InputError(f"config key '{key}' is required")
        try:
            expand = INPUT_KINDS[kind]
        except KeyError:
            raise InputError(f"schema: {key}: unknown input kind '{kind}' (known: {', '.join(INPUT_KINDS)})") from None
        found[name] = expand(spec[name], key)
    return found
