"""The dataset export: one `datasets` config per source, Cosmopedia's column names, and a dataset card.

`datasets.load_dataset("results/dataset", "<source>")` loads it as it
is, offline (and `load_dataset("results/dataset")` every source, config `all`): the card's YAML `configs:` names each source's parquet files. The
columns are Cosmopedia's where it has one (`text`, `prompt`, `seed_data` = the
seed source, `format` = the style, `audience`, `text_token_length` = the
model's completion tokens), then our ids, so any row traces back to its
request (`request_key`, the ledger key), prompt (`prompt_id`), template and
seed (`seed_id`).

The export lives beside the dedup stage's `results/curated/{source}/{shard}.parquet`
(the pipeline's own shards, read by tokenisation), not in it: a folder that one
rule owns shard by shard cannot also be another rule's output.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Sequence

import polars as pl

from . import __version__
from .ids import stable_hash
from .io import atomic_path, write_parquet
from .report.html import table_html, write_page
from .report.plots import contamination_wide

ALL = "all"  # the config holding every source

# Cosmopedia's name <- our column, then our ids.
EXPORT_COLUMNS = {
    "text": "text",
    "prompt": "prompt",
    "seed_data": "source",
    "format": "style",
    "audience": "audience",
    "text_token_length": "completion_tokens",
    "prompt_id": "prompt_id",
    "seed_id": "seed_id",
    "request_key": "request_key",
    "template": "template",
    "source": "source",
}


def export_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """A dataset shard's rows in the export's columns and order."""
    return rows.select([pl.col(ours).alias(name) for name, ours in EXPORT_COLUMNS.items()])


def export_shards(
    shards: Sequence[str], out_dir: str | os.PathLike, seed: int = 0, shown: int = 0
) -> tuple[dict[str, int], pl.DataFrame]:
    """Write the dataset shards results/curated/<source>/<shard>.parquet as data/<source>/<shard>.parquet
    under `out_dir`, one shard in memory at a time.

    Returns source -> rows, and the `shown` rows of smallest seeded rank over all
    shards (for the report's provenance page; the same rows however the shards split).
    """
    counts: dict[str, int] = {}
    sample = pl.DataFrame()
    for path in shards:
        source = Path(path).parent.name
        frame = export_frame(pl.read_parquet(path))
        counts[source] = counts.get(source, 0) + frame.height
        if not frame.height:
            continue  # `datasets` refuses a split of empty files: a source with no rows is no config
        write_parquet(frame, Path(out_dir) / "data" / source / Path(path).name)
        if shown and frame.height:
            ranked = frame.with_columns(
                pl.col("prompt_id").map_elements(lambda p: stable_hash(seed, "dataset_rows", p),
                                                 return_dtype=pl.String).alias("rank")
            )
            sample = pl.concat([sample, ranked], how="diagonal") if sample.width else ranked
            sample = sample.sort("rank", "prompt_id").head(shown)
    return counts, sample.drop("rank") if sample.width else sample


def _size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for bound, label in bounds if rows < bound), "100M<n<1B")


def _markdown_table(df: pl.DataFrame) -> str:
    if not df.width:
        return "(none)\n"
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * df.width + "\n"
    body = "".join(
        "| " + " | ".join("" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v)) for v in row) + " |\n"
        for row in df.iter_rows()
    )
    return head + body


def card_text(
    *,
    counts: dict[str, int],
    licences: dict[str, str],
    licence: str,
    name: str,
    generation: dict,
    dedup: pl.DataFrame,
    contamination: pl.DataFrame,
    diversity: pl.DataFrame,
    config_hash: str,
    command: str,
) -> str:
    """The dataset card: YAML metadata (configs, licence, size) and the body a reader of the card needs."""
    from huggingface_hub import DatasetCardData

    sources = sorted(counts)
    data = DatasetCardData(
        pretty_name=name,
        language=["en"],
        license=licence,
        task_categories=["text-generation"],
        size_categories=[_size_category(sum(counts.values()))],
        tags=["synthetic", "cosmopedia"],
        # One config per source, and `all` (the default, so load_dataset(path) loads every source).
        configs=[{"config_name": ALL, "data_files": [{"split": "train", "path": "data/*/*.parquet"}], "default": True}]
        + [{"config_name": s, "data_files": [{"split": "train", "path": f"data/{s}/*.parquet"}]}
           for s in sources if counts[s]],
        synthpedia={"config_hash": config_hash, "version": __version__, "rows": {s: counts[s] for s in sources}},
    )
    sources_table = pl.DataFrame(
        {"config (source)": sources, "rows": [counts[s] for s in sources],
         "seed licence": [licences.get(s, licence) for s in sources]}
    )
    kept = dedup.select("source", "documents_in", "removed", "kept") if dedup.height else dedup
    total_in = int(dedup["documents_in"].sum()) if dedup.height else 0
    total_removed = int(dedup["removed"].sum()) if dedup.height else 0
    dedup_rate = total_removed / total_in if total_in else 0.0
    summary = diversity.select(
        "source", "style", "audience", "documents", "top20_opening_share", "distinct_2", "near_duplicate_rate",
        "words_mean",
    ) if diversity.height else diversity
    sampling = json.dumps(generation.get("sampling", {}), sort_keys=True)
    body = f"""
# {name}

Synthetic textbooks, stories, blog posts and how-to articles in the manner of
Cosmopedia, made by Synthpedia {__version__} from the config with hash
`{config_hash}`. Each source is a config, `load_dataset(path, "<source>")`;
`load_dataset(path)` loads all of them (config `{ALL}`).

## Sources and licences

{_markdown_table(sources_table)}
## Columns

`text` (the completion with stock openers removed), `prompt`, `seed_data` (the
seed source), `format` (the style), `audience`, `text_token_length` (the
model's completion tokens), and the ids that trace every row: `prompt_id`,
`seed_id`, `request_key` (the request ledger's key: prompt, model, sampling,
seed), `template`, `source`.

## Model and sampling

Model `{generation.get("model")}` through the `{generation.get("backend")}`
backend; sampling `{sampling}`; generation seed {generation.get("seed", "from the config")}.

## Decontamination

Generations removed per source group and benchmark, "removed (unique
benchmark items)":

{_markdown_table(contamination_wide(contamination))}
## Deduplication

MinHash near-duplicates removed: {total_removed} of {total_in} documents
({dedup_rate:.2%}).

{_markdown_table(kept)}
## Diversity

Per source, style and audience: the share of texts that open with one of the
group's 20 most common first-five-word openings, distinct-2, the embedding
near-duplicate rate on a seeded sample, and the mean length in words.

{_markdown_table(summary)}
## How to rebuild

Config hash `{config_hash}`, Synthpedia {__version__}:

```bash
{command}
```
"""
    return f"---\n{data.to_yaml()}\n---\n{body}"


def dataset_export_job(
    *,
    shards: Sequence[str],
    dedup: str,
    contamination: str,
    diversity: str,
    out_dir: str,
    out_page: str,
    settings: dict,
    generation: dict,
    seed: int,
    config_hash: str,
    command: str,
) -> None:
    """The dataset_export rule: dataset shards + report tables -> `out_dir` with data/ and README.md.

    `shards`: results/curated/<source>/<shard>.parquet (the folder names the source and config).

    `out_page`: the report's page of the card and a seeded sample of rows with their provenance.
    `settings`: the config's `report.dataset` (name, licence, source_licences, rows_shown);
    `generation`: the config's `generation` (model, backend, sampling).
    """
    # A directory output: Snakemake removes it before the job and after a failure.
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    counts, shown = export_shards(shards, out_dir, seed, settings["rows_shown"])
    card = card_text(
        counts=counts,
        licences=settings["source_licences"],
        licence=settings["license"],
        name=settings["name"],
        generation={**generation, "seed": seed},
        dedup=pl.read_csv(dedup),
        contamination=pl.read_csv(contamination),
        diversity=pl.read_csv(diversity),
        config_hash=config_hash,
        command=command,
    )
    with atomic_path(Path(out_dir) / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")
    rows = (table_html(shown, ["source", "format", "audience", "prompt_id", "seed_id", "template", "request_key",
                               "prompt", "text"]) if shown.height else "<p>The dataset has no rows.</p>")
    note = (f"The dataset card of {out_dir} (config {config_hash}), then a seeded sample of its rows, each traced "
            "to its seed, template, prompt and request. Every row of the export carries the same columns.")
    write_page(out_page, "Dataset", [("Rows and their provenance", rows),
                                     ("Dataset card (README.md)", f"<pre>{html.escape(card)}</pre>")], note)
