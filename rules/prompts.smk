# One rule per source: each source has its own shard count, known from config.
for source in GEN_SOURCES:

    rule:
        name:
            f"prompts_{source}"
        input:
            seeds=f"results/seeds/{source}.parquet",
            templates=template_files(source, "templates"),
        output:
            prompt_shards(source),
        log:
            f"logs/prompts/{source}.log",
        localrule: True
        conda:
            "../envs/prompts.yaml"
        params:
            source=source,
            spec=source_settings(config, source),
            audiences={
                a: config["audiences"][a]
                for a in source_settings(config, source)["audiences"]
            },
            seed=config["seed"],
            templates_dir=lambda wildcards, input: templates_root(input.templates),
        script:
            "../scripts/prompts.py"


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
