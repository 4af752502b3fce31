from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/seeds.smk"
include: "rules/prompts.smk"
include: "rules/generate.smk"
include: "rules/web.smk"
include: "rules/curate.smk"
include: "rules/tokenize.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"


rule all:
    default_target: True
    input:
        final_targets(),
