"""The paper-scale preset (config/cosmopedia.yaml): complete, uncapped, and its DAG plans as it should.

A preset is complete: config.yaml (the laptop run) is not read under it, except the top-level keys
it names under `preset.shared`. The tests compute its effective config the way the Snakefile does
(Snakemake's own loader and merge for the --configfile files, then the preset rule), and run the
README's "check the DAG first" command, which adds config/stand-in-inputs.yaml: the real seed
inputs are not bundled.
"""

from __future__ import annotations

import copy
import re
import time

import pytest
import yaml
from conftest import ROOT, copy_workflow, jobs_planned, snakemake
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

import synthpedia.config as config_module
from synthpedia.errors import InputError
from synthpedia.workflow import is_preset, merge_config, preset_config

PRESET = ROOT / "config" / "cosmopedia.yaml"
STAND_IN = ROOT / "config" / "stand-in-inputs.yaml"
DEFAULT = ROOT / "config.yaml"


def effective_config(*configfiles, default=DEFAULT) -> dict:
    """The config the Snakefile sees for `--configfile *configfiles`, before validation."""
    given = {}
    for path in configfiles:  # Snakemake merges the --configfile files in order
        update_config(given, load_configfile(str(path)))
    if is_preset(given):
        return preset_config(given, default)
    merged = copy.deepcopy(load_configfile(str(default)))
    update_config(merged, given)
    return merged


def validated(config: dict, monkeypatch) -> dict:
    """`config` validated with defaults filled in, its input files not checked (not bundled)."""
    monkeypatch.setattr(config_module, "_check_files", lambda config, sources, base_dir: None)
    monkeypatch.setattr(config_module, "_check_benchmark_files", lambda config, base_dir: None)
    return config_module.validate_config(copy.deepcopy(config), base_dir=ROOT)


def leaves(tree, prefix=()):
    """(key path, value) of every non-dict value of a nested dict."""
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def poisoned(default: dict, shared) -> dict:
    """`default` with every value outside the `shared` top-level keys replaced by a sentinel."""
    out = {}
    for key, value in default.items():
        if key in shared:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = poisoned(value, ())
        else:
            out[key] = "<from config.yaml>"
    return out


def test_preset_takes_nothing_from_config_yaml_but_its_shared_keys(tmp_path, monkeypatch):
    shared = yaml.safe_load(PRESET.read_text())["preset"]["shared"]
    assert shared == ["audiences"]
    fake = tmp_path / "config.yaml"
    fake.write_text(yaml.safe_dump(poisoned(yaml.safe_load(DEFAULT.read_text()), shared)))
    real, sentinel = effective_config(PRESET), effective_config(PRESET, default=fake)
    assert real == sentinel  # no value of config.yaml reaches the preset, but the shared keys
    assert "<from config.yaml>" not in str(sentinel)
    assert "preset" not in real
    assert real["audiences"] == yaml.safe_load(DEFAULT.read_text())["audiences"]
    # An overlay without a preset block still merges over config.yaml (the laptop run's tweaks).
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("tokenizer: {vocab_size: 512}\n")
    assert effective_config(overlay, default=fake)["seed"] == "<from config.yaml>"


def test_preset_is_uncapped_and_has_the_original_settings(monkeypatch):
    config = validated(effective_config(PRESET), monkeypatch)
    sources = config["sources"]
    assert set(sources) == {"web", "stanford", "ultrachat", "openhermes", "automathtext", "wikihow", "openstax",
                            "khanacademy"}
    capped = {name: spec["max_prompts"] for name, spec in sources.items() if spec["max_prompts"] is not None}
    assert not capped and sources["stanford"]["outline"]["max_prompts"] is None
    web = sources["web"]
    assert web["labelling"]["samples"] == 10 and web["labelling"]["chars"] == 420
    assert web["clustering"]["algorithm"] == "dbscan" and web["clustering"]["eps"] == 0.08
    assert sources["openstax"]["audiences"] == ["young_children", "high_school", "college", "researchers"]
    assert sources["openstax"]["variants"] == ["plain", "with_extract"]
    assert sources["openhermes"]["styles"] == ["young_children_story", "problem_solving_story", "reddit_post"]
    assert len(sources["ultrachat"]["styles"]) == 5
    assert config["tokenizer"]["vocab_size"] == 32000
    assert {"arc_easy", "arc_challenge", "boolq", "commonsenseqa", "hellaswag", "mmlu", "openbookqa", "piqa",
            "siqa", "winogrande", "triviaqa", "gsm8k"} == set(config["benchmarks"])
    gen = config["generation"]
    assert gen["backend"] == "vllm" and gen["model"] == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert gen["sampling"] == {"max_tokens": 2500, "temperature": 0.6, "top_p": 0.95, "top_k": 50,
                               "repetition_penalty": 1.2}
    assert gen["min_completion_tokens"] == 150
    assert 1000 <= sum(spec["shards"] for spec in sources.values()) <= 3000  # 10-23k prompts per job


def test_stand_in_inputs_change_only_input_paths(monkeypatch):
    plain, stand_in = effective_config(PRESET), effective_config(PRESET, STAND_IN)
    differing = {path[:3] for path, value in leaves(stand_in) if dict(leaves(plain)).get(path) != value}
    assert differing and all(path[0] == "benchmarks" or path[2] in ("inputs", "courses", "files", "titles", "books",
                                                                      "topics") for path in differing)
    validated(stand_in, monkeypatch)


def test_missing_input_names_its_config_key(tmp_path):
    proc = snakemake("-n", "--configfile", str(PRESET), check=False)
    assert proc.returncode != 0
    assert re.search(r"config key 'sources\.\w+\.\w+': file not found: data/", proc.stdout + proc.stderr)
    with pytest.raises(InputError, match=r"preset\.shared.*nothing"):
        preset_config({"preset": {"shared": ["nothing"]}}, DEFAULT)
    assert merge_config({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


@pytest.mark.e2e  # a dry run of ~3.7k jobs: about 30-60 s on 2 shared cores
def test_check_the_dag_first_command_plans_the_paper_dag_without_config_yaml(tmp_path):
    """The README's dry run, in a copy whose config.yaml is invalid outside `audiences`: never read."""
    work = copy_workflow(tmp_path / "wf")
    default = yaml.safe_load((work / "config.yaml").read_text())
    (work / "config.yaml").write_text(yaml.safe_dump({"audiences": default["audiences"],
                                                      "generation": {"sampling": {"temperature": "hot"}}}))
    start = time.monotonic()
    out = snakemake("-n", "--profile", "profiles/slurm", "--configfile", "config/cosmopedia.yaml",
                    "config/stand-in-inputs.yaml", cwd=work).stdout
    seconds = time.monotonic() - start
    counts = jobs_planned(out)
    config = effective_config(PRESET)
    shards = sum(spec["shards"] for spec in config["sources"].values())
    assert counts["generate"] == shards + config["sources"]["stanford"]["outline"]["shards"]
    assert counts["decontaminate"] == shards
    generate_resources = re.findall(r"rule generate:.*?resources: ([^\n]*)", out, flags=re.S)
    assert generate_resources and all("gpu=2" in r for r in generate_resources)
    print(f"cosmopedia dry run: {sum(counts.values())} jobs, {seconds:.1f} s")
