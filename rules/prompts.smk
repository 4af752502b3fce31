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
        params:
            source=source,
            spec=source_config(config, source),
            audiences={a: config["audiences"][a] for a in source_config(config, source)["audiences"]},
            seed=config["seed"],
            templates_dir="templates",
        log:
            f"logs/prompts/{source}.log",
        conda:
            "../envs/prompts.yaml"
        localrule: True
        script:
            "../scripts/prompts.py"
