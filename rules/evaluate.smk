from synthpedia.errors import InputError
from synthpedia.workflow import load_schema

# Defaults of an evaluation.per_task entry, from the schema (the one place they are written).
EVAL_TASK_DEFAULTS = {
    key: spec["default"]
    for key, spec in load_schema()["definitions"]["eval_task"]["properties"].items()
    if "default" in spec
}
for _name in config["evaluation"]["per_task"]:
    if _name not in TASKS:
        raise InputError(
            f"config key 'evaluation.per_task.{_name}': '{_name}' is not one of evaluation.tasks ({', '.join(TASKS)})"
        )


def eval_settings(task):
    """The evaluation settings of `task`: its per_task entry over the schema's defaults; max_samples
    falls back to evaluation.max_samples."""
    settings = {**EVAL_TASK_DEFAULTS, **config["evaluation"]["per_task"].get(task, {})}
    settings.setdefault("max_samples", config["evaluation"]["max_samples"])
    return settings


def eval_task_inputs(wildcards):
    """The benchmark's files, its few-shot file included."""
    spec = config["benchmarks"][wildcards.task]
    return benchmark_files([wildcards.task]) + ([spec["fewshot"]] if "fewshot" in spec else [])


rule eval_task:
    input:
        eval_task_inputs,
    output:
        "results/eval/tasks/{task}.jsonl",
    log:
        "logs/eval_task/{task}.log",
    localrule: True
    conda:
        "../envs/evaluate.yaml"
    params:
        spec=task_spec,
        num_fewshot=lambda wildcards: eval_settings(wildcards.task)["num_fewshot"],
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
        max_samples={task: eval_settings(task)["max_samples"] for task in TASKS},
        max_new_tokens={task: eval_settings(task)["max_new_tokens"] for task in TASKS},
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
