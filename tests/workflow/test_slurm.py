"""Slurm: the generation and dedup chain on a real single-node cluster, and the GPU resources of profiles/slurm.

The cluster comes from tests/workflow/slurm/cluster.sh (Debian's slurm-wlm and munge, installed if
missing: needs root), the profile from tests/workflow/slurm/profile (status from squeue, GPUs mapped away:
the node has none).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import ROOT, copy_workflow
from conftest import SNAKEMAKE, snakemake

CLUSTER = ROOT / "tests" / "workflow" / "slurm" / "cluster.sh"
TEST_PROFILE = ROOT / "tests" / "workflow" / "slurm" / "profile"

def tiny_config() -> dict:
    """config.yaml cut down to two small sources and short completions: generation to dedup."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["sources"] = {
        "openstax": {**config["sources"]["openstax"], "shards": 1, "max_prompts": 2},
        "wikihow": {**config["sources"]["wikihow"], "shards": 1, "max_prompts": 2},
    }
    config["generation"]["sampling"]["max_tokens"] = 8
    config["generation"]["min_completion_tokens"] = 1
    return config


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running single-node Slurm cluster; yields the environment its clients need."""
    if os.geteuid() != 0 and not shutil.which("slurmctld"):
        pytest.skip("the test cluster needs root (apt-get, munged, slurmd)")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_TEST_DIR": str(state)}
    started = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stdout + started.stderr
    env["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        yield env
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop"], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_generation_and_dedup_stages_run_as_slurm_jobs(cluster, tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(tiny_config()))  # the copy's own config
    start = time.monotonic()
    proc = subprocess.run(
        [SNAKEMAKE, "results/tables/generation.csv", "results/tables/dedup.csv", "--profile", str(TEST_PROFILE),
         "--workflow-profile", "none"],
        cwd=workdir, env=cluster, capture_output=True, text=True, timeout=900,
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]

    table = pl.read_csv(workdir / "results" / "tables" / "generation.csv")
    total = table.filter(pl.col("source") == "TOTAL").row(0, named=True)
    assert total["prompts"] == total["completions"] + total["failed"] == 4

    dedup = pl.read_csv(workdir / "results" / "tables" / "dedup.csv")
    assert dedup["documents_in"].sum() == total["completions"]
    # Every generation job and every job of the four dedup stages ran as a Slurm job: a Slurm log
    # per job, and a COMPLETED record each (2 shards, 14 buckets).
    expected = {"generate": 2, "dedup_signatures": 2, "dedup_buckets": 14, "dedup_clusters": 1, "dedup_filter": 2}
    slurm_ids = set()
    for rule, count in expected.items():
        logs = sorted((workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob("*.log"))
        assert len(logs) == count, (rule, logs)
        slurm_ids |= {p.stem for p in logs}
    # Their scratch folders were temp(): nothing is left once the dataset shards exist.
    assert not list((workdir / "results" / "work" / "dedup").rglob("*.sig"))
    jobcomp = (Path(cluster["SLURM_CONF"]).parent / "jobcomp.txt").read_text()
    completed = {m.group(1) for m in re.finditer(r"JobId=(\d+) .*?JobState=COMPLETED", jobcomp)}
    assert slurm_ids <= completed, (slurm_ids, jobcomp)
    print(f"Slurm generation and dedup chain: {seconds:.0f} s")


def gpu_resources(dry_run_output: str) -> dict[str, set[int]]:
    """Rule -> the `gpu` values of its jobs, from a dry run's job listing."""
    found: dict[str, set[int]] = {}
    rule = None
    for line in dry_run_output.splitlines():
        head = re.match(r"(?:local)?rule (\w+):", line.strip())
        if head:
            rule = head.group(1)
        elif rule and line.strip().startswith("resources:"):
            gpu = re.search(r"\bgpu=(\d+)", line)
            found.setdefault(rule, set()).add(int(gpu.group(1)) if gpu else 0)
    return found


def test_slurm_profile_gives_gpus_to_generate_train_and_evaluate(tmp_path):
    preset = tmp_path / "vllm.yaml"
    preset.write_text(yaml.safe_dump({"generation": {"backend": "vllm", "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
                                                     "vllm": {"tensor_parallel_size": 2}}}))
    out = snakemake("-n", "--forceall", "--profile", "profiles/slurm", "--configfile", str(preset)).stdout
    gpus = gpu_resources(out)
    assert gpus["generate"] == {2}  # the tensor-parallel size, from the config
    assert gpus["train"] == {1} and gpus["evaluate"] == {1}
    llm_rules = {"generate", "web_label"}  # web topics are labelled by the generation backend
    assert all(gpus[r] == {2} for r in llm_rules & set(gpus)), gpus
    assert all(gpus[r] == {0} for r in set(gpus) - llm_rules - {"train", "evaluate"}), gpus


def test_rules_ask_no_gpu_for_cpu_backends():
    out = snakemake("-n", "--forceall").stdout
    assert gpu_resources(out)["generate"] == {0}


def test_slurm_profile_never_passes_gres_in_slurm_extra():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    for resources in [profile.get("default-resources", {}), *profile.get("set-resources", {}).values()]:
        assert not re.search(r"--(gres|gpus)", str(resources.get("slurm_extra", "")))
