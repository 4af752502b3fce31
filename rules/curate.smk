from synthpedia.workflow import scaled, size_mb


rule decontaminate:
    input:
        generations="results/generations/{source}/{shard}.parquet",
        benchmarks=benchmark_files(config["decontamination"]["benchmarks"]),
    output:
        clean="results/clean/{source}/{shard}.parquet",
        removed="results/clean/{source}/{shard}.removed.parquet",
    log:
        "logs/decontaminate/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/decontaminate/{source}/{shard}.tsv"
    conda:
        "../envs/curate.yaml"
    resources:
        mem_mb=2000,
    params:
        benchmarks=benchmark_specs(config["decontamination"]["benchmarks"]),
        ngram=config["decontamination"]["ngram"],
        threshold=config["decontamination"]["threshold"],
        min_block=config["decontamination"]["min_block"],
        every_item=config["decontamination"]["every_item"],
    script:
        "../scripts/decontaminate.py"


rule contamination_table:
    input:
        stage_shards("clean", ".removed.parquet"),
    output:
        report(
            "results/tables/contamination.csv",
            caption="../report/contamination.rst",
            category="Curation",
        ),
    log:
        "logs/contamination_table.log",
    localrule: True
    conda:
        "../envs/curate.yaml"
    params:
        groups=config["decontamination"]["groups"],
        benchmarks=config["decontamination"]["benchmarks"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/contamination_table.py"


# Near-duplicates: datatrove's four MinHash stages as jobs (synthpedia.dedup). A clean shard's
# datatrove rank is its place in DEDUP_SHARDS. Scratch folders are the jobs' own temp() outputs:
# removed once read, and emptied by a job that starts again after a kill.
DEDUP_SHARDS = stage_shards("clean")
DEDUP_SIGNATURES = stage_shards("work/dedup/signatures", suffix="")
DEDUP_BUCKETS = expand(
    "results/work/dedup/buckets/{bucket}",
    bucket=[f"{b:03d}" for b in range(config["dedup"]["buckets"])],
)


DEDUP_RANKS = {path: rank for rank, path in enumerate(DEDUP_SHARDS)}


# Measured on ~500-word documents: a shard in memory takes ~6x its parquet size; signatures
# run at ~2.5k documents/s (~4 MB of parquet/s) per core.
rule dedup_signatures:
    input:
        "results/clean/{source}/{shard}.parquet",
    output:
        temp(directory("results/work/dedup/signatures/{source}/{shard}")),
    log:
        "logs/dedup_signatures/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/dedup_signatures/{source}/{shard}.tsv"
    conda:
        "../envs/curate.yaml"
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 6, size_mb(input)),
        runtime=lambda wildcards, input: scaled(10, 1 / 120, size_mb(input)),
    params:
        dedup=config["dedup"],
    script:
        "../scripts/dedup_signatures.py"


# One reader per shard, each with a small buffer: memory follows the shard count, not the corpus.
rule dedup_buckets:
    input:
        DEDUP_SIGNATURES,
    output:
        temp(directory("results/work/dedup/buckets/{bucket}")),
    log:
        "logs/dedup_buckets/{bucket}.log",
    benchmark:
        "logs/benchmarks/dedup_buckets/{bucket}.tsv"
    wildcard_constraints:
        bucket=r"\d{3}",
    conda:
        "../envs/curate.yaml"
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 2, len(input)),
        runtime=lambda wildcards, input: scaled(
            10, 1 / 60 / config["dedup"]["buckets"], size_mb(input)
        ),
    params:
        dedup=config["dedup"],
    script:
        "../scripts/dedup_buckets.py"


# The union-find holds the duplicates only (under 1% of documents in the original).
rule dedup_clusters:
    input:
        buckets=DEDUP_BUCKETS,
        signatures=DEDUP_SIGNATURES,
    output:
        clusters=temp(directory("results/work/dedup/clusters")),
        removed="results/tables/dedup_removed.parquet",
    log:
        "logs/dedup_clusters.log",
    benchmark:
        "logs/benchmarks/dedup_clusters/clusters.tsv"
    conda:
        "../envs/curate.yaml"
    resources:
        mem_mb=lambda wildcards, input: scaled(2000, 0.5, size_mb(input.buckets)),
        runtime=lambda wildcards, input: scaled(10, 1 / 60, size_mb(input.buckets)),
    params:
        dedup=config["dedup"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/dedup_clusters.py"


rule dedup_filter:
    input:
        shard="results/clean/{source}/{shard}.parquet",
        clusters="results/work/dedup/clusters",
    output:
        "results/curated/{source}/{shard}.parquet",
    log:
        "logs/dedup_filter/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/dedup_filter/{source}/{shard}.tsv"
    conda:
        "../envs/curate.yaml"
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 8, size_mb([input.shard])),
        runtime=lambda wildcards, input: scaled(10, 1 / 60, size_mb([input.shard])),
    params:
        rank=lambda wildcards: DEDUP_RANKS[
            f"results/clean/{wildcards.source}/{wildcards.shard}.parquet"
        ],
    script:
        "../scripts/dedup_filter.py"


rule dedup:
    input:
        clean=DEDUP_SHARDS,
        dataset=stage_shards("curated"),
    output:
        report(
            "results/tables/dedup.csv",
            caption="../report/dedup.rst",
            category="Curation",
        ),
    log:
        "logs/dedup.log",
    localrule: True
    conda:
        "../envs/curate.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/dedup.py"
