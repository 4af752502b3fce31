from synthpedia.workflow import scaled, size_mb

# Every job here holds at most one shard (or one external file) in memory, whatever the corpus size;
# the tokenizer's training also holds its bounded sample (tokenizer.sample_documents).
TOKENIZER = config["tokenizer"]


if TOKENIZER["pretrained"]:

    # A pretrained tokenizer (file, folder or hub id) copied in: no BPE is trained.
    rule pretrained_tokenizer:
        output:
            tokenizer="results/tokenizer/tokenizer.json",
            eos="results/tokenizer/tokenizer_config.json",
        log:
            "logs/pretrained_tokenizer.log",
        conda:
            "../envs/tokenize.yaml"
        params:
            pretrained=TOKENIZER["pretrained"],
        script:
            "../scripts/pretrained_tokenizer.py"

else:

    # Measured on ~500-word documents, a 2k-document sample: peak RSS 170 MB over 10k documents,
    # 178 MB over 40k (the whole 40k: 277 MB, 10x the time). The sample's texts, BPE word counts
    # included, take well under 20 kB a document.
    rule train_tokenizer:
        input:
            stage_shards("curated"),
        output:
            tokenizer="results/tokenizer/tokenizer.json",
            eos="results/tokenizer/tokenizer_config.json",
        log:
            "logs/train_tokenizer.log",
        benchmark:
            "logs/benchmarks/train_tokenizer/tokenizer.tsv"
        conda:
            "../envs/tokenize.yaml"
        # BPE training and the polars reads run on exactly these threads.
        threads: 2
        resources:
            mem_mb=lambda wildcards, input: scaled(
                1000 + TOKENIZER["sample_documents"] // 50,
                6,
                max((size_mb([path]) for path in input), default=0),
            ),
            runtime=lambda wildcards, input: scaled(10, 1 / 600, size_mb(input)),
        params:
            tokenizer=TOKENIZER,
            seed=config["seed"],
        script:
            "../scripts/train_tokenizer.py"


# One job per curated shard; a source's stats.json lists its shard folders in order for training.
# Measured on ~500-word documents: ~2.4 s per MB of parquet on 2 threads, peak RSS ~0.4 GB for a
# 5.5 MB shard (encode_batch runs 1k documents at a time).
rule tokenize:
    input:
        shard="results/curated/{source}/{shard}.parquet",
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        tokens=directory("results/tokens/{source}/{shard}"),
        stats="results/tokens/{source}/{shard}.stats.json",
    log:
        "logs/tokenize/{source}/{shard}.log",
    benchmark:
        "logs/benchmarks/tokenize/{source}/{shard}.tsv"
    conda:
        "../envs/tokenize.yaml"
    # tokenizers' encode_batch runs on exactly these threads.
    threads: 2
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 8, size_mb([input.shard])),
        runtime=lambda wildcards, input: scaled(10, 1 / 20, size_mb([input.shard])),
    params:
        # Scratch: emptied when a job starts (a killed attempt's leftovers go) and removed after.
        workdir="results/work/tokenize/{source}/{shard}",
        seed=config["seed"],
        name="{source}_{shard}",
        external=False,
    script:
        "../scripts/tokenize.py"


rule token_stats:
    input:
        stats=lambda wildcards: stage_paths(
            config, "tokens", [wildcards.source], ".stats.json"
        ),
        tokens=lambda wildcards: stage_paths(config, "tokens", [wildcards.source], ""),
    output:
        "results/tokens/{source}/stats.json",
    log:
        "logs/token_stats/{source}.log",
    localrule: True
    conda:
        "../envs/tokenize.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/token_stats.py"


# External mixture members (train.mixture.<name>.parquet): one job per parquet file.
rule tokenize_external:
    input:
        shard=lambda wildcards: EXTERNAL_PARQUET[wildcards.external][
            int(wildcards.part)
        ],
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        tokens=directory("results/tokens/{external}/{part}"),
        stats="results/tokens/{external}/{part}.stats.json",
    log:
        "logs/tokenize/{external}/{part}.log",
    benchmark:
        "logs/benchmarks/tokenize/{external}/{part}.tsv"
    wildcard_constraints:
        external=one_of(sorted(EXTERNAL_PARQUET)),
        part=r"\d{5}",
    conda:
        "../envs/tokenize.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, input: scaled(1000, 8, size_mb([input.shard])),
        runtime=lambda wildcards, input: scaled(10, 1 / 20, size_mb([input.shard])),
    params:
        workdir="results/work/tokenize/{external}/{part}",
        seed=config["seed"],
        name="{external}_{part}",
        external=True,
    script:
        "../scripts/tokenize.py"


rule external_token_stats:
    input:
        stats=lambda wildcards: [
            f"results/tokens/{wildcards.external}/{part}.stats.json"
            for part in external_parts(wildcards.external)
        ],
        tokens=lambda wildcards: [
            f"results/tokens/{wildcards.external}/{part}"
            for part in external_parts(wildcards.external)
        ],
    output:
        "results/tokens/{external}/stats.json",
    log:
        "logs/token_stats/{external}.log",
    wildcard_constraints:
        external=one_of(sorted(EXTERNAL_PARQUET)),
    localrule: True
    conda:
        "../envs/tokenize.yaml"
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/token_stats.py"


# External token folders (train.mixture.<name>.tokens) are used as they are, once checked
# against the run's tokenizer.
rule check_external_tokens:
    input:
        tokenizer="results/tokenizer/tokenizer.json",
        tokens=lambda wildcards: EXTERNAL_TOKENS[wildcards.external],
    output:
        "results/tokens/{external}/stats.json",
    log:
        "logs/check_external_tokens/{external}.log",
    wildcard_constraints:
        external=one_of(sorted(EXTERNAL_TOKENS)),
    localrule: True
    conda:
        "../envs/tokenize.yaml"
    params:
        pretrained=TOKENIZER["pretrained"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/check_tokens.py"
