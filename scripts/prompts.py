import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.prompts import prompts_job  # noqa: E402

p = snakemake.params
prompts_job(
    source=p.source,
    seeds_path=snakemake.input.seeds,
    spec=p.spec,
    audiences=p.audiences,
    seed=p.seed,
    templates_dir=p.templates_dir,
    out_shards=list(snakemake.output),
)
