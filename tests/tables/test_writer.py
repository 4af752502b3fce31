"""Atomic outputs that follow the umask, and the one table writer that stamps provenance."""

import os
import stat

import polars as pl
import pytest

import synthpedia
from synthpedia.io import write_csv, write_json, write_parquet
from synthpedia.tables import TABLES, write_table


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("writer, name", [(write_parquet, "t.parquet"), (write_csv, "t.csv")])
def test_outputs_follow_the_umask(tmp_path, umask_022, writer, name):
    writer(pl.DataFrame({"a": [1]}), tmp_path / name)
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_json_outputs_follow_a_group_writable_umask(tmp_path):
    old = os.umask(0o002)
    try:
        write_json({"a": 1}, tmp_path / "t.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o664


def test_write_table_stamps_config_hash_and_version_in_both_formats(tmp_path):
    frame = pl.DataFrame({"source": ["wikihow"], "documents_in": [3], "removed": [1], "kept": [2]})
    write_table(frame, "dedup", "abc123", tmp_path / "dedup.csv", tmp_path / "dedup.parquet")
    for table in (pl.read_csv(tmp_path / "dedup.csv"), pl.read_parquet(tmp_path / "dedup.parquet")):
        assert table.columns == [*TABLES["dedup"], "config_hash", "version"]
        assert table.row(0, named=True) == {
            "source": "wikihow", "documents_in": 3, "removed": 1, "kept": 2,
            "config_hash": "abc123", "version": synthpedia.__version__,
        }


def test_write_table_names_missing_and_unknown_columns(tmp_path):
    frame = pl.DataFrame({"source": ["wikihow"], "documents": [3]})
    with pytest.raises(ValueError, match=r"table dedup: missing columns \['documents_in', 'removed', 'kept'\], "
                                         r"unknown columns \['documents'\]"):
        write_table(frame, "dedup", "abc123", tmp_path / "dedup.csv")
    assert not (tmp_path / "dedup.csv").exists()
