# Prompts in two kinds of jobs (synthpedia.prompt_shards): prompts_<source> plans the source's
# prompts on their ids (the seeded max_prompts sample, each id's shard) and checks its
# templates; prompt_shard renders one shard from the seed rows its ids name. No job holds a
# whole source's prompt texts, and each shard is byte-identical to rendering the source at once.
from synthpedia.workflow import scaled, size_mb

for source in GEN_SOURCES:

    rule:
        name:
            f"prompts_{source}"
        input:
            seeds=f"results/seeds/{source}.parquet",
            templates=template_files(source, "templates"),
        output:
            f"results/prompt_index/{source}.parquet",
        log:
            f"logs/prompts/{source}.log",
        benchmark:
            f"logs/benchmarks/prompts_{source}/plan.tsv"
        conda:
            "../envs/prompts.yaml"
        # ids only: ~100 bytes per prompt, seeds read in batches
        resources:
            mem_mb=lambda wildcards, input: scaled(1000, 2, size_mb(input)),
            runtime=lambda wildcards, input: scaled(10, 1 / 20, size_mb(input)),
        params:
            source=source,
            spec=source_settings(config, source),
            seed=config["seed"],
            templates_dir=lambda wildcards, input: templates_root(input.templates),
        script:
            "../scripts/prompts.py"


# Per source, computed once: a job's inputs and params are looked up, not rebuilt (thousands of shards).
PROMPT_TEMPLATES = {
    source: template_files(source, "templates") for source in GEN_SOURCES
}
PROMPT_SPECS = {source: source_settings(config, source) for source in GEN_SOURCES}
PROMPT_AUDIENCES = {
    source: {a: config["audiences"][a] for a in PROMPT_SPECS[source]["audiences"]}
    for source in GEN_SOURCES
}


rule prompt_shard:
    input:
        seeds="results/seeds/{source}.parquet",
        index="results/prompt_index/{source}.parquet",
        templates=lambda wildcards: PROMPT_TEMPLATES[wildcards.source],
    output:
        "results/prompts/{source}/{shard}.parquet",
    log:
        "logs/prompt_shard/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/prompt_shard/{source}/{shard}.tsv"
    conda:
        "../envs/prompts.yaml"
    # the shard's seed rows and prompts; the seed table is streamed past
    resources:
        mem_mb=lambda wildcards, input: scaled(
            1000, 4 / PROMPT_SPECS[wildcards.source]["shards"], size_mb(input)
        ),
        runtime=lambda wildcards, input: scaled(10, 1 / 60, size_mb(input)),
    params:
        spec=lambda wildcards: PROMPT_SPECS[wildcards.source],
        audiences=lambda wildcards: PROMPT_AUDIENCES[wildcards.source],
        seed=config["seed"],
        templates_dir=lambda wildcards, input: templates_root(input.templates),
    script:
        "../scripts/prompt_shard.py"


rule prompt_mix:
    input:
        [path for source in SOURCES for path in prompt_shards(source)],
    output:
        table=report(
            "results/tables/prompt_mix.csv",
            caption="../report/prompt_mix.rst",
            category="Prompts",
        ),
        figure=report(
            "results/figures/prompt_mix.png",
            caption="../report/prompt_mix.rst",
            category="Prompts",
        ),
    log:
        "logs/prompt_mix.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/prompt_mix.py"
