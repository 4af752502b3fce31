"""A config whose only source is Cosmopedia's published files: the chain after generation runs on
them, and the DAG holds no seeds, prompts or generation job."""

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import copy_workflow, jobs_planned, snakemake
from generate_import.test_imported import cosmopedia_rows, web_documents, write_cosmopedia

# A real ARC-Easy item of the bundled sample, planted in one document: decontamination must drop it.
ARC_ITEM = ("A gardener notices that the tomato plants growing along the shady side of the fence stay small. "
            "Which factor most likely limits their growth?")

TARGETS = ["results/tables/contamination.csv", "results/tables/dedup.csv", "results/tokens/cosmopedia/stats.json",
           "results/tables/prompt_mix.csv"]


def imported_config(files: list[str]) -> dict:
    """A complete preset (config.yaml is not read): Cosmopedia files, two bundled benchmarks, no training."""
    return {
        "preset": {"name": "cosmopedia-files"},
        "offline": True,
        "sources": {"cosmopedia": {"files": files, "batch_rows": 4}},
        "benchmarks": {
            "arc_easy": {"format": "arc", "path": "resources/benchmarks/arc_easy/ARC-Easy-Sample.jsonl"},
            "boolq": {"format": "boolq", "path": "resources/benchmarks/boolq/dev.jsonl"},
        },
        # The contamination table's rows: the published data as one group.
        "decontamination": {"groups": {"cosmopedia": ["cosmopedia"]}},
        "tokenizer": {"vocab_size": 1024},
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, request):
    shared = Path(request.config.rootpath).parent / "shared" / "data"
    if not shared.is_dir():
        pytest.skip("../shared/data is absent")
    texts = web_documents(shared)
    copy = copy_workflow(tmp_path_factory.mktemp("workflow"))
    first, second = texts[:10], texts[10:]
    contaminated = first[3] + "\n\nQuiz: " + ARC_ITEM + " Think about the amount of sunlight."
    first = first[:3] + [contaminated] + first[4:]
    second = second + [first[0].replace(".", ";", 2)]  # a near-copy of a document of the other file
    write_cosmopedia(copy / "data" / "web_samples_v2" / "train-00000-of-00002.parquet", cosmopedia_rows(first))
    write_cosmopedia(copy / "data" / "web_samples_v2" / "train-00001-of-00002.parquet", cosmopedia_rows(second))
    config = imported_config(["data/web_samples_v2/train-*.parquet"])
    (copy / "imported.yaml").write_text(yaml.safe_dump(config))
    # The same with a training run evaluated on one benchmark: the whole chain after generation.
    config["train"] = {"mixture": {"cosmopedia": 1.0},
                       "runs": {"tiny": {"params": {"steps": 12, "warmup_steps": 2, "seq_len": 128}}}}
    config["evaluation"] = {"tasks": ["arc_easy"], "max_samples": 12}
    (copy / "trained.yaml").write_text(yaml.safe_dump(config))
    return copy


def test_the_dag_has_no_generation_job(workdir):
    counts = jobs_planned(snakemake("-n", "--configfile", "imported.yaml", "--", *TARGETS, cwd=workdir).stdout)
    assert counts["import_generations"] == 2  # one job per published file
    assert counts["decontaminate"] == 2 and counts["tokenize"] >= 1
    for rule in counts:
        assert rule not in ("seeds", "generate", "prompt_shard", "generation_table") and not rule.startswith("prompts_")
    # The default target with a training run: every stage after generation, none before it.
    everything = jobs_planned(snakemake("-n", "--configfile", "trained.yaml", cwd=workdir).stdout)
    for rule in ("import_generations", "decontaminate", "dedup", "tokenize", "train", "evaluate", "eval_table"):
        assert everything.get(rule, 0) >= 1, (rule, everything)
    assert not {"seeds", "generate", "prompt_shard", "plan"} & set(everything)


def test_decontamination_dedup_and_tokens_run_on_the_published_files(workdir):
    snakemake("--cores", "2", "--configfile", "imported.yaml", "--", *TARGETS, cwd=workdir)
    results = workdir / "results"
    shards = [pl.read_parquet(results / "generations" / "cosmopedia" / f"00{i}.parquet") for i in (0, 1)]
    assert [s.height for s in shards] == [10, 11]
    clean = pl.concat([pl.read_parquet(results / "clean" / "cosmopedia" / f"00{i}.parquet") for i in (0, 1)])
    assert not clean["text"].str.contains("tomato plants growing along the shady side").any()
    assert clean.height == 20  # the contaminated document alone was dropped
    contamination = pl.read_csv(results / "tables" / "contamination.csv")
    assert contamination.filter(pl.col("benchmark") == "arc_easy")[["group", "samples_removed"]].rows() == [
        ("cosmopedia", 1)]
    dedup = pl.read_csv(results / "tables" / "dedup.csv")
    row = dedup.filter(pl.col("source") == "cosmopedia")
    assert row["documents_in"].to_list() == [20] and row["removed"].to_list() == [1]
    stats = json.loads((results / "tokens" / "cosmopedia" / "stats.json").read_text())
    assert stats["documents"] == 19 and stats["tokens"] > 0
    mix = pl.read_csv(results / "tables" / "prompt_mix.csv")
    assert set(mix["source"]) == {"cosmopedia"} and mix["prompts"].sum() == 21
    assert set(mix["style"]) == {"textbook_academic_tone", "blogpost", "wikihow", "story_reddit"}
    # Nothing is left to do on a second run.
    assert "Nothing to be done" in snakemake("-n", "--configfile", "imported.yaml", "--", *TARGETS, cwd=workdir).stdout


def test_training_and_evaluation_run_on_the_published_files(workdir):
    # The model half of the paper from published files alone: train, evaluate, and each score
    # beside what decontamination removed from that benchmark.
    proc = snakemake("--cores", "2", "--configfile", "trained.yaml", "--", "results/tables/eval.csv", cwd=workdir)
    ran = proc.stdout + proc.stderr
    assert "rule generate" not in ran and "rule seeds" not in ran
    evals = pl.read_csv(workdir / "results" / "tables" / "eval.csv")
    arc = evals.filter(pl.col("task") == "arc_easy")
    assert arc.height >= 1 and arc["value"].is_between(0, 1).all()
    assert set(arc["samples_removed"]) == {1} and set(arc["unique_benchmark_items"]) == {1}
    assert (workdir / "results" / "checkpoints" / "tiny" / "config.json").exists()
