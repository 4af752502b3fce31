import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.decontaminate import contamination_table_job  # noqa: E402

p = snakemake.params
contamination_table_job(
    removed=list(snakemake.input), tables=list(snakemake.output), groups=p.groups, benchmarks=p.benchmarks,
    config_hash=p.config_hash,
)
