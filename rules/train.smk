rule train:
    input:
        tokens=expand("results/tokens/{source}/data", source=SOURCES),
        tokenizer="results/tokenizer/tokenizer.json",
    output:
        checkpoint=directory("results/checkpoints/{run}"),
        loss=report(
            "results/tables/loss_{run}.csv",
            caption="../report/loss.rst",
            category="Training",
        ),
    log:
        "logs/train/{run}.log",
    benchmark:
        "benchmarks/train/{run}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        sources=SOURCES,
        mixture=config["train"]["mixture"],
        run=lambda wildcards: config["train"]["runs"][wildcards.run],
        seed=config["seed"],
    script:
        "../scripts/train.py"
