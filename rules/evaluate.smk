rule eval_task:
    input:
        lambda wildcards: benchmark_files([wildcards.task]),
    output:
        "results/eval/tasks/{task}.jsonl",
    params:
        spec=task_spec,
    log:
        "logs/eval_task/{task}.log",
    conda:
        "../envs/evaluate.yaml"
    localrule: True
    script:
        "../scripts/eval_task.py"


rule evaluate:
    input:
        checkpoint="results/checkpoints/{run}",
        tasks=expand("results/eval/tasks/{task}.jsonl", task=TASKS),
    output:
        "results/eval/{run}.json",
    params:
        tasks=TASKS,
        evaluation=config["evaluation"],
        seed=config["seed"],
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "benchmarks/evaluate/{run}.tsv"
    conda:
        "../envs/evaluate.yaml"
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
    params:
        runs=RUNS,
        config_hash=CONFIG_HASH,
    log:
        "logs/eval_table.log",
    conda:
        "../envs/evaluate.yaml"
    localrule: True
    script:
        "../scripts/eval_table.py"
