rule tokenizer:
    input:
        stage_shards("dataset"),
    output:
        "results/tokenizer/tokenizer.json",
    params:
        tokenizer=config["tokenizer"],
    log:
        "logs/tokenizer.log",
    conda:
        "../envs/tokenize.yaml"
    script:
        "../scripts/tokenizer.py"


rule tokenize:
    input:
        shards=source_stage_shards("dataset"),
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        tokens=directory("results/tokens/{source}/data"),
        stats="results/tokens/{source}/stats.json",
    params:
        workdir="results/work/tokenize/{source}",
        seed=config["seed"],
    log:
        "logs/tokenize/{source}.log",
    conda:
        "../envs/tokenize.yaml"
    script:
        "../scripts/tokenize.py"
