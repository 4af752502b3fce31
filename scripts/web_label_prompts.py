import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import label_prompts_job  # noqa: E402

label_prompts_job(
    snakemake.input.docs, snakemake.input.clusters, snakemake.params.spec, snakemake.params.seed, snakemake.output[0]
)
