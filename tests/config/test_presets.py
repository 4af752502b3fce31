"""The paper-scale preset (config/cosmopedia.yaml): valid, and its DAG plans as it should.

Its seed inputs are not bundled (they live under data/ on a cluster), so the dry run points each
source at the bundled sample of the same format and keeps the preset's shard counts: the DAG has
the paper's shape. Sources whose audiences lack instructions for their styles in config.yaml are
left out of the dry run (and named in the output).
"""

from __future__ import annotations

import copy
import re
import time

import pytest
import yaml
from conftest import ROOT
from conftest import jobs_planned, snakemake

import synthpedia.config as config_module
from synthpedia.errors import InputError

PRESET = ROOT / "config" / "cosmopedia.yaml"
BUNDLED_INPUTS = {
    "web": {"inputs": ["resources/web"]},
    "stanford": {"courses": "resources/stanford/courses.csv"},
    "ultrachat": {"files": ["resources/ultrachat/questions.jsonl"]},
    "openhermes": {"files": ["resources/openhermes/conversations.jsonl"]},
    "automathtext": {"files": ["resources/automathtext/math.jsonl"]},
    "wikihow": {"titles": "resources/wikihow/titles.tsv"},
    "openstax": {"books": ["resources/openstax/introduction-to-ecology/collections/"
                           "introduction-to-ecology.collection.xml"]},
    "khanacademy": {"topics": "resources/khanacademy/topics.json"},
}


def merged(base: dict, override: dict) -> dict:
    """`override` on top of `base`, dicts merged key by key (as Snakemake merges --configfile)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load(path):
    return yaml.safe_load(path.read_text())


def test_preset_is_valid_and_has_the_original_settings(monkeypatch):
    preset = load(PRESET)
    # Everything but the input files (not bundled) and audience instructions (config.yaml's).
    monkeypatch.setattr(config_module, "_check_files", lambda config, sources, base_dir: None)
    monkeypatch.setattr(config_module, "_check_benchmark_files", lambda config, base_dir: None)
    config = config_module.validate_config(merged(load(ROOT / "config.yaml"), preset))
    assert set(config["sources"]) == set(BUNDLED_INPUTS)  # every seed source of the original
    gen = config["generation"]
    assert gen["backend"] == "vllm" and gen["model"] == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert gen["vllm"]["tensor_parallel_size"] in (2, 4)
    assert gen["sampling"] == {"max_tokens": 2500, "temperature": 0.6, "top_p": 0.95, "top_k": 50,
                               "repetition_penalty": 1.2}
    assert gen["min_completion_tokens"] == 150
    shards = sum(spec["shards"] for spec in config["sources"].values())
    assert 1000 <= shards <= 3000  # ~30M prompts at 10-23k prompts per generation job


@pytest.fixture
def runnable_preset(tmp_path):
    """The preset with bundled inputs, keeping the sources config.yaml has audience instructions for."""
    base, preset = load(ROOT / "config.yaml"), load(PRESET)
    preset.pop("benchmarks")  # the full sets are not bundled: config.yaml's samples stand in
    kept, left_out = {}, {}
    for source, spec in preset["sources"].items():
        spec = {**spec, **BUNDLED_INPUTS[source]}
        try:
            config_module.validate_config(merged(base, {**preset, "sources": {source: spec}}), base_dir=ROOT)
            kept[source] = spec
        except InputError as err:
            left_out[source] = str(err)
    preset["sources"] = kept
    path = tmp_path / "cosmopedia-bundled.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path, kept, left_out


def test_preset_dry_run_plans_one_gpu_job_per_shard(runnable_preset):
    path, kept, left_out = runnable_preset
    assert {"openstax", "wikihow"} <= set(kept), left_out
    start = time.monotonic()
    out = snakemake("-n", "--forceall", "--configfile", str(path)).stdout
    seconds = time.monotonic() - start
    counts = jobs_planned(out)
    config = config_module.validate_config(merged(load(ROOT / "config.yaml"), load(path)), base_dir=ROOT)
    dataset_shards = sum(spec["shards"] for spec in config["sources"].values())  # the preset's + config.yaml's
    outline_shards = config["sources"]["stanford"]["outline"]["shards"] if "stanford" in config["sources"] else 0
    assert counts["generate"] == dataset_shards + outline_shards  # one job per prompt shard
    assert counts["decontaminate"] == dataset_shards
    generate_resources = re.findall(r"rule generate:.*?resources: ([^\n]*)", out, flags=re.S)
    assert generate_resources and all("gpu=2" in r for r in generate_resources)
    print(f"cosmopedia dry run ({', '.join(sorted(kept))}; left out: {', '.join(sorted(left_out)) or '-'}): "
          f"{sum(counts.values())} jobs, {seconds:.1f} s")
