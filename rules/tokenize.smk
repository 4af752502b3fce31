rule train_tokenizer:
    input:
        stage_shards("curated"),
    output:
        "results/tokenizer/tokenizer.json",
    log:
        "logs/train_tokenizer.log",
    benchmark:
        "logs/benchmarks/train_tokenizer/tokenizer.tsv"
    conda:
        "../envs/tokenize.yaml"
    # BPE training and the polars reads run on exactly these threads.
    threads: 2
    params:
        tokenizer=config["tokenizer"],
    script:
        "../scripts/train_tokenizer.py"


rule tokenize:
    input:
        shards=source_stage_shards("curated"),
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        tokens=directory("results/tokens/{source}/data"),
        stats="results/tokens/{source}/stats.json",
    log:
        "logs/tokenize/{source}.log",
    benchmark:
        "logs/benchmarks/tokenize/{source}.tsv"
    conda:
        "../envs/tokenize.yaml"
    # tokenizers' encode_batch runs on exactly these threads.
    threads: 2
    params:
        workdir="results/work/tokenize/{source}",
        seed=config["seed"],
    script:
        "../scripts/tokenize.py"
