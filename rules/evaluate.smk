rule eval_task:
    input:
        lambda wildcards: benchmark_files([wildcards.task]),
    output:
        "results/eval/tasks/{task}.jsonl",
    log:
        "logs/eval_task/{task}.log",
    localrule: True
    conda:
        "../envs/evaluate.yaml"
    params:
        spec=task_spec,
    script:
        "../scripts/eval_task.py"


rule evaluate:
    input:
        checkpoint="results/checkpoints/{run}",
        tasks=expand("results/eval/tasks/{task}.jsonl", task=TASKS),
    output:
        "results/eval/{run}.json",
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "logs/benchmarks/evaluate/{run}.tsv"
    conda:
        "../envs/evaluate.yaml"
    # torch scores on exactly these threads
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        tasks=TASKS,
        max_samples=config["evaluation"]["max_samples"],
        batch_size=config["evaluation"]["batch_size"],
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule eval_table:
    input:
        expand("results/eval/{run}.json", run=RUNS),
    output:
        report(
            "results/tables/eval.csv",
            caption="../report/eval.rst",
            category="Evaluation",
        ),
    log:
        "logs/eval_table.log",
    localrule: True
    conda:
        "../envs/evaluate.yaml"
    params:
        runs=RUNS,
        config_hash=CONFIG_HASH,
    script:
        "../scripts/eval_table.py"
