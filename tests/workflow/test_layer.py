"""The workflow layer: light to import, the one source registry, jobs that run their own checkout."""

import json
import os
import subprocess
import sys
import textwrap

import yaml

from conftest import ROOT, copy_workflow, jobs_planned, snakemake

HEAVY = ("polars", "numpy", "datatrove", "torch", "transformers")


def test_workflow_layer_imports_nothing_heavy_and_leaves_the_environment_alone():
    code = textwrap.dedent(
        f"""
        import json, os, sys
        before = dict(os.environ)
        sys.path.insert(0, {str(ROOT / "src")!r})
        import yaml
        import synthpedia.workflow as wf
        config = wf.validate_config(yaml.safe_load(open({str(ROOT / "config.yaml")!r})), base_dir={str(ROOT)!r})
        wf.prompt_sources(config), wf.seed_inputs(config, "stanford"), wf.template_files("web", {str(ROOT / "templates")!r})
        loaded = [m for m in {HEAVY!r} if m in sys.modules]
        changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
        print(json.dumps({{"loaded": loaded, "changed": changed}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"loaded": [], "changed": []}


def test_job_imports_its_own_checkout_even_behind_another_checkouts_import_hook(tmp_path):
    # Another checkout's package, found by an import hook that runs before the path search.
    other = tmp_path / "other" / "src" / "synthpedia"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("WHICH = 'other'\n")
    (other / "io.py").write_text("WHICH = 'other'\n")
    copy = copy_workflow(tmp_path / "copy")
    code = textwrap.dedent(
        f"""
        import importlib.abc, importlib.machinery, sys

        class OtherCheckout(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "synthpedia" or name.startswith("synthpedia."):
                    parts = name.split(".")
                    where = [{str(other.parent)!r}] if len(parts) == 1 else [{str(other)!r}]
                    return importlib.machinery.PathFinder.find_spec(name, where)

        sys.meta_path.insert(0, OtherCheckout())
        sys.path.insert(0, {str(copy / "scripts")!r})
        import _paths
        import synthpedia, synthpedia.io
        print(synthpedia.__file__, synthpedia.io.__file__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(copy / "src/synthpedia/__init__.py"), str(copy / "src/synthpedia/io.py")]


def test_a_job_runs_online_when_the_config_says_so_and_imports_the_copys_own_src(tmp_path):
    # The environment is installed (editable) from this checkout; the job runs from a copy.
    copy = copy_workflow(tmp_path / "copy")
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["offline"] = False
    (copy / "online.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    snakemake("--cores", "1", "--configfile", "online.yaml", "--", "results/seeds/wikihow.parquet", cwd=copy, env=env)
    log = (copy / "logs" / "seeds" / "wikihow.log").read_text()
    assert "offline=False" in log and "hub variables={}" in log
    assert f"synthpedia={copy / 'src' / 'synthpedia' / '__init__.py'}" in log


TOY_LOADER = '''
"""A toy source: one seed per line of a text file."""

import polars as pl

from synthpedia.ids import stable_hash

COLUMNS = ("seed_id", "source", "line")


def load_seeds(spec, reads):
    with open(spec["lines"], encoding="utf-8") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    return pl.DataFrame(
        {"seed_id": [stable_hash("toy", line) for line in lines], "source": ["toy"] * len(lines), "line": lines}
    )


def prompt_contexts(row, spec, seed, styles):
    for style in styles:
        yield style, "plain", {"line": row["line"]}
'''

TOY_SCHEMA = """      toy:
        x-source:
          module: synthpedia.seeds.toy
          inputs: {lines: file}
          styles: [plain]
        type: object
        additionalProperties: false
        required: [lines]
        properties:
          lines: {$ref: "#/definitions/path"}
          shards: {$ref: "#/definitions/shards", default: 2}
          max_prompts: {$ref: "#/definitions/max_prompts", default: null}
          audiences: {$ref: "#/definitions/audiences", default: [general]}
"""


def test_a_new_source_takes_a_loader_module_a_template_and_a_schema_entry(tmp_path):
    copy = copy_workflow(tmp_path / "copy")
    (copy / "src" / "synthpedia" / "seeds" / "toy.py").write_text(TOY_LOADER)
    (copy / "templates" / "toy").mkdir()
    (copy / "templates" / "toy" / "plain.j2").write_text("{{ instructions }}\nWrite about: {{ line }}\n")
    schema_path = copy / "schemas" / "config.schema.yaml"
    schema = schema_path.read_text()
    anchor = "    properties:\n      openstax:\n"
    assert anchor in schema
    schema_path.write_text(schema.replace(anchor, "    properties:\n" + TOY_SCHEMA + "      openstax:\n", 1))
    (copy / "toy.txt").write_text("first line\nsecond line\n")
    # The user's config: the toy source only (a config change, not code), with an audience for its style.
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["sources"] = {"toy": {"lines": "toy.txt"}}
    config["audiences"]["general"]["instructions"]["plain"] = "Write for adults."
    config["train"]["mixture"] = {}
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    counts = jobs_planned(snakemake("-n", "--forceall", cwd=copy).stdout)
    assert counts["seeds"] == 1 and counts["prompts_toy"] == 1
    assert counts["generate"] == 2 and counts["decontaminate"] == 2
    # Real seeds and prompts from the toy loader and template.
    # Each prompt shard is its own job: both are asked for.
    snakemake("--cores", "1", "results/prompts/toy/000.parquet", "results/prompts/toy/001.parquet", cwd=copy)
    import polars as pl

    prompts = pl.concat([pl.read_parquet(p) for p in sorted((copy / "results/prompts/toy").glob("*.parquet"))])
    assert sorted(p.split("Write about: ")[1].strip() for p in prompts["prompt"]) == ["first line", "second line"]
