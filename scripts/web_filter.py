import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import filter_job  # noqa: E402

filter_job(snakemake.input[0], snakemake.params.spec, snakemake.output.docs, snakemake.output.stats)
