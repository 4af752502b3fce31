"""The dataset export: every source config loads offline with `datasets`, the card parses with
huggingface_hub, and its counts are the dedup table's kept counts."""

import os

import polars as pl
import pytest

from synthpedia.dataset import EXPORT_COLUMNS, dataset_export_job
from synthpedia.tables import GENERATION_COLUMNS, write_table

HASH = "abc123def456"
KEPT = {"openstax": {"000": 3, "001": 2}, "wikihow": {"000": 4}, "ultrachat": {"000": 0}}
CONFIGS = ["openstax", "wikihow"]  # a source with no rows is no config


def shard(source: str, n: int, offset: int) -> pl.DataFrame:
    rows = []
    for i in range(n):
        row = {c: f"{c}-{source}-{offset + i}" for c in GENERATION_COLUMNS}
        row.update(source=source, style="textbook", audience="college", gen_seed=42, prompt_tokens=30,
                   completion_tokens=100 + i, seconds=1.5, text=f"A text about {source} number {offset + i}.")
        rows.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={c: pl.String for c in GENERATION_COLUMNS})


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    paths = []
    for source, shards in KEPT.items():
        for name, n in shards.items():
            path = root / "results" / "curated" / source / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            shard(source, n, 10 * int(name)).write_parquet(path)
            paths.append(str(path))
    tables = root / "tables"
    dedup = pl.DataFrame({"source": list(KEPT), "documents_in": [6, 4, 0], "removed": [1, 0, 0],
                          "kept": [sum(s.values()) for s in KEPT.values()]})
    write_table(dedup, "dedup", HASH, tables / "dedup.csv")
    contamination = pl.DataFrame({"group": ["textbooks", "textbooks"], "benchmark": ["arc", "piqa"],
                                  "samples_removed": [2, 0], "unique_benchmark_items": [1, 0]})
    write_table(contamination, "contamination", HASH, tables / "contamination.csv")
    diversity = pl.DataFrame({"source": ["openstax"], "style": ["textbook"], "audience": ["college"], "documents": [5],
                              "top20_opening_share": [1.0], "top_openings": ['[["a text about openstax", 5]]'],
                              "distinct_1": [0.5], "distinct_2": [0.6], "distinct_3": [0.7], "words_mean": [5.0],
                              "words_p50": [5.0], "words_p90": [5.0], "tokens_mean": [101.0], "tokens_p50": [101.0],
                              "tokens_p90": [102.0], "near_duplicate_sample": [5], "near_duplicates": [0],
                              "near_duplicate_rate": [0.0]})
    write_table(diversity, "diversity", HASH, tables / "diversity.csv")
    out = root / "results" / "dataset"
    dataset_export_job(
        shards=paths, dedup=str(tables / "dedup.csv"), contamination=str(tables / "contamination.csv"),
        diversity=str(tables / "diversity.csv"), out_dir=str(out), out_page=str(root / "dataset.html"),
        settings={"name": "Synthpedia", "license": "apache-2.0", "source_licences": {"openstax": "cc-by-4.0"},
                  "rows_shown": 4},
        generation={"backend": "llamacpp", "model": "SmolLM2-135M-Instruct-Q4_1",
                    "sampling": {"temperature": 0.6, "top_p": 0.95}},
        seed=42, config_hash=HASH, command="snakemake --profile profiles/default",
    )
    return out, tables


def test_every_source_config_loads_offline_with_cosmopedia_columns(export, monkeypatch):
    import datasets

    out, tables = export
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"
    dedup = pl.read_csv(tables / "dedup.csv")
    assert sorted(datasets.get_dataset_config_names(str(out))) == ["all", *CONFIGS]
    everything = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / "hf_cache"))
    assert len(everything) == dedup["kept"].sum()
    for source in CONFIGS:
        data = datasets.load_dataset(str(out), source, split="train", cache_dir=str(out.parent / "hf_cache"))
        assert data.column_names == list(EXPORT_COLUMNS)
        assert len(data) == dedup.filter(pl.col("source") == source)["kept"].item()
        assert set(data["seed_data"]) == {source}
        assert set(data["format"]) == {"textbook"}
        assert data[0]["text"].startswith(f"A text about {source}")
        assert data[0]["request_key"].startswith(f"request_key-{source}-")


def test_card_parses_and_states_what_a_user_needs(export):
    from huggingface_hub import DatasetCard

    out, tables = export
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert [c["config_name"] for c in data["configs"]] == ["all", *CONFIGS]
    dedup = pl.read_csv(tables / "dedup.csv")
    assert data["synthpedia"]["rows"] == dict(dedup.select("source", "kept").iter_rows())
    assert data["synthpedia"]["config_hash"] == HASH
    text = card.text
    assert "| openstax | 5 | cc-by-4.0 |" in text and "| wikihow | 4 | apache-2.0 |" in text
    assert "| ultrachat | 0 | apache-2.0 |" in text
    assert "| textbooks | 2 (1) | 0 (0) |" in text  # the blog's shape: removed (unique items)
    assert "1 of 10 documents" in text  # the dedup rate
    assert "SmolLM2-135M-Instruct-Q4_1" in text and '"temperature": 0.6' in text
    assert "snakemake --profile profiles/default" in text and HASH in text


def test_report_page_traces_sampled_rows(export):
    out, _ = export
    page = (out.parent.parent / "dataset.html").read_text()
    assert page.count("request_key-") == 4  # rows_shown rows, each with its request key
    assert "seed_id-" in page and "template-" in page and "Dataset card" in page
