import sys
from pathlib import Path

# The package lives in src/; the rule files import only its light workflow layer.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from synthpedia.workflow import (
    config_hash,
    dataset_sources,
    external_mixture,
    external_parquet_files,
    generation_env,
    imported_sources,
    mixture_weights,
    prompt_sources,
    seed_inputs,
    shard_names,
    source_settings,
    stage_paths,
    template_files,
    validate_config,
)

validate_config(config)

CONFIG_HASH = config_hash(config)
GENERATION_ENV = generation_env(config)
# Sources whose generations become the dataset.
SOURCES = dataset_sources(config)
# Everything with prompts and generations: the dataset's sources plus their steps
# (Stanford's course outlines, generated before the Stanford unit prompts).
GEN_SOURCES = prompt_sources(config)
# Sources whose generation shards are imported (rule import_generations), not generated.
IMPORTED_SOURCES = imported_sources(config)
RUNS = sorted(config["train"]["runs"])
TASKS = config["evaluation"]["tasks"]


def one_of(names):
    """A wildcard pattern matching exactly these names (or nothing, when there are none)."""
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    source=one_of(GEN_SOURCES + IMPORTED_SOURCES),
    shard=r"\d{3}",
    run=one_of(RUNS),
    task=one_of(TASKS),


def shards(source):
    return shard_names(config, source)


def seed_files(wildcards):
    """The seeds rule's named inputs: the source's input files and the workflow-made files it reads."""
    return seed_inputs(config, wildcards.source)


def seed_reads(wildcards):
    """Names of the seeds rule's inputs that the loader reads (workflow-made files)."""
    return sorted(set(seed_inputs(config, wildcards.source)) - {"files"})


def prompt_shards(source):
    # An imported source's prompts come in its generation shards (every prompt column is there).
    stage = "generations" if source in IMPORTED_SOURCES else "prompts"
    return stage_paths(config, stage, [source])


def stage_shards(stage, suffix=".parquet", sources=SOURCES):
    """One stage's shard files over the dataset's sources, e.g. stage_shards("clean")."""
    return stage_paths(config, stage, sources, suffix)


def source_stage_shards(stage):
    return lambda wildcards: stage_paths(config, stage, [wildcards.source])


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
        targets += [
            "results/tables/diversity.csv",
            "results/figures/diversity.png",
            "results/report/samples.html",
            "results/report/removed_documents.html",
            "results/figures/loss.png",
            "results/figures/eval.png",
            "results/figures/throughput.png",
            "results/figures/contamination.png",
            "results/dataset",
        ]
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


# Training's mixture: the dataset's sources and the external token sources `train.mixture` names.
EXTERNAL = external_mixture(config)
EXTERNAL_PARQUET = {
    name: external_parquet_files(spec["parquet"], f"train.mixture.{name}.parquet")
    for name, spec in EXTERNAL.items()
    if "parquet" in spec
}
EXTERNAL_TOKENS = {
    name: spec["tokens"] for name, spec in EXTERNAL.items() if "tokens" in spec
}
MIXTURE = mixture_weights(config, SOURCES)


def external_parts(name):
    """Part names of an external parquet source, one per file: 00000, 00001, ..."""
    return [f"{i:05d}" for i in range(len(EXTERNAL_PARQUET[name]))]


def token_stats(names=None):
    """results/tokens/<name>/stats.json of each mixture member: it lists the member's token folders."""
    return [
        f"results/tokens/{name}/stats.json"
        for name in (MIXTURE if names is None else names)
    ]
