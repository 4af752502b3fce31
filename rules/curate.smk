rule decontaminate:
    input:
        generations="results/generations/{source}/{shard}.parquet",
        benchmarks=benchmark_files(config["decontamination"]["benchmarks"]),
    output:
        clean="results/clean/{source}/{shard}.parquet",
        removed="results/clean/{source}/{shard}.removed.parquet",
    params:
        decontamination=config["decontamination"],
        benchmarks=benchmark_specs(config["decontamination"]["benchmarks"]),
    resources:
        mem_mb=2000,
    log:
        "logs/decontaminate/{source}/{shard}.log",
    conda:
        "../envs/curate.yaml"
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
    params:
        decontamination=config["decontamination"],
        config_hash=CONFIG_HASH,
    log:
        "logs/contamination_table.log",
    conda:
        "../envs/curate.yaml"
    localrule: True
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
    params:
        dedup=config["dedup"],
        config_hash=CONFIG_HASH,
        workdir="results/work/dedup",
    threads: 2
    resources:
        mem_mb=4000,
    log:
        "logs/dedup.log",
    conda:
        "../envs/curate.yaml"
    script:
        "../scripts/dedup.py"
