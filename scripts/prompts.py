import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.prompt_shards import prompt_plan_job  # noqa: E402

p = snakemake.params
prompt_plan_job(
    source=p.source, seeds_path=snakemake.input.seeds, spec=p.spec, seed=p.seed,
    templates_dir=p.templates_dir, out_index=snakemake.output[0],
)
