"""Cosmopedia's published parquet files read as generation shards (synthpedia.generate.imported)."""

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT

from synthpedia.config import validate_config
from synthpedia.errors import InputError
from synthpedia.generate.imported import COSMOPEDIA_COLUMNS, import_cosmopedia, import_job
from synthpedia.tables import GENERATION_COLUMNS
from synthpedia.workflow import imported_sources, prompt_sources, shard_names

FORMATS = ["textbook_academic_tone", "blogpost", "wikihow", "story_reddit"]
AUDIENCES = ["college_students", "general", "young_children", "high_school_studnets"]  # sic, as published


def web_documents(shared_data: Path) -> list[str]:
    """The texts of the real Common Crawl documents in ../shared/data/web_cc_text_sample."""
    texts = []
    for path in sorted((shared_data / "web_cc_text_sample").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    return texts


def cosmopedia_rows(texts: list[str], seed_data: str = "web_samples_v2") -> dict[str, list]:
    """Rows in Cosmopedia's published columns, one per text."""
    return {
        "text": texts,
        "prompt": [f"Here is an extract from a webpage: \"{t[:300]}\".\n\nWrite an extensive and detailed course unit "
                   f"suitable for a textbook targeted at college students, related to the given extract."
                   for t in texts],
        "format": [FORMATS[i % len(FORMATS)] for i in range(len(texts))],
        "audience": [AUDIENCES[i % len(AUDIENCES)] for i in range(len(texts))],
        "seed_data": [seed_data] * len(texts),
        "text_token_length": [len(t.split()) * 4 // 3 for t in texts],
    }


def write_cosmopedia(path: Path, rows: dict[str, list], **types) -> Path:
    """A parquet file as the published ones are: string columns, int64 text_token_length."""
    schema = {c: pa.string() for c in rows} | {"text_token_length": pa.int64()} | types
    table = pa.table({c: pa.array(v, type=schema[c]) for c, v in rows.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


@pytest.fixture
def texts(shared_data):
    return web_documents(shared_data)


def test_a_published_file_becomes_a_generation_shard(texts, tmp_path):
    rows = cosmopedia_rows(texts)
    src = write_cosmopedia(tmp_path / "web_samples_v2" / "train-00000-of-00002.parquet", rows)
    out = tmp_path / "results" / "generations" / "cosmopedia" / "000.parquet"
    counts = import_cosmopedia(str(src), str(out), source="cosmopedia", model="mixtral", batch_rows=3)
    shard = pl.read_parquet(out)
    assert tuple(shard.columns) == GENERATION_COLUMNS and shard.height == len(texts) == counts["rows"]
    assert shard["text"].to_list() == texts and shard["completion"].to_list() == texts
    assert shard["style"].to_list() == rows["format"] and shard["audience"].to_list() == rows["audience"]
    assert shard["prompt"].to_list() == rows["prompt"] and set(shard["seed_id"]) == {"web_samples_v2"}
    assert shard["completion_tokens"].to_list() == rows["text_token_length"]
    assert counts["completion_tokens"] == sum(rows["text_token_length"])
    assert set(shard["source"]) == {"cosmopedia"} and set(shard["backend"]) == {"imported"}
    assert set(shard["model"]) == {"mixtral"} and shard["gen_seed"].null_count() == shard.height
    assert shard["prompt_id"].n_unique() == shard.height
    # Read in any batch size, the shard holds the same rows; a row keeps its id wherever it comes.
    again = tmp_path / "again.parquet"
    import_cosmopedia(str(src), str(again), source="cosmopedia", model="mixtral", batch_rows=1000)
    assert pl.read_parquet(again).equals(shard)
    reversed_rows = {c: v[::-1] for c, v in rows.items()}
    other = write_cosmopedia(tmp_path / "reversed.parquet", reversed_rows)
    import_cosmopedia(str(other), str(tmp_path / "r.parquet"), source="cosmopedia", model="mixtral", batch_rows=4)
    ids = dict(zip(pl.read_parquet(tmp_path / "r.parquet")["text"], pl.read_parquet(tmp_path / "r.parquet")["prompt_id"]))
    assert [ids[t] for t in texts] == shard["prompt_id"].to_list()


def test_extra_columns_are_ignored_and_an_empty_file_gives_an_empty_shard(texts, tmp_path):
    rows = cosmopedia_rows(texts[:2]) | {"url": ["https://example.org/a", "https://example.org/b"]}
    src = write_cosmopedia(tmp_path / "extra.parquet", rows)
    import_cosmopedia(str(src), str(tmp_path / "extra-out.parquet"), source="cosmopedia", model="m", batch_rows=10)
    assert tuple(pl.read_parquet(tmp_path / "extra-out.parquet").columns) == GENERATION_COLUMNS
    empty = write_cosmopedia(tmp_path / "empty.parquet", {c: [] for c in COSMOPEDIA_COLUMNS})
    import_cosmopedia(str(empty), str(tmp_path / "empty-out.parquet"), source="cosmopedia", model="m", batch_rows=10)
    shard = pl.read_parquet(tmp_path / "empty-out.parquet")
    assert shard.height == 0 and tuple(shard.columns) == GENERATION_COLUMNS


def no_output_left(folder: Path) -> bool:
    return not any(p.name.startswith("out") or p.name.startswith(".out") for p in folder.iterdir())


@pytest.mark.parametrize("column", sorted(COSMOPEDIA_COLUMNS))
def test_a_missing_column_is_named_with_the_file_and_nothing_is_written(column, texts, tmp_path):
    rows = {c: v for c, v in cosmopedia_rows(texts[:3]).items() if c != column}
    src = write_cosmopedia(tmp_path / "bad.parquet", rows)
    with pytest.raises(InputError, match=rf"bad\.parquet: no column '{column}'"):
        import_cosmopedia(str(src), str(tmp_path / "out.parquet"), source="cosmopedia", model="m", batch_rows=2)
    assert no_output_left(tmp_path)


@pytest.mark.parametrize(("column", "arrow_type", "found", "convert"), [
    ("text_token_length", pa.string(), "string", str), ("text_token_length", pa.float64(), "double", float),
    ("format", pa.int64(), "integer", len), ("text", pa.binary(), "binary", str.encode),
])
def test_a_column_of_another_type_is_named_and_nothing_is_written(column, arrow_type, found, convert, texts, tmp_path):
    rows = cosmopedia_rows(texts[:3])
    rows[column] = [convert(v) for v in rows[column]]
    src = write_cosmopedia(tmp_path / "typed.parquet", rows, **{column: arrow_type})
    with pytest.raises(InputError, match=rf"typed\.parquet: column '{column}' holds {found} values; expected"):
        import_cosmopedia(str(src), str(tmp_path / "out.parquet"), source="cosmopedia", model="m", batch_rows=2)
    assert no_output_left(tmp_path)


def test_a_null_value_names_its_row_and_leaves_no_partial_shard(texts, tmp_path):
    rows = cosmopedia_rows(texts[:7])
    rows["text"][5] = None
    src = write_cosmopedia(tmp_path / "nulls.parquet", rows)
    # Two batches are written before the third holds the null: the shard still never appears.
    with pytest.raises(InputError, match=r"nulls\.parquet: row 5: column 'text' is null"):
        import_cosmopedia(str(src), str(tmp_path / "out.parquet"), source="cosmopedia", model="m", batch_rows=2)
    assert no_output_left(tmp_path)


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    bad = tmp_path / "notes.parquet"
    bad.write_text("not a parquet file")
    with pytest.raises(InputError, match=r"notes\.parquet: not a readable parquet file"):
        import_job(schema="cosmopedia", input_path=str(bad), output_path=str(tmp_path / "out.parquet"),
                   source="cosmopedia", spec={"model": "m", "batch_rows": 10})
    assert no_output_left(tmp_path)


def cosmopedia_config(files) -> dict:
    with open(ROOT / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    config["sources"] = {"cosmopedia": {"files": files}}
    config["benchmarks"] = {}  # the bundled files are not beside this config
    config["evaluation"]["per_task"] = {}  # settings of benchmarks it no longer has
    config["decontamination"].pop("groups", None)
    return config


def test_one_shard_per_file_and_no_prompts(texts, tmp_path, monkeypatch):
    for i in range(3):
        write_cosmopedia(tmp_path / "data" / f"train-{i:05d}-of-00003.parquet", cosmopedia_rows(texts[i::3]))
    monkeypatch.chdir(tmp_path)  # globs are expanded where Snakemake runs
    config = validate_config(cosmopedia_config(["data/train-*.parquet"]), base_dir=tmp_path)
    assert config["sources"]["cosmopedia"]["batch_rows"] == 20000
    assert shard_names(config, "cosmopedia") == ["000", "001", "002"]
    assert imported_sources(config) == ["cosmopedia"] and prompt_sources(config) == []
    with pytest.raises(InputError, match=r"sources\.cosmopedia\.files': no file matches data/test-\*\.parquet"):
        validate_config(cosmopedia_config(["data/test-*.parquet"]), base_dir=tmp_path)
    (tmp_path / "data" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"sources\.cosmopedia\.files': data/notes\.txt is not a \.parquet file"):
        validate_config(cosmopedia_config(["data/notes.txt"]), base_dir=tmp_path)
    with pytest.raises(InputError, match=r"sources\.cosmopedia\.files': file not found: data/gone\.parquet"):
        validate_config(cosmopedia_config(["data/gone.parquet"]), base_dir=tmp_path)
    # The shard count is the file count: a `shards` key is refused, naming the source's keys.
    config = cosmopedia_config(["data/train-00000-of-00003.parquet"])
    config["sources"]["cosmopedia"]["shards"] = 2
    with pytest.raises(InputError, match=r"'sources\.cosmopedia': .*'shards' was unexpected.*batch_rows, files, model"):
        validate_config(config, base_dir=tmp_path)
