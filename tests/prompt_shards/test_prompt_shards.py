"""Prompt shards rendered one job each are byte-identical to rendering the whole source at once."""

from __future__ import annotations

import polars as pl
import pytest

import synthpedia.prompt_shards as prompt_shards
from synthpedia.io import write_parquet
from synthpedia.prompts import build_prompt_shards
from synthpedia.prompt_shards import prompt_plan_job, prompt_shard_job
from synthpedia.registry import registry
from synthpedia.seeds import load_seeds
from synthpedia.workflow import source_settings

FILE_SOURCES = ("openstax", "wikihow", "khanacademy", "automathtext", "ultrachat", "openhermes", "stanford_outline")


def web_seeds() -> pl.DataFrame:
    """A few assigned web seeds (the web_assign table) of every topic style."""
    styles = ["textbook", "blogpost", "wikihow"]
    return pl.DataFrame(
        {
            "seed_id": [f"w{i:02d}" for i in range(12)],
            "source": ["web"] * 12,
            "url": [f"https://example.org/{i}" for i in range(12)],
            "extract": [f"Extract number {i} about gardens, tides and the price of bread." for i in range(12)],
            "topic": ["Gardening", "Oceanography", "Baking"] * 4,
            "cluster": [i % 3 for i in range(12)],
            "style": [styles[i % 3] for i in range(12)],
        }
    )


def jobs_and_whole(tmp_path, source, seeds, spec, audiences, seed=42):
    """(bytes of each shard from the plan + shard jobs, bytes of each shard of build_prompt_shards)."""
    seeds_path = tmp_path / f"{source}.seeds.parquet"
    write_parquet(seeds, str(seeds_path))
    index = tmp_path / f"{source}.index.parquet"
    prompt_plan_job(source=source, seeds_path=str(seeds_path), spec=spec, seed=seed, templates_dir="templates",
                    out_index=str(index))
    by_jobs, whole = [], []
    frames = build_prompt_shards(source, pl.read_parquet(seeds_path), spec, audiences, seed, "templates")
    for shard, frame in enumerate(frames):
        out, ref = tmp_path / f"{source}.{shard}.parquet", tmp_path / f"{source}.{shard}.ref.parquet"
        prompt_shard_job(source=source, shard=shard, seeds_path=str(seeds_path), index_path=str(index), spec=spec,
                         audiences=audiences, seed=seed, templates_dir="templates", out_shard=str(out))
        write_parquet(frame, str(ref))
        by_jobs.append(out.read_bytes())
        whole.append(ref.read_bytes())
    return by_jobs, whole


@pytest.mark.parametrize("max_prompts", [None, 5])
def test_shard_jobs_are_byte_identical_to_one_rendering(default_config, tmp_path, monkeypatch, max_prompts):
    monkeypatch.chdir(prompt_shards.TEMPLATES_DIR.parent)
    monkeypatch.setattr(prompt_shards, "SEED_BATCH_ROWS", 3)  # seed rows counted across batches
    audiences = default_config["audiences"]
    checked = 0
    for source in FILE_SOURCES + ("web",):
        spec = {**source_settings(default_config, source), "shards": 3, "max_prompts": max_prompts}
        if source == "web":
            seeds = web_seeds()
        else:
            seeds = load_seeds(source, spec)
        by_jobs, whole = jobs_and_whole(tmp_path, source, seeds, spec, audiences)
        assert by_jobs == whole, source
        sizes = [pl.read_parquet(tmp_path / f"{source}.{s}.parquet").height for s in range(3)]
        assert sum(sizes) == (min(max_prompts, sum(sizes)) if max_prompts else sum(sizes))
        checked += sum(sizes)
    assert checked >= 30  # every source rendered something


def test_plan_holds_ids_only_and_names_a_changed_seed_table(default_config, tmp_path, monkeypatch):
    monkeypatch.chdir(prompt_shards.TEMPLATES_DIR.parent)
    spec = {**source_settings(default_config, "wikihow"), "shards": 2, "max_prompts": None}
    seeds = load_seeds("wikihow", spec)
    seeds_path, index = tmp_path / "seeds.parquet", tmp_path / "index.parquet"
    write_parquet(seeds, str(seeds_path))
    prompt_plan_job(source="wikihow", seeds_path=str(seeds_path), spec=spec, seed=42, templates_dir="templates",
                    out_index=str(index))
    plan = pl.read_parquet(index)
    assert plan.columns == ["prompt_id", "seed_row", "shard"]
    assert plan.height == seeds.height * len(spec["audiences"]) and set(plan["shard"]) <= {0, 1}
    write_parquet(seeds.head(2), str(seeds_path))  # the seeds changed, the plan did not
    with pytest.raises(Exception, match="seed table changed"):
        prompt_shard_job(source="wikihow", shard=0, seeds_path=str(seeds_path), index_path=str(index), spec=spec,
                         audiences=default_config["audiences"], seed=42, templates_dir="templates",
                         out_shard=str(tmp_path / "out.parquet"))
    assert "wikihow" in registry()
