import os

# The command that rebuilds this run, for the dataset card. config.yaml is the Snakefile's own
# configfile: naming it again changes nothing, so `make run` and plain `snakemake` agree.
REBUILD_COMMAND = " ".join(
    [
        "snakemake --profile profiles/default",
        *(
            f"--configfile {os.path.relpath(f)}"
            for f in workflow.overwrite_configfiles or []
            if os.path.relpath(f) != "config.yaml"
        ),
    ]
)


# Per dataset shard: mergeable diversity counts, the near-duplicate sample and the
# sample-generation candidates (the merge gives what one pass over all rows gives).
rule diversity_shard:
    input:
        "results/curated/{source}/{shard}.parquet",
    output:
        counts="results/diversity/{source}/{shard}.counts.parquet",
        sample="results/diversity/{source}/{shard}.sample.parquet",
        examples="results/diversity/{source}/{shard}.examples.parquet",
    log:
        "logs/diversity_shard/{source}/{shard}.log",
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=2000,
    params:
        seed=config["seed"],
        sample_size=config["report"]["near_duplicate_sample"],
        examples_per_group=config["report"]["samples_per_group"],
        precision=config["report"]["distinct_ngram_precision"],
    script:
        "../scripts/diversity_shard.py"


rule diversity_table:
    input:
        counts=stage_shards("diversity", ".counts.parquet"),
        samples=stage_shards("diversity", ".sample.parquet"),
    output:
        table=report(
            "results/tables/diversity.csv",
            caption="../report/diversity.rst",
            category="Diversity",
        ),
        figure=report(
            "results/figures/diversity.png",
            caption="../report/diversity.rst",
            category="Diversity",
        ),
    log:
        "logs/diversity_table.log",
    benchmark:
        "logs/benchmarks/diversity_table/diversity.tsv"
    conda:
        "../envs/report.yaml"
    # MiniLM embeds the merged sample on exactly these threads.
    threads: 2
    resources:
        mem_mb=4000,
    params:
        sample_size=config["report"]["near_duplicate_sample"],
        threshold=config["report"]["near_duplicate_threshold"],
        precision=config["report"]["distinct_ngram_precision"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/diversity_table.py"


rule samples:
    input:
        stage_shards("diversity", ".examples.parquet"),
    output:
        table="results/tables/samples.csv",
        page=report(
            "results/report/samples.html",
            caption="../report/samples.rst",
            category="Samples",
        ),
    log:
        "logs/samples.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        per_group=config["report"]["samples_per_group"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/samples.py"


rule removed_documents:
    input:
        removed=stage_shards("clean", ".removed.parquet"),
        generations=stage_shards("generations"),
    output:
        table="results/tables/removed_documents.csv",
        page=report(
            "results/report/removed_documents.html",
            caption="../report/removed_documents.rst",
            category="Provenance",
        ),
    log:
        "logs/removed_documents.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/removed_documents.py"


rule report_figures:
    input:
        losses=expand("results/tables/loss_{run}.csv", run=RUNS),
        evals="results/tables/eval.csv" if RUNS and TASKS else [],
        generation="results/tables/generation.csv",
        contamination="results/tables/contamination.csv",
    output:
        loss=report(
            "results/figures/loss.png",
            caption="../report/loss_figure.rst",
            category="Training",
        ),
        eval=report(
            "results/figures/eval.png",
            caption="../report/eval_figure.rst",
            category="Evaluation",
        ),
        throughput=report(
            "results/figures/throughput.png",
            caption="../report/throughput.rst",
            category="Generation",
        ),
        contamination=report(
            "results/figures/contamination.png",
            caption="../report/contamination_figure.rst",
            category="Curation",
        ),
    log:
        "logs/report_figures.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        runs=RUNS,
        config_hash=CONFIG_HASH,
    script:
        "../scripts/report_figures.py"


rule dataset_export:
    input:
        shards=stage_shards("curated"),
        dedup="results/tables/dedup.csv",
        contamination="results/tables/contamination.csv",
        diversity="results/tables/diversity.csv",
    output:
        export=directory("results/dataset"),
        page=report(
            "results/report/dataset.html",
            caption="../report/dataset.rst",
            category="Dataset",
        ),
    log:
        "logs/dataset_export.log",
    conda:
        "../envs/report.yaml"
    params:
        settings=config["report"]["dataset"],
        generation={
            key: config["generation"][key] for key in ("backend", "model", "sampling")
        },
        seed=config["seed"],
        config_hash=CONFIG_HASH,
        command=REBUILD_COMMAND,
    script:
        "../scripts/dataset_export.py"
