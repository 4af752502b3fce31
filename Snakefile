import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from synthpedia.workflow import apply_preset, is_preset

# config.yaml is the embedded default, and --configfile files merge over it; a preset (a file with a
# top-level `preset:` block, e.g. config/cosmopedia.yaml) is complete: config.yaml is not read under
# it, except the top-level keys the preset names under `preset.shared`.
if is_preset(config):
    apply_preset(config, "config.yaml")
else:

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
include: "rules/plan.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
