"""The pre-flight plan: prompts, tokens, GPU-hours and disk per source from seeds and prompts only."""

from __future__ import annotations

import polars as pl
import pytest
import yaml
from conftest import copy_workflow, jobs_planned, snakemake

from synthpedia.plan import plan_job, shards_by_source
from synthpedia.registry import load_schema

PLAN = {key: spec["default"] for key, spec in load_schema()["properties"]["plan"]["properties"].items()}
# The original's rows per subset / 1000 (web v1 + v2, stories from UltraChat and OpenHermes).
PAPER_ROWS = {"web": 22_700, "ultrachat": 2_500, "openhermes": 2_490, "automathtext": 1_950, "wikihow": 179,
              "openstax": 126, "khanacademy": 24}


def prompt_shards(tmp_path, source, prompts, shards, chars=1200):
    paths = []
    for shard in range(shards):
        n = prompts // shards + (1 if shard < prompts % shards else 0)
        path = tmp_path / "prompts" / source / f"{shard:03d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"prompt_id": [f"{source}{shard}-{i}" for i in range(n)], "prompt": ["x" * chars] * n}).write_parquet(
            path)
        paths.append(str(path))
    seeds = tmp_path / "seeds" / f"{source}.parquet"
    seeds.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"seed_id": [f"s{i}" for i in range(max(prompts // 2, 1))]}).write_parquet(seeds)
    return [str(seeds)], paths


def test_plan_at_the_originals_counts_over_1000(tmp_path):
    seeds, prompts = [], []
    for source, rows in PAPER_ROWS.items():
        s, p = prompt_shards(tmp_path, source, rows, shards=3)
        seeds += s
        prompts += p
    # Stanford: ~250 units' worth of outlines (x 4 audiences ~ 1.02M / 1000)
    s, p = prompt_shards(tmp_path, "stanford_outline", 9, shards=1, chars=800)
    seeds += s
    prompts += p
    out = tmp_path / "plan.csv"
    text = plan_job(seeds=shards_by_source(seeds), prompts=shards_by_source(prompts),
                    estimated={"stanford": {"step": "stanford_outline", "audiences": 4}},
                    specs={"stanford": {"shards": 2, "max_prompts": None}}, plan=PLAN, model="mixtral",
                    max_tokens=2500, vocab_size=32000, config_hash="c1", tables=[str(out)])
    table = pl.read_csv(out)
    rows = {r["source"]: r for r in table.iter_rows(named=True)}
    for source, expected in PAPER_ROWS.items():
        assert abs(rows[source]["prompts"] - expected) <= 0.1 * expected
    assert rows["stanford"]["prompts"] == 9 * 30 * 4 and rows["stanford"]["basis"].startswith("estimated")
    total = rows["TOTAL"]
    assert total["prompts"] == sum(PAPER_ROWS.values()) + 9 + 1080
    # completion tokens: prompts x 2500 x 0.33; GPU-hours at 700 tokens/s per GPU
    assert total["completion_tokens"] == pytest.approx(total["prompts"] * 2500 * 0.33, rel=1e-6)
    assert total["gpu_hours"] == pytest.approx(total["completion_tokens"] / 700 / 3600, rel=1e-6)
    assert rows["web"]["prompt_tokens"] == 22_700 * 1200 / 4
    assert total["disk_tokens_mb"] == pytest.approx(total["completion_tokens"] * 2 / 1e6, rel=1e-6)
    # ~25B tokens and ~10k+ GPU-hours at 1000x: the paper's figures
    assert 20e6 < total["completion_tokens"] < 30e6 and 8 < total["gpu_hours"] < 12
    assert text.startswith("plan: ") and "GPU-hours" in text and set(table["config_hash"]) == {"c1"}


def test_a_pilot_run_replaces_the_completion_fraction(tmp_path):
    seeds, prompts = prompt_shards(tmp_path, "wikihow", 100, shards=2)
    pilot = tmp_path / "generation.csv"
    pl.DataFrame({"source": ["wikihow", "TOTAL"], "completions": [10, 10], "completion_tokens": [9000, 9000]}).write_csv(
        pilot)
    plan = {**PLAN, "pilot": str(pilot), "models": {"m": {"tokens_per_gpu_second": 1000}}}
    out = tmp_path / "plan.csv"
    text = plan_job(seeds=shards_by_source(seeds), prompts=shards_by_source(prompts), estimated={}, specs={},
                    plan=plan, model="m", max_tokens=2500, vocab_size=100_000, config_hash="c", tables=[str(out)])
    total = pl.read_csv(out).filter(pl.col("source") == "TOTAL").row(0, named=True)
    assert total["completion_tokens"] == 100 * 900 and "pilot" in text
    assert total["gpu_hours"] == pytest.approx(90_000 / 1000 / 3600)
    assert total["disk_tokens_mb"] == pytest.approx(90_000 * 4 / 1e6)  # vocabulary over 65,536: 4 bytes


@pytest.mark.e2e  # two dry runs, one of the paper-scale preset: ~30-60 s
def test_plan_target_runs_seeds_and_prompts_only_on_any_preset():
    for args in ((), ("--configfile", "config/cosmopedia.yaml", "config/stand-in-inputs.yaml")):
        counts = jobs_planned(snakemake("plan", "-n", "--forceall", *args).stdout)
        assert counts["plan"] == 1 and counts["prompt_shard"] >= 9
        assert not {"generate", "decontaminate", "dedup", "train", "tokenize"} & set(counts), counts


@pytest.mark.e2e  # labels the bundled web clusters with the bundled model on CPU
def test_plan_runs_on_the_default(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    proc = snakemake("plan", "--cores", "2", cwd=work)
    table = pl.read_csv(work / "results" / "tables" / "plan.csv")
    assert "plan: " in proc.stdout + proc.stderr
    assert set(table["source"]) >= {"openstax", "wikihow", "stanford_outline", "stanford", "TOTAL"}
    assert yaml.safe_load((work / "config.yaml").read_text())["sources"]["openstax"]["max_prompts"] == \
        table.filter(pl.col("source") == "openstax")["prompts"][0]
