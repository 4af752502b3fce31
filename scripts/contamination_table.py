import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.decontaminate import contamination_table_job  # noqa: E402

contamination_table_job(
    list(snakemake.input),
    snakemake.output[0],
    snakemake.params.decontamination,
    snakemake.params.config_hash,
)
