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
        "logs/benchmarks/train/{run}.tsv"
    conda:
        "../envs/train.yaml"
    # torch trains on exactly these threads (--set-threads train=N to change them), shared among the
    # run's data-parallel processes when it has several.
    threads: 2
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        sources=SOURCES,
        mixture=config["train"]["mixture"],
        run=lambda wildcards: config["train"]["runs"][wildcards.run],
        seed=config["seed"],
        config_hash=CONFIG_HASH,
        # Resume states: not an output, so a killed job's rerun finds them (removed after the checkpoint).
        state_dir="results/train_state/{run}",
    script:
        "../scripts/train.py"
