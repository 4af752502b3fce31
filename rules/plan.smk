# The pre-flight plan (synthpedia.plan): `snakemake plan` runs seeds and prompts only (and the web
# topic labelling, a few hundred prompts) and prints prompts, tokens, GPU-hours and disk per source.
from synthpedia.workflow import plan_sources

PLAN_RENDERED, PLAN_ESTIMATED = plan_sources(config)


rule plan:
    input:
        seeds=expand("results/seeds/{source}.parquet", source=PLAN_RENDERED),
        prompts=[path for source in PLAN_RENDERED for path in prompt_shards(source)],
    output:
        "results/tables/plan.csv",
    log:
        "logs/plan.log",
    localrule: True
    conda:
        "../envs/prompts.yaml"
    params:
        estimated=PLAN_ESTIMATED,
        specs={name: source_settings(config, name) for name in PLAN_ESTIMATED},
        plan=config["plan"],
        model=config["generation"]["model"],
        max_tokens=config["generation"]["sampling"]["max_tokens"],
        vocab_size=config["tokenizer"]["vocab_size"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/plan.py"
