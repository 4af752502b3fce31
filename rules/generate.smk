from synthpedia.workflow import (
    answer_schema,
    generation_fingerprint,
    generation_gpus,
    imported_files,
    imported_schema,
)


rule generate:
    input:
        "results/prompts/{source}/{shard}.parquet",
    output:
        generations="results/generations/{source}/{shard}.parquet",
        failed="results/generations/{source}/{shard}.failed.parquet",
        stats="results/generations/{source}/{shard}.stats.json",
    log:
        "logs/generate/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/generate/{source}/{shard}.tsv"
    # Imported sources' generation shards come from rule import_generations.
    wildcard_constraints:
        source=one_of(GEN_SOURCES),
    conda:
        GENERATION_ENV
    threads: 2
    resources:
        # vLLM stages weights and CUDA graphs in host memory.
        mem_mb=64000 if config["generation"]["backend"] == "vllm" else 4000,
        runtime=240,
        gpu=generation_gpus(config["generation"]),
    params:
        # What decides the outputs; runtime-only settings (concurrency, workers, server URL) are
        # read from the config by the script, so tuning them reruns nothing.
        generation=generation_fingerprint(config["generation"]),
        seed=config["seed"],
        # The shape answers are held to (Stanford's outlines), from the source registry.
        answer_schema=lambda wildcards: answer_schema(wildcards.source),
        # Not an output: the ledger must survive a failed job so that the rerun resumes.
        ledger="results/ledger/{source}/{shard}.jsonl",
    script:
        "../scripts/generate.py"


rule generation_table:
    input:
        stage_shards("generations", ".stats.json", sources=GEN_SOURCES),
    output:
        report(
            "results/tables/generation.csv",
            caption="../report/generation.rst",
            category="Generation",
        ),
    log:
        "logs/generation_table.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/generation_table.py"


# Generations made elsewhere (a source whose registry record `imports` a published schema, e.g.
# Cosmopedia's parquet files): each input file becomes one generation shard, read in bounded
# batches; the stages after generation read it as they read a generated shard.
rule import_generations:
    input:
        lambda wildcards: imported_files(config, wildcards.source)[int(wildcards.shard)],
    output:
        "results/generations/{source}/{shard}.parquet",
    log:
        "logs/import_generations/{source}/{shard}.log",
    wildcard_constraints:
        source=one_of(IMPORTED_SOURCES),
    conda:
        "../envs/curate.yaml"
    # one batch of batch_rows rows in memory at a time
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        schema=lambda wildcards: imported_schema(wildcards.source),
        spec=lambda wildcards: source_settings(config, wildcards.source),
    script:
        "../scripts/import_generations.py"
