# Web samples -> topics: extract, filter, embed (in slices), cluster (a seeded fit sample), label
# clusters with the LLM, keep topics, assign every web document its topic and styles (in slices).
# The web seeds rule reads results/web/assigned.parquet. Each rule runs scripts/<rule>.py, which calls
# <rule>_job in synthpedia.web.<module>.
from synthpedia.workflow import (
    generation_fingerprint,
    generation_gpus,
    scaled,
    size_mb,
    web_input_files,
)


rule web_extract:
    input:
        # Globbed here, once: the job reads exactly these files.
        lambda wildcards: web_input_files(config["sources"]["web"]["inputs"]),
    output:
        "results/web/documents.parquet",
    log:
        "logs/web/extract.log",
    conda:
        "../envs/web.yaml"
    params:
        spec=lambda wildcards: web_spec(),
    script:
        "../scripts/web_extract.py"


rule web_filter:
    input:
        "results/web/documents.parquet",
    output:
        docs="results/web/filtered.parquet",
        stats=report(
            "results/tables/web_filters.csv",
            caption="../report/web_filters.rst",
            category="Web topics",
        ),
    log:
        "logs/web/filter.log",
    conda:
        "../envs/web.yaml"
    params:
        spec=lambda wildcards: web_spec(),
        config_hash=CONFIG_HASH,
    script:
        "../scripts/web_filter.py"


# Embedding and assignment run on slices of the filtered documents, one job each; UMAP and the
# clustering are fitted on a seeded sample (sources.web.fit_sample) in one job.
WEB_PARTS = (
    [f"{p:03d}" for p in range(config["sources"]["web"]["embed_shards"])]
    if "web" in config["sources"]
    else []
)


# all-MiniLM-L6-v2 on CPU: ~660 short texts/s on 2 cores; the slice's texts and vectors in memory.
rule web_embed:
    input:
        "results/web/filtered.parquet",
    output:
        "results/web/embeddings/{part}.parquet",
    log:
        "logs/web/embed/{part}.log",
    benchmark:
        "logs/benchmarks/web_embed/{part}.tsv"
    wildcard_constraints:
        part=r"\d{3}",
    conda:
        "../envs/web.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, input: scaled(2000, 4 / len(WEB_PARTS), size_mb(input)),
        runtime=lambda wildcards, input: scaled(10, 1 / len(WEB_PARTS), size_mb(input)),
    params:
        spec=lambda wildcards: web_spec(),
        parts=len(WEB_PARTS),
    script:
        "../scripts/web_embed.py"


# UMAP and the clustering hold the fit sample only (~100k x 384 floats in the original's setting).
rule web_cluster:
    input:
        expand("results/web/embeddings/{part}.parquet", part=WEB_PARTS),
    output:
        clusters="results/web/clusters.parquet",
        centroids="results/web/centroids.parquet",
    log:
        "logs/web/cluster.log",
    benchmark:
        "logs/benchmarks/web_cluster/cluster.tsv"
    conda:
        "../envs/web.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, input: scaled(4000, 0.05, size_mb(input), cap=32000),
        runtime=lambda wildcards, input: scaled(30, 1 / 100, size_mb(input)),
    params:
        spec=lambda wildcards: web_spec(),
        seed=config["seed"],
    script:
        "../scripts/web_cluster.py"


rule web_label_prompts:
    input:
        docs="results/web/filtered.parquet",
        clusters="results/web/clusters.parquet",
        template="templates/web/label_topic.j2",
    output:
        "results/web/label_prompts.parquet",
    log:
        "logs/web/label_prompts.log",
    localrule: True
    conda:
        "../envs/web.yaml"
    params:
        spec=lambda wildcards: web_spec(),
        seed=config["seed"],
    script:
        "../scripts/web_label_prompts.py"


rule web_label:
    input:
        "results/web/label_prompts.parquet",
    output:
        "results/web/labels.parquet",
    log:
        "logs/web/label.log",
    benchmark:
        "logs/benchmarks/web_label/label.tsv"
    conda:
        GENERATION_ENV
    threads: 2
    resources:
        mem_mb=4000,
        gpu=generation_gpus(config["generation"]),
    params:
        spec=lambda wildcards: web_spec(),
        # What decides the labels; runtime-only settings are read from the config by the script.
        generation=generation_fingerprint(config["generation"]),
        seed=config["seed"],
        # Not an output: survives a failed job so that the rerun resumes.
        ledger="results/ledger/web_labels.jsonl",
    script:
        "../scripts/web_label.py"


rule web_topics:
    input:
        labels="results/web/labels.parquet",
        clusters="results/web/clusters.parquet",
    output:
        # The pipeline's copy (read by web_assign); the CSV is for people and the report.
        topics="results/web/topics.parquet",
        table=report(
            "results/tables/web_topics.csv",
            caption="../report/web_topics.rst",
            category="Web topics",
        ),
        figure=report(
            "results/figures/web_clusters.png",
            caption="../report/web_topics.rst",
            category="Web topics",
        ),
    log:
        "logs/web/topics.log",
    localrule: True
    conda:
        "../envs/web.yaml"
    params:
        spec=lambda wildcards: web_spec(),
        seed=config["seed"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/web_topics.py"


rule web_assign:
    input:
        docs="results/web/filtered.parquet",
        embeddings="results/web/embeddings/{part}.parquet",
        centroids="results/web/centroids.parquet",
        topics="results/web/topics.parquet",
    output:
        temp("results/web/assigned/{part}.parquet"),
    log:
        "logs/web/assign/{part}.log",
    benchmark:
        "logs/benchmarks/web_assign/{part}.tsv"
    wildcard_constraints:
        part=r"\d{3}",
    conda:
        "../envs/web.yaml"
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 4 / len(WEB_PARTS), size_mb(input)),
    params:
        spec=lambda wildcards: web_spec(),
        parts=len(WEB_PARTS),
    script:
        "../scripts/web_assign.py"


rule web_assigned:
    input:
        expand("results/web/assigned/{part}.parquet", part=WEB_PARTS),
    output:
        "results/web/assigned.parquet",
    log:
        "logs/web/assigned.log",
    localrule: True
    conda:
        "../envs/web.yaml"
    script:
        "../scripts/web_assigned.py"
