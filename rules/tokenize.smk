rule tokenizer:
    input:
        stage_shards("dataset"),
    output:
        "results/tokenizer/tokenizer.json",
    log:
        "logs/tokenizer.log",
    conda:
        "../envs/tokenize.yaml"
    params:
        tokenizer=config["tokenizer"],
    script:
        "../scripts/tokenizer.py"


rule tokenize:
    input:
        shards=source_stage_shards("dataset"),
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        tokens=directory("results/tokens/{source}/data"),
        stats="results/tokens/{source}/stats.json",
    log:
        "logs/tokenize/{source}.log",
    conda:
        "../envs/tokenize.yaml"
    params:
        workdir="results/work/tokenize/{source}",
        seed=config["seed"],
    script:
        "../scripts/tokenize.py"
