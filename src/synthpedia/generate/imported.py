"""Generations made elsewhere, read as generation shards: Cosmopedia's published parquet files.

HuggingFaceTB/cosmopedia publishes each subset as parquet files with the columns `text` (the
generated document), `prompt`, `format` (the style), `audience`, `seed_data` (the seed source the
prompt was built from) and `text_token_length` (the document's length in Mixtral tokens). A
source with `imports: cosmopedia` in its registry record (config section `sources.cosmopedia`)
turns each such file into one generation shard (GENERATION_COLUMNS), so the stages after
generation run on the published data unchanged and the DAG has no seeds, prompts or generation
jobs for it. That is how cosmo-1b was trained: on the published files.

The mapping, column by column:
- `prompt_id`: stable hash of the source, the prompt and the text (the same row always gets the
  same id, whichever file or position it comes in); `request_key`: stable hash of the model and
  the prompt (what the ledger would have keyed the request by, less the unknown sampling seed).
- `style` = format, `audience` = audience, `prompt` = prompt, `seed_id` = seed_data (the only
  seed provenance the published rows carry), `template` = "" (the prompt came rendered),
  `variant` = "published".
- `completion` = `text` = text (the published text was already cleaned), `completion_tokens` =
  text_token_length; `model` from the config, `backend` = "imported", `sampling` = "{}" and the
  columns the published data does not record (`gen_seed`, `prompt_tokens`, `finish_reason`,
  `seconds`) null.

The file is read in batches of `batch_rows` rows and written batch by batch, so a job holds one
batch whatever the file's size. A file that lacks a column or holds one of another type is an
InputError naming the file and the column, before anything is written; a null value is one
naming the row too. The shard appears whole or not at all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import InputError
from ..ids import stable_hash
from ..io import atomic_path
from ..tables import GENERATION_COLUMNS, GENERATION_INT_COLUMNS

log = logging.getLogger(__name__)

# Cosmopedia's published columns -> the kind of values each must hold.
COSMOPEDIA_COLUMNS = {
    "text": "string",
    "prompt": "string",
    "format": "string",
    "audience": "string",
    "seed_data": "string",
    "text_token_length": "integer",
}

BACKEND = "imported"  # the `backend` column of imported rows
VARIANT = "published"  # the `variant` column of imported rows


def _kind(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "integer"
    return str(arrow_type)


def check_cosmopedia_file(path: str, schema) -> None:
    """Raise InputError naming `path` and the column when the file's arrow `schema` lacks one of
    COSMOPEDIA_COLUMNS or holds one of another kind (strings; integers for text_token_length)."""
    for column, kind in COSMOPEDIA_COLUMNS.items():
        index = schema.get_field_index(column)
        if index < 0:
            raise InputError(f"{path}: no column '{column}' (Cosmopedia's columns: {', '.join(COSMOPEDIA_COLUMNS)})")
        found = _kind(schema.field(index).type)
        if found != kind:
            raise InputError(f"{path}: column '{column}' holds {found} values; expected {kind}")


def _generation_batch(batch, *, source: str, model: str, path: str, first_row: int):
    """One record batch of a Cosmopedia file as a frame of GENERATION_COLUMNS."""
    import polars as pl

    frame = pl.from_arrow(batch)
    for column in COSMOPEDIA_COLUMNS:
        nulls = frame[column].is_null()
        if nulls.any():
            row = first_row + int(nulls.arg_max())
            raise InputError(f"{path}: row {row}: column '{column}' is null")
    prompt_ids = [stable_hash(source, prompt, text) for prompt, text in zip(frame["prompt"], frame["text"])]
    request_keys = [stable_hash(model, prompt, length=32) for prompt in frame["prompt"]]
    out = frame.select(
        pl.Series("prompt_id", prompt_ids, dtype=pl.String),
        pl.lit(source).alias("source"),
        pl.col("seed_data").alias("seed_id"),
        pl.lit("").alias("template"),
        pl.col("format").alias("style"),
        pl.col("audience"),
        pl.lit(VARIANT).alias("variant"),
        pl.col("prompt"),
        pl.Series("request_key", request_keys, dtype=pl.String),
        pl.lit(model).alias("model"),
        pl.lit(BACKEND).alias("backend"),
        pl.lit(json.dumps({})).alias("sampling"),
        pl.lit(None, dtype=pl.Int64).alias("gen_seed"),
        pl.col("text").alias("completion"),
        pl.col("text"),
        pl.lit(None, dtype=pl.Int64).alias("prompt_tokens"),
        pl.col("text_token_length").cast(pl.Int64).alias("completion_tokens"),
        pl.lit(None, dtype=pl.String).alias("finish_reason"),
        pl.lit(None, dtype=pl.Float64).alias("seconds"),
    )
    assert tuple(out.columns) == GENERATION_COLUMNS
    return out.with_columns(pl.col(c).cast(pl.Int64) for c in GENERATION_INT_COLUMNS)


def import_cosmopedia(path: str, out_path: str, *, source: str, model: str, batch_rows: int) -> dict:
    """Write the Cosmopedia parquet file `path` as the generation shard `out_path` (atomically).

    `source`: the source name recorded in every row; `model`: recorded in the model column;
    `batch_rows`: rows held at a time. Returns counts (rows, completion tokens). Raises InputError
    naming the file and column for a missing or mistyped column, or a null value.
    """
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable parquet file ({err})") from err
    check_cosmopedia_file(path, reader.schema_arrow)
    rows = tokens = 0
    with atomic_path(out_path) as tmp:
        writer = None
        try:
            for batch in reader.iter_batches(batch_size=batch_rows, columns=list(COSMOPEDIA_COLUMNS)):
                frame = _generation_batch(batch, source=source, model=model, path=path, first_row=rows)
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", write_statistics=False)
                writer.write_table(table)
                rows += frame.height
                tokens += int(frame["completion_tokens"].sum())
            if writer is None:  # a file with no rows: an empty shard with the columns
                writer = pq.ParquetWriter(tmp, _generation_batch(reader.schema_arrow.empty_table(), source=source,
                                                                 model=model, path=path, first_row=0).to_arrow().schema,
                                          compression="zstd", write_statistics=False)
        finally:
            if writer is not None:
                writer.close()
    log.info("%s: %d rows, %d completion tokens -> %s", path, rows, tokens, out_path)
    return {"rows": rows, "completion_tokens": tokens}


IMPORTERS = {"cosmopedia": import_cosmopedia}


def import_job(*, schema: str, input_path: str, output_path: str, source: str, spec: dict) -> dict:
    """Rule import_generations: one published file in, one generation shard out.

    `schema`: the registry record's `imports` (the published schema); `spec`: the source's
    config section (`model`, `batch_rows`).
    """
    importer = IMPORTERS.get(schema)
    if importer is None:
        raise InputError(f"schema: sources.{source}: unknown imports '{schema}' (known: {', '.join(IMPORTERS)})")
    if not Path(input_path).is_file():
        raise InputError(f"config key 'sources.{source}.files': file not found: {input_path}")
    return importer(input_path, output_path, source=source, model=spec["model"], batch_rows=spec["batch_rows"])
