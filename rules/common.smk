import sys
from pathlib import Path

# The package lives in src/: importable here; job scripts import scripts/_paths.py for the same.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from synthpedia.config import source_config, validate_config
from synthpedia.io import config_hash
from synthpedia.prompts import shard_name, template_files
from synthpedia.seeds import seed_input_files

validate_config(config)

CONFIG_HASH = config_hash(config)
# vLLM has an env of its own (CUDA wheels); the CPU and client backends share one.
GENERATION_ENV = (
    "../envs/vllm.yaml"
    if config["generation"]["backend"] == "vllm"
    else "../envs/generate.yaml"
)
# Sources whose generations become the dataset.
SOURCES = sorted(config["sources"])
# Sources that have prompts and generations: the dataset's, plus intermediate steps
# (Stanford course outlines, generated before the Stanford unit prompts).
GEN_SOURCES = sorted(SOURCES + (["stanford_outline"] if "stanford" in SOURCES else []))
RUNS = sorted(config["train"]["runs"])
TASKS = config["evaluation"]["tasks"]


def one_of(names):
    """A wildcard pattern matching exactly these names (or nothing, when there are none)."""
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    source=one_of(GEN_SOURCES),
    shard=r"\d{3}",
    run=one_of(RUNS),
    task=one_of(TASKS),


def shards(source):
    return [shard_name(i) for i in range(source_config(config, source)["shards"])]


def seed_spec(wildcards):
    """The seeds rule's view of a source's config (Stanford units also get their outline files)."""
    spec = source_config(config, wildcards.source)
    if wildcards.source == "stanford":
        spec = {
            **spec,
            "outlines": stage_shards("generations", sources=["stanford_outline"]),
        }
    if wildcards.source == "web":
        spec = {**spec, "assigned": "results/web/assigned.parquet"}
    return spec


def seed_inputs(wildcards):
    """Every file a source's seeds are read from (editing any reruns that source only)."""
    if wildcards.source == "web":
        return [
            "results/web/assigned.parquet"
        ]  # the web topic steps' output (rules/web.smk)
    files = seed_input_files(wildcards.source, source_config(config, wildcards.source))
    if wildcards.source == "stanford":
        files += stage_shards("generations", sources=["stanford_outline"])
    return files


def prompt_shards(source):
    return expand(
        "results/prompts/{source}/{shard}.parquet", source=source, shard=shards(source)
    )


def stage_shards(stage, suffix=".parquet", sources=SOURCES):
    """One stage's shard files over the dataset's sources, e.g. stage_shards("clean")."""
    return [
        f"results/{stage}/{source}/{shard}{suffix}"
        for source in sources
        for shard in shards(source)
    ]


def source_stage_shards(stage):
    return lambda wildcards: expand(
        "results/{stage}/{source}/{shard}.parquet",
        stage=stage,
        source=wildcards.source,
        shard=shards(wildcards.source),
    )


def benchmark_specs(names):
    """name -> spec (format, path, labels) of the named benchmarks."""
    return {name: config["benchmarks"][name] for name in names}


def benchmark_files(names):
    specs = benchmark_specs(names).values()
    return [spec[key] for spec in specs for key in ("path", "labels") if key in spec]


def task_spec(wildcards):
    return {"name": wildcards.task, **config["benchmarks"][wildcards.task]}


def final_targets():
    targets = []
    if SOURCES:
        targets += [
            "results/tables/prompt_mix.csv",
            "results/figures/prompt_mix.png",
            "results/tables/generation.csv",
            "results/tables/contamination.csv",
            "results/tables/dedup.csv",
        ]
        targets += expand("results/tokens/{source}/stats.json", source=SOURCES)
    if "web" in SOURCES:
        targets += ["results/tables/web_topics.csv", "results/figures/web_clusters.png"]
    if RUNS:
        targets += expand("results/checkpoints/{run}", run=RUNS)
        targets += expand("results/tables/loss_{run}.csv", run=RUNS)
        if TASKS:
            targets.append("results/tables/eval.csv")
    return targets


def templates_root(template_paths):
    """The templates folder, from a source's template inputs (templates/<source>/<style>.j2)."""
    return str(Path(template_paths[0]).parent.parent)


def web_spec():
    return config["sources"]["web"]
