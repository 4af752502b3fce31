from synthpedia.workflow import load_schema

# Defaults of an evaluation.per_task entry, from the schema (the one place they are written).
EVAL_TASK_DEFAULTS = {
    key: spec["default"]
    for key, spec in load_schema()["definitions"]["eval_task"]["properties"].items()
    if "default" in spec
}
# Each task's settings: its per_task entry over the schema's defaults and evaluation.max_samples.
EVAL_SETTINGS = {
    task: {
        **EVAL_TASK_DEFAULTS,
        "max_samples": config["evaluation"]["max_samples"],
        **config["evaluation"]["per_task"].get(task, {}),
    }
    for task in TASKS
}


rule eval_task:
    input:
        lambda wildcards: benchmark_files([wildcards.task]),
        fewshot=lambda wildcards: config["benchmarks"][wildcards.task].get(
            "fewshot", []
        ),
    output:
        "results/eval/tasks/{task}.jsonl",
    log:
        "logs/eval_task/{task}.log",
    localrule: True
    conda:
        "../envs/evaluate.yaml"
    params:
        spec=task_spec,
        num_fewshot=lambda wildcards: EVAL_SETTINGS[wildcards.task]["num_fewshot"],
        seed=config["seed"],
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
        max_samples={task: EVAL_SETTINGS[task]["max_samples"] for task in TASKS},
        max_new_tokens={task: EVAL_SETTINGS[task]["max_new_tokens"] for task in TASKS},
        batch_size=config["evaluation"]["batch_size"],
        seed=config["seed"],
    script:
        "../scripts/evaluate.py"


rule eval_table:
    input:
        results=expand("results/eval/{run}.json", run=RUNS),
        # what decontamination removed, per benchmark (the data of the contamination table)
        removed=stage_shards("clean", ".removed.parquet"),
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
        groups=config["decontamination"]["groups"],
        benchmarks=config["decontamination"]["benchmarks"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/eval_table.py"
