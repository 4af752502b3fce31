rule decontaminate:
    input:
        generations="results/generations/{source}/{shard}.parquet",
        benchmarks=benchmark_files(config["decontamination"]["benchmarks"]),
    output:
        clean="results/clean/{source}/{shard}.parquet",
        removed="results/clean/{source}/{shard}.removed.parquet",
    log:
        "logs/decontaminate/{source}/{shard}.log",
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


rule dedup:
    input:
        stage_shards("clean"),
    output:
        shards=stage_shards("dataset"),
        table=report(
            "results/tables/dedup.csv",
            caption="../report/dedup.rst",
            category="Curation",
        ),
        removed="results/tables/dedup_removed.parquet",
    log:
        "logs/dedup.log",
    conda:
        "../envs/curate.yaml"
    # datatrove runs up to this many workers at once
    threads: 2
    resources:
        mem_mb=4000,
    params:
        dedup=config["dedup"],
        config_hash=CONFIG_HASH,
        workdir="results/work/dedup",
    script:
        "../scripts/dedup.py"
