import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.dedup import dedup_job  # noqa: E402

dedup_job(
    clean=list(snakemake.input.clean),
    dataset=list(snakemake.input.dataset),
    tables=[snakemake.output[0]],
    config_hash=snakemake.params.config_hash,
)
