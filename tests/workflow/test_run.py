"""Workflow tests: lint, format, dry runs, and a real run of the whole chain at its smallest size."""

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import ROOT, copy_workflow, jobs_planned, snakemake

BIN = Path(sys.executable).parent

# The embedded default trimmed to the least that still runs every stage for every source:
# two prompts per source (each source then has at least one training window), short
# completions, a short context, a few training steps and evaluation items. Merged over config.yaml.
SMALLEST = {
    "sources": {
        **{source: {"max_prompts": 2} for source in ("openstax", "wikihow", "web", "khanacademy", "automathtext",
                                                      "ultrachat", "openhermes")},
        "stanford": {"max_prompts": 2, "outline": {"max_prompts": 1}},
    },
    "generation": {"sampling": {"max_tokens": 128}},
    "train": {"runs": {"tiny": {"params": {"steps": 12, "warmup_steps": 2, "seq_len": 128, "micro_batch": 4}}}},
    "evaluation": {"max_samples": 12},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the workflow with the smallest config beside it, so runs never write into the checkout."""
    copy = copy_workflow(tmp_path_factory.mktemp("workflow"))
    (copy / "smallest.yaml").write_text(yaml.safe_dump(SMALLEST))
    return copy


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_check_passes():
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_lists_every_stage():
    counts = jobs_planned(snakemake("-n", "--forceall").stdout)
    for rule in ("seeds", "prompts_openstax", "prompts_wikihow", "generate", "decontaminate", "dedup", "train_tokenizer",
                 "tokenize", "train", "evaluate", "eval_table", "contamination_table", "generation_table"):
        assert counts.get(rule, 0) >= 1, (rule, counts)
    # One job per prompt shard, known from the config before anything runs
    # (OpenStax has 2 shards; the Stanford outline step has its own job).
    assert counts["generate"] == 10
    for rule in ("web_extract", "web_filter", "web_embed", "web_cluster", "web_label", "web_topics", "web_assign"):
        assert counts.get(rule) == 1, rule


def test_bad_config_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("generation:\n  sampling:\n    temperature: hot\n")
    proc = snakemake("-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "generation.sampling.temperature" in proc.stdout + proc.stderr


@pytest.mark.e2e
def test_default_chain_runs_end_to_end_and_reruns_only_stale_targets(workdir):
    run = ("--profile", "profiles/default", "--configfile", "smallest.yaml")
    snakemake(*run, cwd=workdir)
    tables = workdir / "results" / "tables"
    contamination = pl.read_csv(tables / "contamination.csv")
    assert {"group", "benchmark", "samples_removed", "unique_benchmark_items"} <= set(contamination.columns)
    dedup = pl.read_csv(tables / "dedup.csv")
    assert set(dedup["source"]) >= {"openstax", "wikihow"}
    assert (dedup["documents_in"] == dedup["removed"] + dedup["kept"]).all()
    evals = pl.read_csv(tables / "eval.csv")
    assert evals.height > 0 and evals["value"].is_between(0, 1).all()
    generation = pl.read_csv(tables / "generation.csv")
    total = generation.filter(pl.col("source") == "TOTAL").row(0, named=True)
    prompts = pl.read_csv(tables / "prompt_mix.csv")
    assert set(prompts["source"]) >= {"openstax", "wikihow", "khanacademy", "stanford", "automathtext",
                                      "ultrachat", "openhermes"}
    topics = pl.read_csv(tables / "web_topics.csv")
    assert topics.height >= 1
    # The bundled model labels the clusters; web prompts exist exactly when a topic was kept.
    assert ("web" in set(prompts["source"])) == bool(topics["kept"].any())
    outlines = generation.filter(pl.col("source") == "stanford_outline")["prompts"].sum()
    assert total["completions"] + total["failed"] == total["prompts"] == prompts["prompts"].sum() + outlines
    assert (workdir / "results" / "checkpoints" / "tiny" / "config.json").exists()

    # A second run has nothing to do.
    again = snakemake("-n", *run, cwd=workdir)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Editing one OpenStax template reruns OpenStax prompts and what follows, not WikiHow's.
    template = workdir / "templates" / "openstax" / "textbook.j2"
    template.write_text(template.read_text() + "\nBe concise.\n")
    counts = jobs_planned(snakemake("-n", *run, cwd=workdir).stdout)
    assert counts.get("prompts_openstax") == 1
    assert "prompts_wikihow" not in counts and "seeds" not in counts
    assert counts.get("generate") == 2  # the two OpenStax shards only
    assert counts.get("decontaminate") == 2
