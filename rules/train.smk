import json
from pathlib import Path

# Runs by backend: each backend has its rule, and a run name matches one of them only.
TORCH_RUNS = [
    run for run, spec in config["train"]["runs"].items() if spec["backend"] == "torch"
]
NANOTRON_RUNS = [
    run
    for run, spec in config["train"]["runs"].items()
    if spec["backend"] == "nanotron"
]


rule train:
    input:
        # Per mixture member (sources, then external ones): its stats.json, listing its token folders.
        tokens=token_stats(),
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
    wildcard_constraints:
        run=one_of(TORCH_RUNS),
    conda:
        "../envs/train.yaml"
    # torch trains on exactly these threads (--set-threads train=N to change them), shared among the
    # run's data-parallel processes when it has several.
    threads: 2
    resources:
        mem_mb=8000,
        runtime=600,
        gpu=lambda wildcards: config["train"]["runs"][wildcards.run]["gpus"],
    params:
        sources=list(MIXTURE),
        mixture=MIXTURE,
        run=lambda wildcards: config["train"]["runs"][wildcards.run],
        seed=config["seed"],
        config_hash=CONFIG_HASH,
        # Resume states: not an output, so a killed job's rerun finds them (removed after the checkpoint).
        state_dir="results/train_state/{run}",
    script:
        "../scripts/train.py"


rule train_nanotron:
    input:
        # Per mixture member (sources, then external ones): its stats.json, listing its token folders.
        tokens=token_stats(),
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
    wildcard_constraints:
        run=one_of(NANOTRON_RUNS),
    conda:
        "../envs/nanotron.yaml"
    threads: 8
    resources:
        mem_mb=64000,
        runtime=2880,
        gpu=lambda wildcards: max(1, config["train"]["runs"][wildcards.run]["gpus"]),
    params:
        # The JSON the nanotron job's steps read (synthpedia.train.nanotron_job).
        spec=lambda wildcards, input, output, threads: json.dumps(
            {
                "name": wildcards.run,
                "run": config["train"]["runs"][wildcards.run],
                "mixture": MIXTURE,
                "seed": config["seed"],
                "token_dirs": dict(zip(MIXTURE, input.tokens, strict=True)),
                "tokenizer": input.tokenizer,
                "work": f"results/train_state/{wildcards.run}",
                "checkpoint": output.checkpoint,
                "loss": output.loss,
                "log": f"logs/train/{wildcards.run}.log",
                "config_hash": CONFIG_HASH,
                "threads": threads,
                "offline": config["offline"],
            }
        ),
        trainer=lambda wildcards: config["train"]["runs"][wildcards.run]["trainer"],
        work="results/train_state/{run}",
        src=str(Path(workflow.basedir) / "src"),
    # nanotron's checkpoints under the run's work folder are its resume states (not outputs).
    shell:
        "export PYTHONPATH={params.src:q}; "
        "python -m synthpedia.train.nanotron_job config {params.spec:q} && "
        "torchrun --standalone --nnodes 1 --nproc-per-node {resources.gpu} {params.trainer} "
        "--config-file {params.work}/nanotron.yaml >> {log} 2>&1 && "
        "python -m synthpedia.train.nanotron_job convert {params.spec:q}"
