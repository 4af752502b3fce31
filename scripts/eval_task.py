import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.benchsets import eval_task_job  # noqa: E402

p = snakemake.params
eval_task_job(spec=p.spec, task=snakemake.output[0], num_fewshot=p.num_fewshot, seed=p.seed)
